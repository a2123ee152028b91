"""Train the tiny scan model the tests use (tests/scan/fixtures/model.json, a few KB).

The first files of four SmartBugs Curated categories, chainml's Vyper contracts as negatives,
five shallow trees per category; seeded, so a rerun writes the same bytes (a test checks it
when SmartBugs Curated is present). Not a model to scan with: the real one is trained by
``chainml contracts train``.

    PYTHONPATH=src .venv/bin/python tests/scan/make_fixture_model.py [SMARTBUGS_DIR]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "model.json"
CATEGORIES = ("reentrancy", "unchecked_low_level_calls", "access_control", "arithmetic")
PER_CATEGORY = 10


def fixture_bytes(smartbugs_root: Path) -> bytes:
    """The fixture model trained on a subset of ``smartbugs_root``."""
    from chainml.scan.corpus import project_contracts, smartbugs
    from chainml.scan.groups import near_duplicate_groups
    from chainml.scan.train import fit

    entries = json.loads((smartbugs_root / "vulnerabilities.json").read_text())
    only = [
        path
        for category in CATEGORIES
        for path in [e["path"] for e in entries if e["path"].split("/")[1] == category][
            :PER_CATEGORY
        ]
    ]
    files = smartbugs(smartbugs_root, only) + project_contracts()
    groups = near_duplicate_groups([f.source for f in files], [f.group for f in files])
    return fit(files, groups, trees=5, seed=0, max_depth=4)


def main() -> None:
    from chainml.scan.trained import smartbugs_dir

    root = smartbugs_dir(Path(".chainml"), Path(sys.argv[1]) if len(sys.argv) > 1 else None)
    data = fixture_bytes(root)
    FIXTURE.parent.mkdir(exist_ok=True)
    FIXTURE.write_bytes(data)
    print(f"wrote {FIXTURE} ({len(data)} bytes)")


if __name__ == "__main__":
    main()

"""Slither on SmartBugs Curated, for the side-by-side in ``contract_scan.py``: findings per file.

Slither lives in its own virtual environment (it pins web3 < 8): ``SLITHER_VENV``, by default
``<data dir>/slither-venv``. No native solc is installed, so crytic-compile is pointed at
``solcjs_as_solc.py``. Results are cached per file (by content and version) in
``<data dir>/slither-results``: a full run takes tens of minutes on this machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from chainml.scan.comments import strip_solidity_comments
from chainml.scan.solc import installed_versions, node_modules, version_for
from chainml.scan.versions import format_version

#: Slither detector -> SmartBugs category (the mapping of the SmartBugs study, ICSE 2020)
DETECTORS = {
    "reentrancy-eth": "reentrancy",
    "reentrancy-no-eth": "reentrancy",
    "reentrancy-benign": "reentrancy",
    "reentrancy-events": "reentrancy",
    "reentrancy-unlimited-gas": "reentrancy",
    "suicidal": "access_control",
    "arbitrary-send": "access_control",
    "arbitrary-send-eth": "access_control",
    "tx-origin": "access_control",
    "controlled-delegatecall": "access_control",
    "controlled-array-length": "access_control",
    "protected-vars": "access_control",
    "unprotected-upgrade": "access_control",
    "unchecked-lowlevel": "unchecked_low_level_calls",
    "unchecked-send": "unchecked_low_level_calls",
    "calls-loop": "denial_of_service",
    "msg-value-loop": "denial_of_service",
    "weak-prng": "bad_randomness",
    "timestamp": "time_manipulation",
    "divide-before-multiply": "arithmetic",
    "incorrect-exp": "arithmetic",
    "uninitialized-state": "other",
    "uninitialized-storage": "other",
}


def slither_venv(data: Path) -> Path:
    """Where Slither's own virtual environment is."""
    return Path(os.environ.get("SLITHER_VENV", data / "slither-venv"))


def run_file(
    path: Path, data: Path, *, use_cache: bool = True, root: Path | None = None
) -> dict[str, object]:
    """Slither's categories and detector hits for one file (cached), or the reason it failed.

    With ``root`` (a package folder holding ``path``), Slither runs from there so relative
    imports resolve, and only findings in ``path`` itself count.
    """
    source = path.read_bytes()
    try:
        version = format_version(version_for(str(path), strip_solidity_comments(source)))
    except Exception as err:
        return {"ok": False, "error": str(err)[:300], "categories": [], "functions": {}}
    place = str(root).encode() if root else b""
    key = hashlib.sha256(source + version.encode() + place).hexdigest()[:24]
    cache = data / "slither-results" / f"{key}.json"
    if use_cache and cache.is_file():
        return dict(json.loads(cache.read_text()))
    env = dict(os.environ)
    here = Path(__file__).resolve().parent
    src = here.parent / "src" / "chainml" / "scan" / "solcjs_runner.js"
    env.update(
        CHAINML_NODE_MODULES=str(node_modules()),
        SOLCJS_VERSION=version,
        SOLCJS_RUNNER=str(src),
        SOLCJS_WRAPPER=str(node_modules() / f"solc-{format_version(max(installed_versions()))}"),
    )
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / path.name
        target.write_bytes(source)
        cwd, name = (str(root), path.relative_to(root).as_posix()) if root else (tmp, target.name)
        done = subprocess.run(
            [
                str(slither_venv(data) / "bin" / "slither"),
                name,
                "--solc",
                str(here / "solcjs_as_solc.py"),
                "--json",
                "-",
            ],
            cwd=cwd,
            env=env,
            capture_output=True,
            timeout=600,
            check=False,
        )
    try:
        answer = json.loads(done.stdout)
    except json.JSONDecodeError:
        answer = {"success": False, "error": done.stderr.decode(errors="replace")[-300:]}
    categories: set[str] = set()
    functions: dict[str, list[str]] = {}
    for hit in (answer.get("results") or {}).get("detectors", []) if answer.get("success") else []:
        category = DETECTORS.get(hit.get("check", ""))
        if category is None:
            continue
        categories.add(category)
        elements = hit.get("elements", [])
        if root and not any(
            e.get("source_mapping", {}).get("filename_relative") == name for e in elements
        ):
            continue  # a finding in an imported file, not in this one
        names = [e.get("name") for e in elements if e.get("type") == "function"]
        functions.setdefault(category, []).extend(str(n) for n in names)
    result = {
        "ok": bool(answer.get("success")),
        "error": None if answer.get("success") else _reason(answer, done.stderr),
        "categories": sorted(categories),
        "functions": functions,
        "version": version,
    }
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(result))
    return result


def _reason(answer: dict[str, object], stderr: bytes) -> str:
    """Slither's own error, or the last line of its traceback (it crashes on some files)."""
    if answer.get("error"):
        return str(answer["error"])[:300]
    lines = [x for x in stderr.decode(errors="replace").splitlines() if x and not x[0].isspace()]
    return lines[-1][:300] if lines else "no output"


if __name__ == "__main__":
    from chainml.config import load_settings

    root = Path(sys.argv[1])  # SmartBugs Curated; the venv and cache go in the data directory
    for entry in json.loads((root / "vulnerabilities.json").read_text()):
        r = run_file(root / entry["path"], load_settings().data_dir)
        print(entry["path"], r["ok"], r["categories"], flush=True)

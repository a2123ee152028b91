"""The labelled corpus: SmartBugs Curated; OpenZeppelin and our Vyper contracts as negatives.

Every source is stripped of comments before it is compiled. A unit's labels are the
categories annotated on a line inside it; a file's labels are all its annotations.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from chainml.errors import CompilationError
from chainml.scan.comments import strip_solidity_comments
from chainml.scan.extract import solidity_units
from chainml.scan.solc import SolcJob, compile_jobs, node_modules, version_for
from chainml.scan.units import Unit
from chainml.scan.versions import parse_version, pragmas, satisfies

OPENZEPPELIN = {"oz-2": "0.5.17", "oz-3": "0.6.12", "oz-4": "0.8.20", "oz-5": "0.8.20"}


@dataclass
class CorpusFile:
    """One source file of the corpus, its annotations and its units once compiled."""

    path: str
    group: str
    source: bytes
    #: (category, line) of every annotated vulnerability
    vulnerabilities: list[tuple[str, int]] = field(default_factory=list)
    units: list[Unit] = field(default_factory=list)
    error: str | None = None

    @property
    def categories(self) -> set[str]:
        """The categories annotated anywhere in the file."""
        return {c for c, _ in self.vulnerabilities}

    def unit_labels(self, unit: Unit) -> set[str]:
        """The categories annotated on a line of ``unit``."""
        return {c for c, line in self.vulnerabilities if unit.first_line <= line <= unit.last_line}


def smartbugs(root: Path, only: Collection[str] | None = None) -> list[CorpusFile]:
    """SmartBugs Curated, compiled (files needing a compiler not installed keep their error).

    ``only``: just these paths (as ``vulnerabilities.json`` names them).
    """
    entries = json.loads((root / "vulnerabilities.json").read_text())
    if only is not None:
        entries = [e for e in entries if e["path"] in only]
    files: list[CorpusFile] = []
    jobs: list[SolcJob] = []
    pending: list[CorpusFile] = []
    for entry in entries:
        stripped = strip_solidity_comments((root / entry["path"]).read_bytes())
        vulns = [
            (v["category"], int(line)) for v in entry["vulnerabilities"] for line in v["lines"]
        ]
        item = CorpusFile(entry["path"], entry["path"], stripped, vulns)
        files.append(item)
        try:
            jobs.append(SolcJob({entry["name"]: stripped}, version_for(entry["path"], stripped)))
            pending.append(item)
        except CompilationError as err:
            item.error = str(err)
    _compile_each(jobs, pending)
    return files


def _compile_each(jobs: list[SolcJob], items: list[CorpusFile]) -> None:
    try:
        outputs = compile_jobs(jobs)
    except CompilationError:
        outputs = []
    if outputs:
        for item, output in zip(items, outputs, strict=True):
            item.units = solidity_units(output)
        return
    for job, item in zip(jobs, items, strict=True):  # one failed: find which, keep the rest
        try:
            item.units = solidity_units(compile_jobs([job])[0])
        except CompilationError as err:
            item.error = str(err)


def openzeppelin(modules: Path | None = None) -> list[CorpusFile]:
    """The OpenZeppelin releases installed as ``oz-N`` aliases; mocks excluded."""
    root = modules or node_modules()
    files: list[CorpusFile] = []
    for alias, version in OPENZEPPELIN.items():
        base = root / alias
        if not base.is_dir():
            continue
        sources: dict[str, bytes] = {}
        for path in sorted(base.rglob("*.sol")):
            rel = path.relative_to(base).as_posix()
            if rel.startswith(("mocks/", "build/")):
                continue
            stripped = strip_solidity_comments(path.read_bytes())
            if all(satisfies(parse_version(version), r) for r in pragmas(stripped)):
                sources[f"@openzeppelin/contracts/{rel}"] = stripped
        output = compile_jobs([SolcJob(sources, parse_version(version))])[0]
        by_source: dict[str, list[Unit]] = {}
        for unit in solidity_units(output):
            by_source.setdefault(unit.source, []).append(unit)
        for name, src in sources.items():
            # one group per file name across releases: ERC20.sol in 3.x and 4.x are near-duplicates
            group = "oz:" + name.rsplit("/", 1)[-1]
            files.append(CorpusFile(f"{alias}/{name}", group, src, [], by_source.get(name, [])))
    return files


def project_contracts() -> list[CorpusFile]:
    """Chainml's own Vyper contracts (negatives)."""
    from chainml.scan.comments import strip_vyper_comments
    from chainml.scan.vyper_features import vyper_units

    base = Path(__file__).resolve().parent.parent / "contracts"
    files = []
    for path in sorted(base.glob("*.vy")):
        stripped = strip_vyper_comments(path.read_bytes())
        units = vyper_units(path.name, stripped, base)
        files.append(
            CorpusFile(f"chainml/{path.name}", f"chainml:{path.name}", stripped, [], units)
        )
    return files

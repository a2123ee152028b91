"""Scanning: a Solidity or Vyper file or folder, or the bytecode deployed at an address.

Sources are stripped of comments, compiled (solcjs by pragma, or the installed Vyper), cut
into units, and every unit is scored per category; a category at or above its threshold in
a unit is a finding naming the function and its lines.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from chainml.errors import CompilationError, InvalidInputError, NotFoundError
from chainml.scan.comments import strip_solidity_comments, strip_vyper_comments
from chainml.scan.extract import solidity_units
from chainml.scan.model import ScanModel, load_model
from chainml.scan.opcodes import bytecode_unit
from chainml.scan.report import FileScan, Finding, ScanReport
from chainml.scan.solc import SolcJob, compile_jobs, version_for
from chainml.scan.units import Unit
from chainml.scan.versions import format_version
from chainml.scan.vyper_features import vyper_units

if TYPE_CHECKING:
    from chainml.chain import Env

_SUFFIXES = (".sol", ".vy")


def scan_path(path: Path, *, model: ScanModel | None = None) -> ScanReport:
    """Scan a ``.sol``/``.vy`` file, or every such file under a folder.

    Files of one folder compile together (so relative imports resolve); a file that does
    not compile is reported in ``errors`` and the others are still scanned, unless it is
    the only one (then its error is raised).
    """
    started = time.perf_counter()
    model = model or load_model()
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix in _SUFFIXES and p.is_file())
        root = path
    elif path.is_file() and path.suffix in _SUFFIXES:
        files, root = [path], path.parent
    else:
        raise InvalidInputError(f"{path} is not a .sol or .vy file or a folder holding them")
    if not files:
        raise NotFoundError(f"no .sol or .vy file under {path}")
    scans, errors = _scan_files(files, root, model)
    if not scans and len(files) == 1:
        raise next(iter(errors.values()))
    return ScanReport(
        str(path),
        model.model_id,
        scans,
        time.perf_counter() - started,
        {name: str(err) for name, err in errors.items()},
    )


def scan_source(
    source: str | bytes, name: str = "Contract.sol", *, model: ScanModel | None = None
) -> ScanReport:
    """Scan one source given as text (``name``'s suffix picks the language)."""
    started = time.perf_counter()
    model = model or load_model()
    raw = source.encode() if isinstance(source, str) else source
    if name.endswith(".vy"):
        scans = [_vyper_scan(name, raw, None, model)]
    else:
        scans = _solidity_scans({name: strip_solidity_comments(raw)}, model)
    return ScanReport(name, model.model_id, scans, time.perf_counter() - started)


def scan_address(env: Env, address: str, *, model: ScanModel | None = None) -> ScanReport:
    """Scan the runtime bytecode deployed at ``address`` (no source: opcode features only)."""
    started = time.perf_counter()
    model = model or load_model()
    code = env.backend.code(address)
    if not code:
        raise NotFoundError(f"no contract code at {address}")
    unit = bytecode_unit(code, address)
    scan = FileScan(
        address, "evm-bytecode", "", hashlib.sha256(code).hexdigest(), _findings([unit], model), 1
    )
    return ScanReport(address, model.model_id, [scan], time.perf_counter() - started)


def _scan_files(
    files: Sequence[Path], root: Path, model: ScanModel
) -> tuple[list[FileScan], dict[str, Exception]]:
    scans: list[FileScan] = []
    errors: dict[str, Exception] = {}
    solidity = {}
    for path in files:
        name = path.relative_to(root).as_posix()
        try:
            raw = path.read_bytes()
        except OSError as err:
            errors[name] = InvalidInputError(f"cannot read {path}: {err}")
            continue
        if path.suffix == ".vy":
            try:
                scans.append(_vyper_scan(name, raw, path.parent, model))
            except CompilationError as err:
                errors[name] = err
        else:
            solidity[name] = strip_solidity_comments(raw)
    if solidity:
        try:
            scans.extend(_solidity_scans(solidity, model))
        except CompilationError:
            for name, src in solidity.items():  # one at a time, to keep the ones that compile
                try:
                    scans.extend(_solidity_scans({name: src}, model))
                except CompilationError as err:
                    errors[name] = err
    return sorted(scans, key=lambda s: s.name), errors


def _solidity_scans(sources: dict[str, bytes], model: ScanModel) -> list[FileScan]:
    """Compile sources together when one compiler fits them all, else one by one."""
    versions = {name: version_for(name, src) for name, src in sources.items()}
    groups: dict[tuple[int, int, int], dict[str, bytes]] = {}
    for name, src in sources.items():
        groups.setdefault(versions[name], {})[name] = src
    jobs = [SolcJob(srcs, version) for version, srcs in groups.items()]
    scans = []
    for job, output in zip(jobs, compile_jobs(jobs), strict=True):
        units = solidity_units(output)
        for name, src in job.sources.items():
            mine = [u for u in units if u.source == name]
            scans.append(
                FileScan(
                    name,
                    "solidity",
                    f"solc {format_version(job.version)}",
                    hashlib.sha256(src).hexdigest(),
                    _findings(mine, model),
                    len(mine),
                )
            )
    return scans


def _vyper_scan(name: str, raw: bytes, search: Path | None, model: ScanModel) -> FileScan:
    from chainml.chain.compiler import compiler_version

    stripped = strip_vyper_comments(raw)
    units = vyper_units(name, stripped, search)
    return FileScan(
        name,
        "vyper",
        f"vyper {compiler_version()}",
        hashlib.sha256(stripped).hexdigest(),
        _findings(units, model),
        len(units),
    )


def _findings(units: Sequence[Unit], model: ScanModel) -> list[Finding]:
    found = []
    for unit in units:
        for category, score in model.scores(unit.vector()).items():
            if score >= model.categories[category].threshold:
                found.append(
                    Finding(
                        category,
                        round(score, 4),
                        unit.contract,
                        unit.function,
                        unit.first_line,
                        unit.last_line,
                    )
                )
    return sorted(found, key=lambda f: (-f.score, f.contract, f.function))

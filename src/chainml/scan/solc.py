"""Compiling Solidity with solcjs: the npm releases installed as ``solc-X.Y.Z`` aliases.

Each release in ``node_modules/solc-X.Y.Z`` (``"solc-0.4.24": "npm:solc@0.4.24"`` in
package.json) is driven through standard JSON by ``solcjs_runner.js``; one node process
compiles every job of one version, since loading a compiler takes seconds.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chainml.errors import CompilationError
from chainml.scan.errors import UnknownCompilerVersionError
from chainml.scan.versions import Version, choose, format_version, parse_version, pragmas

_RUNNER = Path(__file__).with_name("solcjs_runner.js")
_TIMEOUT_S = 900
_OUTPUTS = ["ast", "evm.deployedBytecode.object", "evm.deployedBytecode.sourceMap"]


@dataclass(frozen=True)
class SolcJob:
    """Sources (name -> comment-free bytes) compiled together by one compiler version."""

    sources: Mapping[str, bytes]
    version: Version


@dataclass(frozen=True)
class SolcOutput:
    """What the compiler emitted for one job: ASTs, runtime bytecode and source maps."""

    job: SolcJob
    compiler: str
    asts: Mapping[str, dict[str, Any]]
    #: (source name, contract name) -> (runtime bytecode, its source map)
    runtime: Mapping[tuple[str, str], tuple[bytes, str]]
    warnings: tuple[str, ...]


def node_modules() -> Path:
    """The node_modules holding the solcjs releases.

    ``CHAINML_NODE_MODULES`` if set; else the first of: a ``node_modules`` beside a
    ``package.json`` above the working directory or this package, then ``NODE_PATH``'s
    entries, that holds a ``solc-X.Y.Z`` release (or, when none does, the first found).
    """
    override = os.environ.get("CHAINML_NODE_MODULES")
    if override:
        return Path(override)
    candidates = [
        parent / "node_modules"
        for start in (Path.cwd(), Path(__file__).resolve())
        for parent in (start, *start.parents)
        if (parent / "node_modules").is_dir() and (parent / "package.json").is_file()
    ]
    candidates += [Path(p) for p in os.environ.get("NODE_PATH", "").split(os.pathsep) if p]
    for candidate in candidates:
        if any(candidate.glob("solc-*/soljson.js")):
            return candidate
    return candidates[0] if candidates else Path.cwd() / "node_modules"


def installed_versions() -> list[Version]:
    """The solcjs releases installed, oldest first."""
    root = node_modules()
    found = []
    for entry in root.glob("solc-*") if root.is_dir() else []:
        if (entry / "soljson.js").is_file():
            try:
                found.append(parse_version(entry.name.removeprefix("solc-")))
            except ValueError:
                continue
    return sorted(found)


def version_for(name: str, source: bytes) -> Version:
    """The newest installed compiler meeting every ``pragma solidity`` of ``source``."""
    installed = installed_versions()
    requirements = pragmas(source) or [">=0.0.0"]
    version = choose(requirements, installed)
    if version is None:
        shown = [format_version(v) for v in installed]
        raise UnknownCompilerVersionError(name, " ".join(requirements), shown)
    return version


def compile_jobs(jobs: Sequence[SolcJob]) -> list[SolcOutput]:
    """Compile every job; one node process per compiler version. Order is kept."""
    node = shutil.which("node")
    if node is None:
        raise CompilationError("Solidity sources", "node is not installed (solcjs needs it)")
    installed = installed_versions()
    by_version: dict[Version, list[int]] = {}
    for index, job in enumerate(jobs):
        if job.version not in installed:
            shown = [format_version(v) for v in installed]
            raise UnknownCompilerVersionError(_names(job), format_version(job.version), shown)
        by_version.setdefault(job.version, []).append(index)
    results: dict[int, SolcOutput] = {}
    for version, indices in by_version.items():
        batch = [jobs[i] for i in indices]
        for index, output in zip(indices, _run(node, version, batch, installed), strict=True):
            results[index] = output
    return [results[i] for i in range(len(jobs))]


def _run(
    node: str, version: Version, jobs: list[SolcJob], installed: list[Version]
) -> list[SolcOutput]:
    root = node_modules()
    wrapper = root / f"solc-{format_version(max(installed))}"
    inputs = [_standard_input(job) for job in jobs]
    try:
        done = subprocess.run(
            [node, str(_RUNNER), str(root / f"solc-{format_version(version)}"), str(wrapper)],
            input=json.dumps(inputs).encode(),
            capture_output=True,
            timeout=_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as err:
        raise CompilationError(
            "Solidity sources", f"solcjs timed out after {_TIMEOUT_S} s"
        ) from err
    if done.returncode != 0:
        detail = done.stderr.decode(errors="replace")[-2000:]
        raise CompilationError("Solidity sources", f"solcjs failed: {detail}")
    answer = json.loads(done.stdout)
    return [
        _output(job, answer["version"], out)
        for job, out in zip(jobs, answer["outputs"], strict=True)
    ]


def _standard_input(job: SolcJob) -> dict[str, Any]:
    return {
        "language": "Solidity",
        "sources": {
            name: {"content": src.decode(errors="replace")} for name, src in job.sources.items()
        },
        "settings": {"outputSelection": {"*": {"*": _OUTPUTS[1:], "": ["ast"]}}},
    }


def _output(job: SolcJob, compiler: str, out: dict[str, Any]) -> SolcOutput:
    errors = [e for e in out.get("errors", []) if e.get("severity") == "error"]
    if errors:
        detail = "; ".join(
            str(e.get("formattedMessage", e.get("message")))[:400] for e in errors[:3]
        )
        raise CompilationError(_names(job), detail)
    asts = {name: s["ast"] for name, s in out.get("sources", {}).items() if "ast" in s}
    runtime: dict[tuple[str, str], tuple[bytes, str]] = {}
    for source_name, contracts in out.get("contracts", {}).items():
        for contract_name, data in contracts.items():
            deployed = data.get("evm", {}).get("deployedBytecode", {})
            code = deployed.get("object", "")
            # unlinked library placeholders (__$...$__) are not hex: zero them for disassembly
            clean = "".join(ch if ch in "0123456789abcdefABCDEF" else "0" for ch in code)
            runtime[(source_name, contract_name)] = (
                bytes.fromhex(clean),
                deployed.get("sourceMap", ""),
            )
    warnings = tuple(
        str(e.get("message", "")) for e in out.get("errors", []) if e.get("severity") != "error"
    )
    return SolcOutput(job, compiler, asts, runtime, warnings)


def _names(job: SolcJob) -> str:
    names = list(job.sources)
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")

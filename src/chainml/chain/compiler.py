"""Compiling Vyper contracts, cached by (source hash, compiler version, settings).

A second compile of the same source returns the cached artifact without starting the
compiler. The cache is derived data: a damaged entry is recompiled, never trusted.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from chainml import bounded_json
from chainml.errors import CompilationError, InvalidInputError
from chainml.files import write_atomic

_MAX_CACHE_BYTES = 64 << 20  # a compiled artifact with its ABI is well under a megabyte

EVM_VERSION = "prague"  # matches the embedded chain's fork and anvil's --hardfork


@dataclass(frozen=True)
class CompiledContract:
    """What deploying and calling a contract needs."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: bytes
    runtime_bytecode: bytes
    source_hash: str
    compiler_version: str
    #: True when this artifact was read from the cache instead of compiled now
    from_cache: bool = field(default=False, compare=False)


def compiler_version() -> str:
    """The installed Vyper version."""
    import vyper

    return str(vyper.__version__)


def compile_file(path: Path, cache_dir: Path | None = None) -> CompiledContract:
    """Compile a ``.vy`` file; sibling ``.vy``/``.vyi`` files may be imported by it."""
    try:
        source = path.read_text()
    except OSError as err:
        raise InvalidInputError(f"cannot read contract source {path}: {err}") from err
    siblings = sorted(p for p in path.parent.iterdir() if p.suffix in (".vy", ".vyi"))
    # Imports make the artifact depend on sibling sources too, so they enter the key.
    extra = b"".join(p.name.encode() + p.read_bytes() for p in siblings if p != path)
    return compile_source(source, path.stem, cache_dir, search_path=path.parent, extra_key=extra)


def compile_source(
    source: str,
    name: str,
    cache_dir: Path | None = None,
    *,
    search_path: Path | None = None,
    extra_key: bytes = b"",
) -> CompiledContract:
    """Compile Vyper ``source``; reuse ``cache_dir``'s artifact when the key matches."""
    version = compiler_version()
    digest = hashlib.sha256(
        b"\0".join([source.encode(), version.encode(), EVM_VERSION.encode(), extra_key])
    ).hexdigest()
    entry = cache_dir / f"{name}-{digest[:32]}.json" if cache_dir else None
    cached = _read_cache(entry) if entry is not None else None
    # an entry that contradicts its own key is damaged: recompile rather than trust it
    if cached is not None and (cached.source_hash, cached.compiler_version) == (digest, version):
        return replace(cached, from_cache=True)
    compiled = _compile(source, name, search_path, digest, version)
    if entry is not None:
        _write_cache(entry, compiled)
    return compiled


def _compile(
    source: str, name: str, search_path: Path | None, digest: str, version: str
) -> CompiledContract:
    import vyper
    from vyper.compiler.input_bundle import FilesystemInputBundle
    from vyper.compiler.settings import Settings
    from vyper.exceptions import VyperException

    bundle = FilesystemInputBundle([search_path or Path.cwd()])
    try:
        out = vyper.compile_code(
            source,
            contract_path=f"{name}.vy",
            input_bundle=bundle,
            settings=Settings(evm_version=EVM_VERSION),
            output_formats=["abi", "bytecode", "bytecode_runtime"],
        )
    except VyperException as err:
        raise CompilationError(name, str(err)) from err
    return CompiledContract(
        name=name,
        abi=out["abi"],
        bytecode=bytes.fromhex(out["bytecode"].removeprefix("0x")),
        runtime_bytecode=bytes.fromhex(out["bytecode_runtime"].removeprefix("0x")),
        source_hash=digest,
        compiler_version=version,
    )


def _read_cache(entry: Path) -> CompiledContract | None:
    try:
        data = bounded_json.loads(entry.read_bytes(), what=entry.name, max_bytes=_MAX_CACHE_BYTES)
        return CompiledContract(
            name=data["name"],
            abi=data["abi"],
            bytecode=bytes.fromhex(data["bytecode"]),
            runtime_bytecode=bytes.fromhex(data["runtime_bytecode"]),
            source_hash=data["source_hash"],
            compiler_version=data["compiler_version"],
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None  # missing or damaged: recompile


def _write_cache(entry: Path, compiled: CompiledContract) -> None:
    """Store ``compiled``; a cache that cannot be written (a read-only data directory) is skipped.

    Compiling again next time is the only cost.
    """
    document = {
        "name": compiled.name,
        "abi": compiled.abi,
        "bytecode": compiled.bytecode.hex(),
        "runtime_bytecode": compiled.runtime_bytecode.hex(),
        "source_hash": compiled.source_hash,
        "compiler_version": compiled.compiler_version,
    }
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(entry, json.dumps(document))  # a reader never sees half a file
    except OSError:
        pass  # a cache that cannot be written is only a slower next compile

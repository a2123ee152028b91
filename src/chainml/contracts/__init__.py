"""chainml's Vyper contracts, one per file, and a loader that compiles them with caching."""

from __future__ import annotations

from pathlib import Path

from chainml.chain.compiler import CompiledContract, compile_file
from chainml.errors import NotFoundError

CONTRACTS_DIR = Path(__file__).parent


def names() -> list[str]:
    """Names of the contracts shipped with chainml."""
    return sorted(p.stem for p in CONTRACTS_DIR.glob("*.vy"))


def source_path(name: str) -> Path:
    """Path of the Vyper source of contract ``name``."""
    path = CONTRACTS_DIR / f"{name}.vy"
    if not path.is_file():
        raise NotFoundError(f"no contract named {name!r}; chainml ships {', '.join(names())}")
    return path


def load(name: str, cache_dir: Path | None = None) -> CompiledContract:
    """Compile contract ``name`` (or take it from ``cache_dir``)."""
    return compile_file(source_path(name), cache_dir)

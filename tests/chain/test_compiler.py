"""Tests of chainml.chain.compiler and chainml.contracts: Vyper compiles, cached by source hash."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import vyper

from chainml import contracts
from chainml.chain.compiler import CompiledContract, compile_file, compile_source
from chainml.errors import CompilationError, InvalidInputError, NotFoundError

LIB = "@internal\n@pure\ndef one() -> uint256:\n    return 1\n"
MAIN = "import lib\n\n@external\n@pure\ndef f() -> uint256:\n    return lib.one()\n"
TINY = "@external\n@pure\ndef g() -> uint256:\n    return 7\n"


class CompilerCalledError(Exception):
    """Raised by the stand-in compiler: the cache was not used."""


@pytest.fixture
def no_compiler(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any call of the Vyper compiler fail loudly."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise CompilerCalledError

    monkeypatch.setattr(vyper, "compile_code", refuse)


@pytest.fixture
def compile_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Count calls of the real Vyper compiler."""
    real = vyper.compile_code
    calls: list[str] = []

    def counting(source: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs.get("contract_path", ""))
        return real(source, *args, **kwargs)

    monkeypatch.setattr(vyper, "compile_code", counting)
    return calls


@pytest.fixture(scope="module")
def counter_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("vyper-cache")


@pytest.fixture(scope="module")
def counter(counter_cache: Path) -> CompiledContract:
    """Counter, compiled once for the module into ``counter_cache``."""
    return contracts.load("Counter", counter_cache)


def cache_entries(cache_dir: Path) -> list[Path]:
    return sorted(cache_dir.glob("*.json"))


# ---------------------------------------------------------------------------------------------
# compiling


def test_counter_compiles(counter: CompiledContract) -> None:
    functions = {item["name"] for item in counter.abi if item["type"] == "function"}
    assert {"increment", "add", "reset", "count", "owner"} <= functions
    events = {item["name"] for item in counter.abi if item["type"] == "event"}
    assert events == {"Incremented"}
    assert counter.name == "Counter"
    assert isinstance(counter.bytecode, bytes)
    assert len(counter.bytecode) > 0
    assert len(counter.runtime_bytecode) > 0
    assert counter.bytecode != counter.runtime_bytecode  # the init code wraps the runtime
    assert counter.compiler_version == vyper.__version__
    assert len(counter.source_hash) == 64


def test_counter_is_written_to_the_cache(counter: CompiledContract, counter_cache: Path) -> None:
    entries = [p for p in cache_entries(counter_cache) if p.name.startswith("Counter-")]
    assert len(entries) == 1
    document = json.loads(entries[0].read_text())
    assert bytes.fromhex(document["bytecode"]) == counter.bytecode
    assert document["source_hash"] == counter.source_hash
    assert counter.source_hash[:32] in entries[0].name
    assert not list(counter_cache.glob("*.tmp"))  # no leftovers of the atomic write


def test_second_compile_uses_the_cache(
    counter: CompiledContract, counter_cache: Path, no_compiler: None
) -> None:
    again = contracts.load("Counter", counter_cache)
    assert again == counter
    assert again.bytecode == counter.bytecode


def test_without_cache_dir_the_compiler_runs(no_compiler: None) -> None:
    with pytest.raises(CompilerCalledError):
        contracts.load("Counter")


def test_compile_is_deterministic(counter: CompiledContract, tmp_path: Path) -> None:
    fresh = contracts.load("Counter", tmp_path)
    assert fresh == counter


def test_changed_source_gets_a_new_entry(tmp_path: Path, compile_calls: list[str]) -> None:
    first = compile_source(TINY, "Tiny", tmp_path)
    changed = compile_source(TINY.replace("7", "8"), "Tiny", tmp_path)
    assert len(compile_calls) == 2
    assert first.source_hash != changed.source_hash
    assert first.runtime_bytecode != changed.runtime_bytecode
    assert len(cache_entries(tmp_path)) == 2
    # both stay cached
    compile_source(TINY, "Tiny", tmp_path)
    compile_source(TINY.replace("7", "8"), "Tiny", tmp_path)
    assert len(compile_calls) == 2


@pytest.mark.parametrize(
    "damage",
    [
        b"",
        b'{"name": "Tiny", "abi": [',
        b"garbage \x00\xff not json",
        b'{"name": "Tiny"}',
        b'{"name": "Tiny", "abi": [], "bytecode": "zz", "runtime_bytecode": "", '
        b'"source_hash": "x", "compiler_version": "0"}',
        b"[]",
    ],
    ids=["empty", "truncated", "garbage", "missing-fields", "bad-hex", "wrong-shape"],
)
def test_damaged_cache_entry_is_recompiled_and_repaired(
    tmp_path: Path, compile_calls: list[str], damage: bytes
) -> None:
    good = compile_source(TINY, "Tiny", tmp_path)
    (entry,) = cache_entries(tmp_path)
    intact = json.loads(entry.read_text())
    entry.write_bytes(damage)

    again = compile_source(TINY, "Tiny", tmp_path)
    assert len(compile_calls) == 2  # recompiled, not trusted
    assert again == good
    assert json.loads(entry.read_text()) == intact  # repaired
    assert cache_entries(tmp_path) == [entry]

    compile_source(TINY, "Tiny", tmp_path)
    assert len(compile_calls) == 2  # and trusted again once repaired


def test_entry_contradicting_its_key_is_not_trusted(
    tmp_path: Path, compile_calls: list[str]
) -> None:
    good = compile_source(TINY, "Tiny", tmp_path)
    (entry,) = cache_entries(tmp_path)
    document = json.loads(entry.read_text())
    document.update(
        source_hash="0" * 64, compiler_version="0.0.0", bytecode="fe", runtime_bytecode="fe"
    )
    entry.write_text(json.dumps(document))
    again = compile_source(TINY, "Tiny", tmp_path)
    assert again == good


def test_syntax_error_names_the_contract(tmp_path: Path) -> None:
    with pytest.raises(CompilationError) as info:
        compile_source("def broken(:\n", "Broken", tmp_path)
    assert info.value.source_name == "Broken"
    assert "Broken" in str(info.value)
    assert info.value.detail
    assert isinstance(info.value, InvalidInputError)
    assert isinstance(info.value.__cause__, vyper.exceptions.VyperException)
    assert cache_entries(tmp_path) == []  # failures are not cached


def test_type_error_is_a_compilation_error(tmp_path: Path) -> None:
    source = "@external\ndef f() -> uint256:\n    return True\n"
    with pytest.raises(CompilationError, match="Typed"):
        compile_source(source, "Typed", tmp_path)


def test_missing_source_file_is_invalid_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="cannot read"):
        compile_file(tmp_path / "Absent.vy", tmp_path)


# ---------------------------------------------------------------------------------------------
# compile_file and sibling sources


@pytest.fixture
def project(tmp_path: Path) -> Path:
    source_dir = tmp_path / "src"
    source_dir.mkdir()
    (source_dir / "lib.vy").write_text(LIB)
    (source_dir / "Main.vy").write_text(MAIN)
    return source_dir


def test_compile_file_imports_a_sibling(project: Path, tmp_path: Path) -> None:
    compiled = compile_file(project / "Main.vy", tmp_path / "cache")
    assert compiled.name == "Main"
    assert [item["name"] for item in compiled.abi] == ["f"]


def test_sibling_change_changes_the_cache_key(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    first = compile_file(project / "Main.vy", cache)
    assert len(cache_entries(cache)) == 1

    # an unrelated, non-Vyper file does not invalidate the cache
    (project / "README.txt").write_text("notes")
    with monkeypatch.context() as patch:
        patch.setattr(vyper, "compile_code", _refuse)
        assert compile_file(project / "Main.vy", cache) == first

    (project / "lib.vy").write_text(LIB.replace("return 1", "return 2"))
    second = compile_file(project / "Main.vy", cache)
    assert second.source_hash != first.source_hash
    assert second.runtime_bytecode != first.runtime_bytecode  # the import really changed
    assert len(cache_entries(cache)) == 2


def test_new_sibling_interface_changes_the_cache_key(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    compile_file(project / "Main.vy", cache)
    (project / "IThing.vyi").write_text("@external\ndef thing() -> uint256:\n    ...\n")
    monkeypatch.setattr(vyper, "compile_code", _refuse)
    with pytest.raises(CompilerCalledError):
        compile_file(project / "Main.vy", cache)


def _refuse(*args: Any, **kwargs: Any) -> Any:
    raise CompilerCalledError


# ---------------------------------------------------------------------------------------------
# chainml.contracts


def test_shipped_contracts_include_counter() -> None:
    names = contracts.names()
    assert "Counter" in names
    assert names == sorted(names)
    assert contracts.source_path("Counter").read_text().startswith("# pragma version")


def test_unknown_contract_lists_the_shipped_ones(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError) as info:
        contracts.load("Nope", tmp_path)
    message = str(info.value)
    assert "'Nope'" in message
    for name in contracts.names():
        assert name in message
    assert isinstance(info.value, LookupError)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["Counter.vy", "counter", ""])
def test_odd_contract_names_are_not_found(name: str) -> None:
    with pytest.raises(NotFoundError):
        contracts.source_path(name)


def test_a_cache_that_cannot_be_written_is_skipped(tmp_path: Path) -> None:
    """As in a read-only data directory: compiling works, nothing is cached, no error."""
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the cache directory would go")
    compiled = contracts.load("Counter", blocked / "vyper")
    assert compiled.runtime_bytecode and not compiled.from_cache
    assert blocked.read_text() == "a file where the cache directory would go"

"""Compilation paths: solcjs 0.4.x (range, exact pragma), 0.5.x, 0.8.x, Vyper; unknown versions."""

from __future__ import annotations

import pytest

from chainml.errors import CompilationError, InvalidInputError
from chainml.scan import UnknownCompilerVersionError
from chainml.scan.comments import strip_solidity_comments
from chainml.scan.extract import solidity_units
from chainml.scan.solc import SolcJob, compile_jobs, installed_versions, version_for
from chainml.scan.versions import choose, satisfies
from chainml.scan.vyper_features import vyper_units
from tests.scan.contracts import BANK_04, COUNTER_VY, EXACT_0424, TOKEN_05, VAULT_08


def test_pragma_ranges_pick_the_newest_fitting_release() -> None:
    installed = [(0, 4, 24), (0, 4, 26), (0, 5, 17), (0, 6, 12), (0, 8, 20)]
    assert choose(["^0.4.19"], installed) == (0, 4, 26)
    assert choose(["0.4.24"], installed) == (0, 4, 24)
    assert choose([">=0.6.0 <0.8.0"], installed) == (0, 6, 12)
    assert choose(["^0.8.0"], installed) == (0, 8, 20)
    assert choose(["0.4.9"], installed) is None
    assert satisfies((0, 5, 17), ">=0.4.22 <0.6.0") and not satisfies((0, 6, 0), "^0.5.0")


def test_each_compiler_line_compiles_and_yields_units() -> None:
    sources = {
        "Bank.sol": BANK_04,
        "Owned.sol": EXACT_0424,
        "Token.sol": TOKEN_05,
        "Vault.sol": VAULT_08,
    }
    jobs = []
    for name, text in sources.items():
        stripped = strip_solidity_comments(text.encode())
        jobs.append(SolcJob({name: stripped}, version_for(name, stripped)))
    assert [j.version for j in jobs] == [(0, 4, 26), (0, 4, 24), (0, 5, 17), (0, 8, 20)]
    outputs = compile_jobs(jobs)
    assert [o.compiler.split("+")[0] for o in outputs] == ["0.4.26", "0.4.24", "0.5.17", "0.8.20"]
    units = {o.job.version: {u.function: u for u in solidity_units(o)} for o in outputs}
    bank = units[(0, 4, 26)]["withdraw"]
    assert bank.features["value_call_before_write"] == 1 and bank.features["op_call"] >= 1
    owned = units[(0, 4, 24)]
    assert (
        owned["kill"].features["tx_origin_check"] == 1
        and owned["kill"].features["selfdestruct"] == 1
    )
    assert (
        owned["constructor"].features["is_constructor"] == 1
    )  # old style: named like the contract
    assert units[(0, 5, 17)]["transfer"].features["arith_unchecked"] == 2  # no checks before 0.8
    vault = units[(0, 8, 20)]
    assert vault["sum"].features["arith_unchecked"] == 1  # only the unchecked block counts
    assert vault["deposit"].features.get("arith_unchecked", 0) == 0
    assert (
        vault["withdraw"].features.get("value_call_before_write", 0) == 0
    )  # checks-effects-interactions
    assert vault["withdraw"].features["ll_call_value"] == 1


def test_vyper_compiles_with_the_installed_compiler() -> None:
    units = {u.function: u for u in vyper_units("Counter.vy", COUNTER_VY.encode())}
    assert set(units) == {"__init__", "bump"}
    assert units["bump"].features["has_sender_check"] == 1 and units["bump"].features["vyper"] == 1


def test_an_unknown_compiler_version_is_a_clear_typed_error() -> None:
    source = b"pragma solidity 0.4.9;\ncontract Old {}\n"
    with pytest.raises(UnknownCompilerVersionError) as raised:
        version_for("Old.sol", source)
    err = raised.value
    assert isinstance(err, CompilationError) and isinstance(err, InvalidInputError)
    assert err.exit_code == 2 and err.requirement == "0.4.9"
    assert "0.4.9" in str(err) and "npm:solc@X.Y.Z" in str(err)
    assert (0, 4, 26) in installed_versions()
    with pytest.raises(UnknownCompilerVersionError):
        compile_jobs([SolcJob({"Old.sol": source}, (0, 4, 9))])

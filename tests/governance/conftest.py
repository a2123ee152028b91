"""Fixtures for the governance tests: compiled contracts and block-steering helpers."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from chainml import contracts
from chainml.chain import CompiledContract, Env
from chainml.errors import ContractRevertError

ZERO_ADDRESS = "0x" + "00" * 20


@pytest.fixture(scope="session")
def governor_code(tmp_path_factory: pytest.TempPathFactory) -> CompiledContract:
    return contracts.load("Governor", tmp_path_factory.mktemp("vyper-governor"))


@pytest.fixture(scope="session")
def registry_code(tmp_path_factory: pytest.TempPathFactory) -> CompiledContract:
    return contracts.load("ModelRegistry", tmp_path_factory.mktemp("vyper-registry"))


@pytest.fixture(scope="session")
def counter_code(tmp_path_factory: pytest.TempPathFactory) -> CompiledContract:
    return contracts.load("Counter", tmp_path_factory.mktemp("vyper-counter"))


def mine_to(env: Env, block: int) -> None:
    """Mine until the latest block is ``block``: the next transaction lands in ``block + 1``.

    Reading the block number seals the embedded chain's open block, so on both backends the
    next transaction goes into the block after the latest one.
    """
    latest = env.block_number
    assert latest <= block, f"already at block {latest}, past {block}"
    env.mine(block - latest)
    assert env.block_number == block


def revert_reason(action: Callable[[], object]) -> str | None:
    with pytest.raises(ContractRevertError) as info:
        action()
    return info.value.reason


def model_id(n: int) -> bytes:
    """A distinct, non-zero 32-byte id."""
    return n.to_bytes(32, "big")

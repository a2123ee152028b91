"""Fixtures for the guarded-token tests: a token whose governor and registry are plain accounts.

The governor is the Env's first account (an EOA), so approving and setting models takes one
transaction each; the full Governor path has its own test. The reviewer is the second account.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from chainml.apps.guard import GuardedToken
from chainml.chain import CompiledContract, Contract, Env
from chainml.chain.accounts import Signer
from chainml.governance import ModelRegistry
from tests.apps.mock_models import SOURCES, compile_mock

USE = "fraud-screening"
TIMEOUT = 3_600


@pytest.fixture(scope="session")
def mocks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, CompiledContract]:
    cache = tmp_path_factory.mktemp("vyper-mocks")
    return {name: compile_mock(name, cache) for name in SOURCES}


@dataclass
class Guard:
    """A deployed token, its registry (governed by ``governor``) and the roles."""

    env: Env
    token: GuardedToken
    registry: ModelRegistry
    governor: str
    reviewer: str
    mocks: dict[str, CompiledContract]
    next_model: int = 1

    def model(self, name: str, *args: object) -> Contract:
        """Deploy mock model ``name``."""
        return self.env.deploy(self.mocks[name], *args)

    def approve(self, contract: Contract, use: str = USE) -> bytes:
        """Register, attach and approve ``contract`` as a new model; return its id."""
        model_id = self.next_model.to_bytes(32, "big")
        self.next_model += 1
        self.registry.register(model_id, b"\x01" * 32, b"\x02" * 32, "test://model")
        self.registry.attach_contract(model_id, contract.address)
        replaces = self.registry.contract.approved_model(use)  # what the approval replaces
        self.registry.contract.transact(
            "approve", model_id, use, replaces, self.env.sender, contract.address,
            sender=self.governor,
        )  # fmt: skip
        return model_id

    def install(self, contract: Contract, threshold: int) -> bytes:
        """Approve ``contract`` and make the token screen with it."""
        model_id = self.approve(contract)
        self.token.contract.transact(
            "set_model", model_id, contract.address, threshold, sender=self.governor
        )
        return model_id


@pytest.fixture
def guard(env: Env, mocks: dict[str, CompiledContract]) -> Guard:
    governor, reviewer = env.accounts[:2]
    registry = ModelRegistry.deploy(env, governor)
    token = GuardedToken.deploy(
        env, governor=governor, registry=registry.address, reviewer=reviewer, timeout=TIMEOUT
    )
    return Guard(env, token, registry, governor, reviewer, mocks)


def extra_accounts(env: Env, count: int, tag: int = 7) -> tuple[Env, list[str]]:
    """An Env signing for ``count`` fresh accounts funded with ETH by ``env``'s sender."""
    signers = [Signer(bytes([tag]) * 31 + bytes([i + 1])) for i in range(count)]
    for signer in signers:
        env.transact(signer.address, value=10**17, gas=21_000)
    return Env(env.backend, signers, data_dir=env.data_dir), [s.address for s in signers]


def cache_dir(env: Env) -> Path | None:
    return env.data_dir / "cache" / "vyper" if env.data_dir else None

"""Shared fixtures: one Env per backend (embedded, anvil), reverted around every test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chainml.chain import Env
from chainml.chain.accounts import Signer
from chainml.chain.devnode import ANVIL_DEV_KEY, AnvilNode
from chainml.chain.embedded import EmbeddedBackend
from chainml.chain.rpc import RpcBackend

# anvil's second well-known development key (public, from its default mnemonic)
ANVIL_SECOND_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"


@pytest.fixture(scope="session")
def anvil_node() -> Iterator[AnvilNode]:
    """One anvil for the whole session, on a free loopback port, stopped by its PID."""
    with AnvilNode() as node:
        yield node


@pytest.fixture(scope="session")
def embedded_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    backend = EmbeddedBackend(tmp_path_factory.mktemp("embedded") / "chain")
    with Env(backend, backend.signers, data_dir=backend.data_dir) as env:
        yield env


@pytest.fixture(scope="session")
def anvil_env(anvil_node: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    signers = [Signer(bytes.fromhex(k[2:])) for k in (ANVIL_DEV_KEY, ANVIL_SECOND_KEY)]
    data_dir = tmp_path_factory.mktemp("anvil-data")
    with Env(RpcBackend(anvil_node.url), signers, data_dir=data_dir) as env:
        yield env


@pytest.fixture(
    params=["embedded", pytest.param("anvil", marks=pytest.mark.integration)],
)
def env(request: pytest.FixtureRequest) -> Iterator[Env]:
    """The Env under test, on each backend in turn; chain state is reverted afterwards."""
    chosen: Env = request.getfixturevalue(f"{request.param}_env")
    with chosen.snapshot():
        yield chosen


@pytest.fixture
def fresh_dir(tmp_path: Path) -> Path:
    """A data directory path that does not exist yet (its parent does)."""
    return tmp_path / "chain"

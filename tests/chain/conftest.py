"""The chain tests also run on a third backend: the embedded chain served over JSON-RPC."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chainml.chain import Env
from chainml.chain.embedded import EmbeddedBackend
from chainml.chain.rpc import RpcBackend


@pytest.fixture(scope="session")
def served_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """An embedded chain served on loopback by this process, used through ``RpcBackend``."""
    owner = EmbeddedBackend(tmp_path_factory.mktemp("served") / "chain")
    try:
        url = owner.serve()
        with Env(RpcBackend(url), owner.signers, data_dir=owner.data_dir) as env:
            yield env
    finally:
        owner.close()


@pytest.fixture(
    params=["embedded", "served", pytest.param("anvil", marks=pytest.mark.integration)],
)
def env(request: pytest.FixtureRequest) -> Iterator[Env]:
    """The Env under test, on each backend in turn; chain state is reverted afterwards."""
    chosen: Env = request.getfixturevalue(f"{request.param}_env")
    with chosen.snapshot():
        yield chosen

"""The rpc backend's boundary: unreachable nodes, wrong chains, secrets, keystores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_account import Account

from chainml.chain import connect
from chainml.chain.devnode import ANVIL_DEV_KEY, AnvilNode, free_port
from chainml.chain.rpc import RpcBackend, redact_url
from chainml.config import Secret, Settings
from chainml.errors import (
    ChainUnavailableError,
    InvalidInputError,
    WrongChainIdError,
)


def test_unreachable_node_names_the_url_with_a_hint() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ChainUnavailableError) as info:
        RpcBackend(url, timeout=2)
    assert info.value.url == url
    assert url in str(info.value) and "Hint" in str(info.value)
    assert info.value.exit_code == 4


def test_not_an_http_url() -> None:
    with pytest.raises(InvalidInputError, match="http"):
        RpcBackend("ws://127.0.0.1:8545")


def test_credentials_and_query_never_shown() -> None:
    url = "https://user:hunter2@node.example:8545/v3/path?apikey=s3cret"
    assert redact_url(url) == "https://node.example:8545/v3/path"
    port = free_port()
    with pytest.raises(ChainUnavailableError) as info:
        RpcBackend(f"http://user:hunter2@127.0.0.1:{port}/?key=s3cret", timeout=2)
    assert "hunter2" not in str(info.value) and "s3cret" not in str(info.value)


@pytest.mark.integration
def test_without_a_key_the_env_is_read_only(tmp_path: Path, anvil_node: AnvilNode) -> None:
    with connect(Settings(data_dir=tmp_path / "d", rpc=anvil_node.url)) as env:
        assert env.read_only and env.accounts == []
        assert env.block_number >= 0  # reading works
        with pytest.raises(InvalidInputError, match="CHAINML_PRIVATE_KEY"):
            env.transact("0x" + "11" * 20, value=1)


@pytest.mark.integration
class TestAgainstAnvil:
    def test_wrong_chain_id_is_refused_at_connect(self, anvil_node: AnvilNode) -> None:
        with pytest.raises(WrongChainIdError) as info:
            RpcBackend(anvil_node.url, expected_chain_id=1)
        assert (info.value.expected, info.value.actual) == (1, 31337)

    def test_private_key_from_settings_never_in_repr(self, anvil_node, tmp_path: Path) -> None:
        settings = Settings(
            data_dir=tmp_path / "d", rpc=anvil_node.url, private_key=Secret(ANVIL_DEV_KEY)
        )
        with connect(settings) as env:
            assert env.sender == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
            for text in (repr(env), repr(settings), repr(env.backend), str(settings)):
                assert ANVIL_DEV_KEY[2:] not in text

    def test_keystore(self, anvil_node: AnvilNode, tmp_path: Path) -> None:
        keystore = tmp_path / "key.json"
        keystore.write_text(json.dumps(Account.encrypt(ANVIL_DEV_KEY, "correct horse")))
        settings = Settings(
            data_dir=tmp_path / "d",
            rpc=anvil_node.url,
            keystore=keystore,
            keystore_password=Secret("correct horse"),
        )
        with connect(settings) as env:
            assert env.sender == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
            env.transact(env.sender, value=1)  # it can sign
        wrong = Settings(
            data_dir=tmp_path / "d",
            rpc=anvil_node.url,
            keystore=keystore,
            keystore_password=Secret("wrong"),
        )
        with pytest.raises(InvalidInputError, match="wrong password"):
            connect(wrong)

    def test_node_that_goes_away(self, tmp_path: Path) -> None:
        node = AnvilNode()
        backend = RpcBackend(node.url)
        assert backend.block().number == 0
        node.stop()
        with pytest.raises(ChainUnavailableError) as info:
            backend.block()
        assert info.value.url == node.url

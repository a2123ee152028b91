"""Network presets: the chain id they pin is checked against the node; settings and CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from chainml.chain import connect
from chainml.chain.devnode import AnvilNode
from chainml.chain.networks import NETWORKS, apply_network, network_preset, preset_for_chain
from chainml.config import Settings, load_settings
from chainml.errors import InvalidInputError, WrongChainIdError


def test_a_preset_fills_what_is_unset_and_explicit_settings_win() -> None:
    base = apply_network(Settings(network="base"))
    assert (base.chain_id, base.confirmations) == (8453, 30)
    assert apply_network(Settings(network="base", confirmations=3)).confirmations == 3
    assert apply_network(Settings(chain_id=7)) == Settings(chain_id=7)  # no preset: unchanged


def test_a_chain_id_that_contradicts_the_preset_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="'optimism' is chain id 10"):
        apply_network(Settings(network="optimism", chain_id=8453))


def test_an_unknown_network_lists_the_known_ones() -> None:
    with pytest.raises(InvalidInputError, match="arbitrum-sepolia, base, base-sepolia"):
        Settings(network="basee")
    with pytest.raises(InvalidInputError, match="known networks"):
        load_settings({"CHAINML_NETWORK": "mainet"}, Path("/nonexistent.toml"))


def test_the_table_is_consistent() -> None:
    ids = [preset.chain_id for preset in NETWORKS.values()]
    assert len(ids) == len(set(ids))  # one preset per chain
    assert network_preset("Base-Sepolia").chain_id == 84532  # names are case-insensitive
    assert preset_for_chain(42161) is network_preset("arbitrum")
    assert {p.data_fee for p in NETWORKS.values()} == {None, "op-stack", "arbitrum"}
    assert network_preset("optimism").tx_url(b"\x01" * 32) == (
        "https://optimistic.etherscan.io/tx/0x" + "01" * 32
    )
    assert all(p.explorer.startswith("https://") for p in NETWORKS.values())


def test_settings_take_several_urls_and_the_failover_knobs(tmp_path: Path) -> None:
    toml = tmp_path / "chainml.toml"
    toml.write_text(
        'rpc = ["http://a:1", "http://b:2"]\nnetwork = "sepolia"\nrpc_max_lag_blocks = 4\n'
    )
    settings = load_settings({"CHAINML_RPC_HEALTH_INTERVAL": "2.5"}, toml)
    assert settings.rpc == "http://a:1,http://b:2" and settings.network == "sepolia"
    assert (settings.rpc_max_lag_blocks, settings.rpc_health_interval) == (4, 2.5)
    with pytest.raises(InvalidInputError, match="rpc_health_interval"):
        Settings(rpc_health_interval=0)


def test_a_preset_without_node_urls_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="give its node URLs with --rpc"):
        connect(Settings(data_dir=tmp_path / "d", network="sepolia"))
    assert not (tmp_path / "d").exists()  # refused before the embedded chain was created


@pytest.mark.integration
def test_a_node_of_another_chain_than_the_preset_is_refused(
    tmp_path: Path, anvil_node: AnvilNode
) -> None:
    settings = Settings(data_dir=tmp_path / "d", rpc=anvil_node.url, network="base")
    with pytest.raises(WrongChainIdError) as info:
        connect(settings)
    assert (info.value.expected, info.value.actual) == (8453, 31337)
    assert info.value.exit_code == 5

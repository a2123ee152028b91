"""Network presets: what chainml should assume about a named public chain (no endpoints).

``--network base`` (or ``CHAINML_NETWORK`` / ``network = "base"`` in chainml.toml) pins the
chain id the node must serve (:class:`~chainml.errors.WrongChainIdError` otherwise), the
confirmations before an anchor is final, fee-policy defaults, whether transactions pay an
L1 data fee (and how the node reports it), and the block explorer for links. Endpoints are
never shipped: the operator supplies the URLs (``--rpc``), so no provider is preferred and no
key is implied. Explicit settings (``CHAINML_CHAIN_ID``, ``CHAINML_CONFIRMATIONS``) win over
a preset; a chain id that contradicts the preset is refused rather than guessed at.

Sources of the values, checked December 2026:
chain ids — https://chainlist.org and each chain's docs (EIP-155 registry,
ethereum-lists/chains); block times and finality — ethereum.org "proof-of-stake" (12 s slots,
finality after two epochs = 64 slots), docs.optimism.io "transaction finality" (2 s blocks;
the same on Base, an OP-stack chain), docs.arbitrum.io "block numbers and time" (~0.25 s
blocks), docs.polygon.technology "PoS finality" (~2 s blocks, milestones); fees —
docs.optimism.io "transaction fees" (L1 data fee in the receipt's ``l1Fee``; GasPriceOracle
predeploy at 0x420000000000000000000000000000000000000F), docs.arbitrum.io "gas and fees"
(L1 cost charged as extra L2 gas, ``gasUsedForL1`` in the receipt; no priority fee),
Polygon PIP-27 / the Bor minimum of 25 gwei priority fee (``--miner.gasprice``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from chainml.errors import InvalidInputError

if TYPE_CHECKING:
    from chainml.config import Settings

#: how a chain charges for the L1 data of a transaction (None: it does not)
DataFee = Literal["op-stack", "arbitrum"] | None

GWEI = 10**9


@dataclass(frozen=True)
class NetworkPreset:
    """One public chain as chainml treats it."""

    name: str
    chain_id: int
    #: blocks on top of an anchor before it counts as final (about the time in the comment)
    confirmations: int
    block_seconds: float
    #: the least priority fee (tip) a transaction offers on this chain, wei (the fee policy's
    #: ``min_tip``; the tip otherwise follows the chain's recent blocks)
    priority_fee: int
    #: how far above the current base fee max-fee-per-gas may go by default (the txmanager's
    #: cap, CHAINML_MAX_FEE_GWEI, still bounds it)
    base_fee_multiplier: int
    data_fee: DataFee
    explorer: str
    testnet: bool

    def tx_url(self, tx_hash: bytes) -> str:
        """The explorer page of a transaction."""
        return f"{self.explorer}/tx/0x{tx_hash.hex()}"

    def address_url(self, address: str) -> str:
        """The explorer page of an account or contract."""
        return f"{self.explorer}/address/{address}"


def _l1(name: str, chain_id: int, explorer: str, *, testnet: bool) -> NetworkPreset:
    # 64 slots of 12 s: two epochs, the Casper finality of a post-merge L1 (~12.8 min)
    return NetworkPreset(name, chain_id, 64, 12.0, 1 * GWEI, 2, None, explorer, testnet)


def _op(name: str, chain_id: int, explorer: str, *, testnet: bool) -> NetworkPreset:
    # 2 s blocks; 30 blocks (1 min) rides out sequencer-side reorgs of the unsafe head. Safe
    # (batch on L1) takes minutes and L1 finality ~13 min more: raise confirmations for that.
    # OP-stack minimum tips are tiny; 0.001 gwei is what wallets offer there.
    return NetworkPreset(name, chain_id, 30, 2.0, GWEI // 1000, 2, "op-stack", explorer, testnet)


def _arbitrum(name: str, chain_id: int, explorer: str, *, testnet: bool) -> NetworkPreset:
    # ~0.25 s blocks: 240 blocks is one minute; the sequencer ignores priority fees (tip 0)
    return NetworkPreset(name, chain_id, 240, 0.25, 0, 2, "arbitrum", explorer, testnet)


def _polygon(name: str, chain_id: int, explorer: str, *, testnet: bool) -> NetworkPreset:
    # ~2 s blocks, 64 blocks ~2 min (beyond the milestone finality of a few seconds); Bor
    # nodes refuse tips below 25 gwei, so offer a little more
    return NetworkPreset(name, chain_id, 64, 2.0, 30 * GWEI, 2, None, explorer, testnet)


#: every preset by name; a frozen table, extended by adding a row
NETWORKS: dict[str, NetworkPreset] = {
    preset.name: preset
    for preset in (
        _l1("mainnet", 1, "https://etherscan.io", testnet=False),
        _l1("sepolia", 11155111, "https://sepolia.etherscan.io", testnet=True),
        _l1("holesky", 17000, "https://holesky.etherscan.io", testnet=True),
        _op("optimism", 10, "https://optimistic.etherscan.io", testnet=False),
        _op("op-sepolia", 11155420, "https://sepolia-optimism.etherscan.io", testnet=True),
        _op("base", 8453, "https://basescan.org", testnet=False),
        _op("base-sepolia", 84532, "https://sepolia.basescan.org", testnet=True),
        _arbitrum("arbitrum", 42161, "https://arbiscan.io", testnet=False),
        _arbitrum("arbitrum-sepolia", 421614, "https://sepolia.arbiscan.io", testnet=True),
        _polygon("polygon", 137, "https://polygonscan.com", testnet=False),
        _polygon("polygon-amoy", 80002, "https://amoy.polygonscan.com", testnet=True),
    )
}


def network_preset(name: str) -> NetworkPreset:
    """The preset called ``name``; an unknown name is :class:`InvalidInputError` listing all."""
    preset = NETWORKS.get(name.strip().lower())
    if preset is None:
        raise InvalidInputError(
            f"unknown network {name!r}; known networks: {', '.join(sorted(NETWORKS))}"
        )
    return preset


def preset_for_chain(chain_id: int) -> NetworkPreset | None:
    """The preset of a chain id, if chainml has one (for explorer links without --network)."""
    return next((p for p in NETWORKS.values() if p.chain_id == chain_id), None)


def apply_network(settings: Settings) -> Settings:
    """``settings`` with the preset's chain id and confirmations filled in where unset.

    A ``chain_id`` set explicitly that contradicts the preset is refused: one of the two is a
    typo, and guessing which would anchor on the wrong chain.
    """
    if settings.network is None:
        return settings
    preset = network_preset(settings.network)
    if settings.chain_id is not None and settings.chain_id != preset.chain_id:
        raise InvalidInputError(
            f"network {preset.name!r} is chain id {preset.chain_id}, but chain_id "
            f"{settings.chain_id} is also set; remove one of them"
        )
    confirmations = (
        preset.confirmations if settings.confirmations is None else settings.confirmations
    )
    return replace(settings, chain_id=preset.chain_id, confirmations=confirmations)

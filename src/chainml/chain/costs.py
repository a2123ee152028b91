"""What a transaction costs the sender, before sending it: execution gas plus a rollup's L1 fee.

On an L1 the fee is ``gas x (base fee + priority fee)``. OP-stack rollups (Optimism, Base, ...)
add an L1 data fee for publishing the transaction's bytes on Ethereum, often most of the
cost; their GasPriceOracle predeploy prices it (``getL1Fee(bytes)`` on the unsigned, RLP-encoded
transaction, as the OP docs prescribe). Arbitrum instead charges the L1 part as extra L2 gas,
and its ``eth_estimateGas`` already counts it, so the execution figure there includes it.
Nothing is signed or sent here.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth.vm.forks.prague.transactions import PragueTransactionBuilder

from chainml.chain.abi import Function
from chainml.chain.backend import CallRequest
from chainml.chain.env import Env
from chainml.chain.networks import DataFee, preset_for_chain
from chainml.errors import ChainError

#: the OP-stack GasPriceOracle predeploy (docs.optimism.io, "predeploys")
GAS_PRICE_ORACLE = "0x420000000000000000000000000000000000000F"
_GET_L1_FEE = Function.from_abi(
    {
        "type": "function",
        "name": "getL1Fee",
        "stateMutability": "view",
        "inputs": [{"name": "_data", "type": "bytes"}],
        "outputs": [{"name": "", "type": "uint256"}],
    }
)
GWEI = 10**9


@dataclass(frozen=True)
class CostEstimate:
    """The expected cost of one transaction, in wei, and what it is made of."""

    gas: int
    base_fee: int
    priority_fee: int
    #: the L1 data fee on top of execution (OP stack); None where the chain has none
    l1_fee: int | None = None
    #: the chain charges L1 data as L2 gas (Arbitrum): it is inside ``gas`` already
    l1_in_gas: bool = False

    @property
    def execution(self) -> int:
        """Wei for execution gas at the current base fee plus the tip."""
        return self.gas * (self.base_fee + self.priority_fee)

    @property
    def total(self) -> int:
        """Wei the sender is expected to pay."""
        return self.execution + (self.l1_fee or 0)

    def describe(self) -> str:
        """One line with the arithmetic shown (gwei per gas, ETH totals)."""
        text = (
            f"{self.gas:,} gas x ({gwei(self.base_fee)} base + {gwei(self.priority_fee)} tip) "
            f"gwei = {eth(self.execution)} ETH"
        )
        if self.l1_fee is not None:
            text += f" + L1 data fee {eth(self.l1_fee)} ETH = {eth(self.total)} ETH"
        elif self.l1_in_gas:
            text += " (the L1 data cost is charged as gas and included)"
        return text


def gwei(wei: int) -> str:
    """``wei`` in gwei, compact (0.001, 1.5, 30)."""
    return f"{wei / GWEI:.6g}"


def eth(wei: int) -> str:
    """``wei`` in ETH with enough digits for L2 fees."""
    return f"{wei / 10**18:.9g}"


def data_fee_kind(env: Env, configured: DataFee = None) -> DataFee:
    """How ``env``'s chain charges for L1 data: the preset's answer, else the oracle's presence."""
    if configured is not None:
        return configured
    preset = preset_for_chain(env.chain_id)
    if preset is not None:
        return preset.data_fee
    return "op-stack" if env.backend.code(GAS_PRICE_ORACLE) else None


def estimate_cost(
    env: Env,
    to: str | None,
    data: bytes,
    *,
    sender: str,
    value: int = 0,
    data_fee: DataFee = None,
) -> CostEstimate:
    """The expected cost of sending ``data`` to ``to`` from ``sender`` now (nothing is sent).

    Gas comes from ``eth_estimateGas`` (a revert is raised as such), the base fee of the next
    block and the tip as the transaction manager's fee policy sets them; on an OP-stack chain
    the L1 data fee from the GasPriceOracle. The base fee moves each block: the estimate is
    for now.
    """
    request = CallRequest(sender=sender, to=to, data=data, value=value)
    gas = env.backend.estimate_gas(request)
    # priced as the transaction manager will price it: the next block's base fee and the
    # policy's tip from recent blocks (what the sender actually pays; max fee is only a bound)
    policy = env.tx_manager().policy
    history = env.backend.fee_history(policy.history_blocks, policy.tip_percentile)
    base_fee, tip = history.next_base_fee, policy.tip(history)
    kind = data_fee_kind(env, data_fee)
    l1_fee = None
    if kind == "op-stack":
        unsigned = PragueTransactionBuilder.new_unsigned_dynamic_fee_transaction(
            chain_id=env.chain_id,
            nonce=env.backend.nonce(sender),
            max_priority_fee_per_gas=tip,
            max_fee_per_gas=2 * base_fee + tip,
            gas=gas,
            to=bytes.fromhex(to[2:]) if to else b"",
            value=value,
            data=data,
            access_list=(),
        )
        l1_fee = op_l1_fee(env, bytes(unsigned.get_message_for_signing()))
    return CostEstimate(gas, base_fee, tip, l1_fee, l1_in_gas=kind == "arbitrum")


def op_l1_fee(env: Env, unsigned_tx: bytes) -> int:
    """The OP-stack GasPriceOracle's L1 data fee for ``unsigned_tx`` (wei)."""
    if not env.backend.code(GAS_PRICE_ORACLE):
        raise ChainError(
            f"chain {env.chain_id} has no GasPriceOracle at {GAS_PRICE_ORACLE}: it is not an "
            "OP-stack chain (check --network)"
        )
    query = _GET_L1_FEE.encode_call((unsigned_tx,))
    answer = env.backend.call(CallRequest(sender=GAS_PRICE_ORACLE, to=GAS_PRICE_ORACLE, data=query))
    if len(answer) != 32:  # bounded before it is believed: one uint256, nothing else
        raise ChainError(f"getL1Fee answered {len(answer)} bytes, not one uint256")
    return int.from_bytes(answer, "big")


# -- prices stated for tables and docs -------------------------------------------------------


def op_fee_per_byte(
    l1_base_fee: int, blob_base_fee: int, base_fee_scalar: int, blob_base_fee_scalar: int
) -> int:
    """Wei of OP-stack L1 data fee per byte of signed transaction (Ecotone/Fjord pricing).

    ``l1Fee = size x (16 x base_fee_scalar x l1_base_fee + blob_base_fee_scalar x
    blob_base_fee) / 1e6`` with the size after compression (Fjord's FastLZ estimate); counting
    uncompressed bytes makes this an upper bound.
    """
    scaled = 16 * base_fee_scalar * l1_base_fee + blob_base_fee_scalar * blob_base_fee
    return scaled // 10**6


@dataclass(frozen=True)
class StatedPrice:
    """Fees stated up front to turn gas (and transaction bytes) into ETH in a table."""

    label: str
    short: str  # for a table's column head
    gas_price: int  # wei per gas: base fee plus tip
    data_fee_per_byte: int = 0  # wei per byte of the signed transaction (OP stack)

    def cost(self, gas: int, tx_bytes: int = 0) -> int:
        """Wei a transaction of ``gas`` and ``tx_bytes`` signed bytes costs at these fees."""
        return gas * self.gas_price + tx_bytes * self.data_fee_per_byte


#: an L1 at 10 gwei per gas (base fee plus tip): a calm day on Ethereum mainnet in 2025-26
L1_AT_10_GWEI = StatedPrice("L1 @ 10 gwei", "L1", 10 * GWEI)
#: an OP-stack L2 at 0.01 gwei per gas, its L1 data fee at an L1 base fee of 10 gwei and a blob
#: base fee of 1 wei, with the fee scalars Base mainnet receipts carry since Ecotone (2024):
#: base fee scalar 2,269 and blob base fee scalar 1,055,762 (~0.36 gwei per byte)
OP_L2_AT_0_01_GWEI = StatedPrice(
    "OP L2 @ 0.01 gwei + data",
    "OP L2",
    GWEI // 100,
    op_fee_per_byte(10 * GWEI, 1, 2269, 1_055_762),
)
STATED_PRICES = (L1_AT_10_GWEI, OP_L2_AT_0_01_GWEI)


def signed_size(data: bytes, *, create: bool = False) -> int:
    """Bytes of a signed EIP-1559 transaction carrying ``data`` (typical nonce, fees, gas)."""
    unsigned = PragueTransactionBuilder.new_unsigned_dynamic_fee_transaction(
        chain_id=8453,
        nonce=10_000,
        max_priority_fee_per_gas=GWEI // 1000,
        max_fee_per_gas=GWEI,
        gas=200_000,
        to=b"" if create else b"\x11" * 20,
        value=0,
        data=data,
        access_list=(),
    )
    from eth_keys import keys  # a throwaway key: only the length of the signature matters

    signed = unsigned.as_signed_transaction(keys.PrivateKey(b"\x01" * 32), chain_id=8453)
    return len(signed.encode())

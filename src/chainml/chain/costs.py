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

    Gas comes from ``eth_estimateGas`` (a revert is raised as such), the base fee from the
    latest block, the tip from the node's suggestion; on an OP-stack chain the L1 data fee
    from the GasPriceOracle. The base fee moves each block: the estimate is for now.
    """
    request = CallRequest(sender=sender, to=to, data=data, value=value)
    gas = env.backend.estimate_gas(request)
    base_fee = env.backend.block().base_fee
    _, tip = env.backend.fees()
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

"""What an anchor costs: receipts of rollups parsed, and the dry-run's price against the real one.

anvil 1.7.1 (even with ``--network optimism``) neither adds ``l1Fee`` to receipts nor ships the
OP GasPriceOracle predeploy, so the OP receipt shapes below are the documented ones
(docs.optimism.io "transaction fees", Ecotone fields; docs.arbitrum.io "gasUsedForL1"), and the
oracle is a stand-in contract put at the predeploy address on anvil.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from eth.vm.forks.prague.transactions import PragueTransactionBuilder

from chainml.chain import Env
from chainml.chain.costs import GAS_PRICE_ORACLE, CostEstimate, estimate_cost
from chainml.chain.rpc import _receipt
from chainml.log.anchor import Anchorer
from chainml.log.anchor_contract import log_contract
from chainml.log.anchor_estimate import estimate_anchor
from chainml.log.decision_log import DecisionLog
from tests.log.test_anchor import decisions

_RECEIPT: dict[str, Any] = {
    "transactionHash": "0x" + "ab" * 32,
    "blockNumber": "0x10",
    "gasUsed": "0xb9b0",  # 47,536
    "status": "0x1",
    "contractAddress": None,
    "logs": [],
    "effectiveGasPrice": "0xf4240",  # 0.001 gwei
}
# the fields an OP-stack node (Ecotone and later) adds to every L2 receipt
_OP_FIELDS = {
    "l1Fee": "0x1c6bf52634000",  # 500,000 gwei
    "l1GasPrice": "0x3b9aca00",
    "l1GasUsed": "0x640",
    "l1BaseFeeScalar": "0x8dd",
    "l1BlobBaseFee": "0x1",
    "l1BlobBaseFeeScalar": "0x101c12",
}


def test_an_op_stack_receipt_carries_its_l1_fee_on_top_of_gas() -> None:
    receipt = _receipt({**_RECEIPT, **_OP_FIELDS})
    assert receipt.l1_fee == 500_000 * 10**9 and not receipt.l1_fee_in_gas
    assert receipt.effective_gas_price == 10**6
    assert receipt.cost == 47_536 * 10**6 + 500_000 * 10**9


def test_an_arbitrum_receipt_counts_its_l1_part_inside_gas() -> None:
    receipt = _receipt({**_RECEIPT, "gasUsedForL1": "0x3e8"})  # 1,000 of the 47,536 gas
    assert receipt.l1_fee == 1_000 * 10**6 and receipt.l1_fee_in_gas
    assert receipt.cost == 47_536 * 10**6  # not counted twice


def test_an_l1_receipt_has_no_l1_fee_and_odd_values_are_ignored() -> None:
    assert _receipt(_RECEIPT).l1_fee is None
    odd = _receipt({**_RECEIPT, "l1Fee": "lots", "effectiveGasPrice": "0x" + "f" * 100})
    assert odd.l1_fee is None and odd.effective_gas_price is None and odd.cost is None


def test_the_estimate_shows_its_arithmetic() -> None:
    estimate = CostEstimate(gas=50_000, base_fee=10**9, priority_fee=10**8, l1_fee=10**13)
    assert estimate.execution == 50_000 * 11 * 10**8 and estimate.total == 55 * 10**12 + 10**13
    assert estimate.describe() == (
        "50,000 gas x (1 base + 0.1 tip) gwei = 5.5e-05 ETH + L1 data fee 1e-05 ETH = 6.5e-05 ETH"
    )


@pytest.mark.integration
def test_the_dry_run_price_matches_what_the_anchor_paid(anvil_env: Env, tmp_path: Path) -> None:
    with anvil_env.snapshot(), DecisionLog.open(tmp_path / "log", durability="normal") as log:
        log.append(decisions(0, 5))
        anchorer = Anchorer(log, log_contract(anvil_env, log))
        anchorer.anchor()
        log.append(decisions(5, 40))
        nonce = anvil_env.backend.nonce(anvil_env.sender)
        estimate = estimate_anchor(anvil_env, log)
        assert anvil_env.backend.nonce(anvil_env.sender) == nonce  # nothing was sent
        assert (estimate.from_size, estimate.to_size, estimate.deployment) == (5, 45, None)
        assert estimate.anchor is not None and estimate.anchor.l1_fee is None
        record = anchorer.anchor()
        assert record is not None and record.size == 45
        paid = anvil_env.backend.wait_for_receipt(record.tx_hash)
        assert paid.cost is not None
        # eth_estimateGas is an upper bound of gas used; the base fee moves by at most 1/8 a
        # block (EIP-1559), and one block passes between the estimate and the anchor
        assert paid.gas_used <= estimate.anchor.gas <= paid.gas_used * 1.10
        assert abs(estimate.anchor.total - paid.cost) <= 0.15 * paid.cost  # measured: 6 %


_ORACLE_STAND_IN = """
# pragma version ~=0.4.0
# A stand-in for the OP GasPriceOracle: 16 gas per byte at an L1 base fee of 7 gwei.
@external
@view
def getL1Fee(_data: Bytes[65536]) -> uint256:
    return len(_data) * 16 * 7 * 10**9
"""


@pytest.mark.integration
def test_on_an_op_stack_chain_the_l1_fee_comes_from_the_oracle(
    anvil_env: Env, tmp_path: Path
) -> None:
    from chainml.chain import compile_source

    with anvil_env.snapshot():
        stand_in = anvil_env.deploy(compile_source(_ORACLE_STAND_IN, "Oracle", tmp_path))
        runtime = anvil_env.backend.code(stand_in.address)
        anvil_env.backend.request("anvil_setCode", [GAS_PRICE_ORACLE, "0x" + runtime.hex()])
        target, data = "0x" + "22" * 20, b"\x01\x02" * 50
        estimate = estimate_cost(anvil_env, target, data, sender=anvil_env.sender)
        # what the oracle must have been asked about: the unsigned EIP-1559 transaction
        unsigned = PragueTransactionBuilder.new_unsigned_dynamic_fee_transaction(
            chain_id=anvil_env.chain_id,
            nonce=anvil_env.backend.nonce(anvil_env.sender),
            max_priority_fee_per_gas=estimate.priority_fee,
            max_fee_per_gas=2 * estimate.base_fee + estimate.priority_fee,
            gas=estimate.gas,
            to=bytes.fromhex(target[2:]),
            value=0,
            data=data,
            access_list=(),
        ).get_message_for_signing()
        assert estimate.l1_fee == len(unsigned) * 16 * 7 * 10**9
        assert estimate.total == estimate.execution + estimate.l1_fee

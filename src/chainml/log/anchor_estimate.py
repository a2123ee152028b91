"""What the next anchor would cost: the transaction ``log anchor`` would send, priced, not sent.

Built from the same pieces the anchorer uses (the contract's head, the log's head, the
consistency proof between them), so the calldata priced is the calldata that would be sent.
A log without an anchor contract on this chain is priced as the deployment the first anchor
makes; nothing is deployed, signed or sent.
"""

from __future__ import annotations

from dataclasses import dataclass

from chainml import contracts
from chainml.chain import Env
from chainml.chain.costs import CostEstimate, estimate_cost
from chainml.chain.networks import DataFee
from chainml.log.anchor_contract import CONTRACT_NAME, contract_key, log_contract
from chainml.log.decision_log import DecisionLog


@dataclass(frozen=True)
class AnchorEstimate:
    """The anchor ``log anchor`` would make now, and its expected cost."""

    from_size: int  # the head the chain holds (0: none, or no contract yet)
    to_size: int  # the log's head
    #: the anchor transaction's cost; None when nothing is due or the contract is not deployed
    anchor: CostEstimate | None
    #: the deployment the first anchor makes on this chain; None when the contract exists
    deployment: CostEstimate | None


def estimate_anchor(env: Env, log: DecisionLog, *, data_fee: DataFee = None) -> AnchorEstimate:
    """Price the next anchor of ``log`` on ``env`` as of the latest block (sends nothing)."""
    head = log.head()
    sender = env.sender
    if log.store.get_meta(contract_key(env.chain_id)) is None:
        compiled = env.compile(contracts.source_path(CONTRACT_NAME))
        deployment = estimate_cost(env, None, compiled.bytecode, sender=sender, data_fee=data_fee)
        return AnchorEstimate(0, head.size, None, deployment)
    contract = log_contract(env, log, deploy=False)
    chain_size = int(contract.size())
    if chain_size >= head.size:
        return AnchorEstimate(chain_size, head.size, None, None)
    proof = log.store.consistency_proof(chain_size, head.size) if chain_size else []
    data = contract.function("anchor", 3).encode_call((head.size, head.root, proof))
    cost = estimate_cost(env, contract.address, data, sender=sender, data_fee=data_fee)
    return AnchorEstimate(chain_size, head.size, cost, None)

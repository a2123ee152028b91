"""Binding a verified receipt to governance: whether its model was the approved one for a use.

Read-only, through the ``ModelRegistry``'s own view ``approved_model(use)``, called at the
block of the receipt's anchor (a historical ``eth_call``; both the embedded chain and JSON-RPC
nodes answer it, though a pruned node may have dropped old state). The registry is a trust
root the verifier pinned, checked by its code hash like a log; the block is the one
:func:`chainml.log.receipt.verify_receipt` proved the anchor happened in.
"""

from __future__ import annotations

from chainml import contracts
from chainml.chain import Env
from chainml.errors import InvalidInputError, VerificationError
from chainml.log.receipt import ReceiptCheck
from chainml.log.trust import TrustRoot, check_code

REGISTRY_CONTRACT = "ModelRegistry"
MAX_USE_BYTES = 64  # ModelRegistry's String[MAX_USE]


def check_approved(env: Env, check: ReceiptCheck, registry: TrustRoot, use: str) -> int:
    """Raise VerificationError unless the record's model was approved for ``use``.

    ``check`` must be verified (its anchor block proven on chain). Returns the block at which
    the registry was read.
    """
    if not check.verified or check.anchor is None:
        raise VerificationError("the receipt must be verified against a trusted log first")
    if not use or len(use.encode()) > MAX_USE_BYTES:
        raise InvalidInputError(f"a use is 1 to {MAX_USE_BYTES} bytes, got {use!r}")
    if not registry.names(env.chain_id, registry.address, env.chain_id):
        raise VerificationError(
            f"the registry you pinned is on chain {registry.chain_id}, but the receipt's anchor "
            f"and the node are on chain {env.chain_id}"
        )
    check_code(env, registry, REGISTRY_CONTRACT)
    compiled = env.compile(contracts.source_path(REGISTRY_CONTRACT))
    block = check.anchor.block_number
    view = env.at(registry.address, compiled).function("approved_model", 1)
    answer = env.call(registry.address, view.encode_call((use,)), block=block)
    model = check.record.model_id
    if not answer:  # no code there yet at that block: nothing was approved
        raise VerificationError(
            f"registry {registry.address} did not exist yet at block {block} (the anchor's "
            f"block), so model 0x{model.hex()} was not the approved model for {use!r} there"
        )
    approved = bytes(view.decode_result(answer))
    if approved != model:
        held = "no model" if approved == bytes(32) else f"model 0x{approved.hex()}"
        raise VerificationError(
            f"model 0x{model.hex()} was not the approved model for {use!r} in registry "
            f"{registry.address} at block {block} (the anchor's block): {held} was"
        )
    return block

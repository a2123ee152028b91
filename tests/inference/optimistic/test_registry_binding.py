"""ModelRegistry.binding: when a model was approved and retired, as the fraud proof reads it."""

from __future__ import annotations

from eth_utils import keccak

from chainml.chain import Env
from chainml.governance.registry import ModelRegistry
from tests.inference.optimistic.conftest import USE, ZERO_ADDRESS, model_id


def _approve(registry: ModelRegistry, ident: bytes, use: str) -> int:
    replaces = registry.approved(use)
    entry = registry.model(ident)
    receipt = registry.contract.transact(
        "approve",
        ident,
        use,
        bytes.fromhex(replaces[2:]) if replaces else bytes(32),
        entry.registrant,
        ZERO_ADDRESS,
    )
    return receipt.block_number


def test_binding_keeps_the_approval_history(env: Env) -> None:
    registry = ModelRegistry.deploy(env, env.sender)
    first, second = model_id(1), model_id(2)
    for ident in (first, second):
        registry.register(ident, ident, bytes(32), "test://m")
    unknown = registry.binding(model_id(3))
    assert (unknown.approved_block, unknown.retired_block, unknown.use_tag) == (0, 0, 0)
    assert not unknown.approved_at(env.block_number)

    approved = _approve(registry, first, USE)
    env.mine(2)
    replaced = _approve(registry, second, USE)  # retires the first
    old, new = registry.binding(first), registry.binding(second)
    assert (old.approved_block, old.retired_block) == (approved, replaced)
    assert (new.approved_block, new.retired_block) == (replaced, 0)
    assert old.use_tag == new.use_tag == int.from_bytes(keccak(text=USE)) >> 128
    assert old.approved_at(approved) and old.approved_at(replaced - 1)
    assert not old.approved_at(approved - 1) and not old.approved_at(replaced)
    assert new.approved_at(replaced + 1000)

    registry.contract.transact("retire", second)
    gone = registry.binding(second)
    assert gone.retired_block >= replaced and not gone.approved_at(gone.retired_block)
    assert gone.contract is None  # no contract attached

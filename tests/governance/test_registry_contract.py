"""The ModelRegistry contract's rules, each on the embedded chain and on anvil.

The governor here is the Env's first account (an EOA), so the rules are tested directly;
tests/governance/test_governance.py drives the registry through a Governor.
"""

from __future__ import annotations

from typing import Any

import pytest
from eth_utils import keccak

from chainml.chain import CompiledContract, Contract, Env

from .conftest import ZERO_ADDRESS, model_id, revert_reason

ZERO = bytes(32)
UNKNOWN, REGISTERED, APPROVED, RETIRED = range(4)
ARTIFACT, CARD = b"\xaa" * 32, b"\xcc" * 32
FIELDS = [
    "artifact_hash", "card_hash", "uri", "registrant", "registered_block", "status", "use",
    "target", "codehash",
]  # fmt: skip


@pytest.fixture
def registry(env: Env, registry_code: CompiledContract) -> Contract:
    return env.deploy(registry_code, env.accounts[0])


def model(registry: Contract, n: int) -> dict[str, Any]:
    return dict(zip(FIELDS, registry.model(model_id(n)), strict=True))


def approve(registry: Contract, n: int, use: str, sender: str | None = None) -> Any:
    """Approve model ``n`` for ``use`` with the registry's current state as the expectation."""
    entry = model(registry, n)
    replaces = registry.approved_model(use)
    return registry.transact(
        "approve", model_id(n), use, replaces, entry["registrant"], entry["target"], sender=sender
    )


def register(registry: Contract, n: int, sender: str | None = None) -> Any:
    return registry.transact(
        "register", model_id(n), ARTIFACT, CARD, f"file:///m{n}.onnx", sender=sender
    )


class TestRegister:
    def test_register_records_everything(self, env: Env, registry: Contract):
        b = env.accounts[1]
        receipt = register(registry, 1, sender=b)
        assert registry.decode_receipt(receipt, "ModelRegistered") == [
            {
                "model_id": model_id(1),
                "registrant": b,
                "artifact_hash": ARTIFACT,
                "card_hash": CARD,
                "uri": "file:///m1.onnx",
            }
        ]
        assert model(registry, 1) == {
            "artifact_hash": ARTIFACT, "card_hash": CARD, "uri": "file:///m1.onnx",
            "registrant": b, "registered_block": receipt.block_number, "status": REGISTERED,
            "use": "", "target": ZERO_ADDRESS, "codehash": ZERO,
        }  # fmt: skip
        assert registry.model_count() == 1
        assert model(registry, 2)["status"] == UNKNOWN

    def test_zero_ids_and_duplicates_are_refused(self, env: Env, registry: Contract):
        reason = revert_reason(lambda: registry.register(ZERO, ARTIFACT, CARD, ""))
        assert reason == "model id is zero"
        reason = revert_reason(lambda: registry.register(model_id(1), ZERO, CARD, ""))
        assert reason == "artifact hash is zero"
        register(registry, 1)
        reason = revert_reason(lambda: register(registry, 1, sender=env.accounts[1]))
        assert reason == "model already registered"
        assert model(registry, 1)["registrant"] == env.accounts[0]
        assert registry.model_count() == 1

    def test_a_retired_id_is_never_reused(self, env: Env, registry: Contract):
        register(registry, 1)
        registry.retire(model_id(1))
        assert revert_reason(lambda: register(registry, 1)) == "model already registered"


class TestGovernorOnly:
    def test_only_the_governor_approves_and_retires(self, env: Env, registry: Contract):
        other = env.accounts[1]
        register(registry, 1, sender=other)
        approve_args = (model_id(1), "fraud", ZERO, other, ZERO_ADDRESS)
        reassign_args = (model_id(1), env.accounts[0], ARTIFACT, CARD, "u")
        for name, args in [
            ("approve", approve_args),
            ("retire", (model_id(1),)),
            ("reassign", reassign_args),
        ]:
            reason = revert_reason(lambda n=name, a=args: registry.transact(n, *a, sender=other))
            assert reason == "only the governor"
        assert model(registry, 1)["status"] == REGISTERED

    def test_set_governor(self, env: Env, registry: Contract):
        a, b = env.accounts[:2]
        reason = revert_reason(lambda: registry.transact("set_governor", b, sender=b))
        assert reason == "only the governor"
        reason = revert_reason(lambda: registry.set_governor(ZERO_ADDRESS))
        assert reason == "governor is the zero address"
        receipt = registry.set_governor(b)
        assert registry.decode_receipt(receipt, "GovernorChanged") == [
            {"previous_governor": a, "new_governor": b}
        ]
        assert registry.governor() == b
        register(registry, 1)
        assert revert_reason(lambda: approve(registry, 1, "x")) == "only the governor"
        approve(registry, 1, "x", sender=b)
        assert model(registry, 1)["status"] == APPROVED

    def test_zero_governor_is_refused(self, env: Env, registry_code: CompiledContract):
        reason = revert_reason(lambda: env.deploy(registry_code, ZERO_ADDRESS))
        assert reason == "governor is the zero address"


class TestLifecycle:
    def test_registered_approved_retired(self, env: Env, registry: Contract):
        register(registry, 1)
        receipt = approve(registry, 1, "fraud-screening")
        assert registry.decode_receipt(receipt, "ModelApproved") == [
            {
                "model_id": model_id(1),
                "use": "fraud-screening",
                "replaced": ZERO,
                "registrant": env.accounts[0],
                "target": ZERO_ADDRESS,
            }
        ]
        assert (model(registry, 1)["status"], model(registry, 1)["use"]) == (
            APPROVED,
            "fraud-screening",
        )
        assert registry.approved_model("fraud-screening") == model_id(1)
        receipt = registry.retire(model_id(1))
        assert registry.decode_receipt(receipt, "ModelRetired") == [
            {"model_id": model_id(1), "use": "fraud-screening"}
        ]
        assert model(registry, 1)["status"] == RETIRED
        assert registry.approved_model("fraud-screening") == ZERO

    def test_registered_straight_to_retired(self, env: Env, registry: Contract):
        register(registry, 1)
        receipt = registry.retire(model_id(1))
        assert registry.decode_receipt(receipt, "ModelRetired") == [
            {"model_id": model_id(1), "use": ""}
        ]
        assert model(registry, 1)["status"] == RETIRED

    def test_illegal_transitions(self, env: Env, registry: Contract):
        register(registry, 1)
        register(registry, 2)
        approve(registry, 1, "fraud")
        registry.retire(model_id(2))
        cases = [
            (lambda: approve(registry, 9, "fraud"), "unknown model"),
            (lambda: registry.retire(model_id(9)), "unknown model"),
            (lambda: approve(registry, 1, "fraud"), "model already approved"),
            (lambda: approve(registry, 1, "other"), "model already approved"),
            (lambda: approve(registry, 2, "fraud"), "model is retired"),
            (lambda: registry.retire(model_id(2)), "model already retired"),
            (lambda: approve(registry, 1, ""), "use is empty"),
        ]
        for action, reason in cases:
            assert revert_reason(action) == reason
        assert [model(registry, n)["status"] for n in (1, 2, 9)] == [APPROVED, RETIRED, UNKNOWN]
        assert registry.approved_model("fraud") == model_id(1)

    def test_approval_replaces_the_previous_model_per_use(self, env: Env, registry: Contract):
        for n in (1, 2, 3):
            register(registry, n)
        approve(registry, 1, "fraud")
        approve(registry, 3, "fees")
        receipt = approve(registry, 2, "fraud")
        assert registry.decode_receipt(receipt, "ModelRetired") == [
            {"model_id": model_id(1), "use": "fraud"}
        ]
        assert registry.decode_receipt(receipt, "ModelApproved") == [
            {
                "model_id": model_id(2),
                "use": "fraud",
                "replaced": model_id(1),
                "registrant": env.accounts[0],
                "target": ZERO_ADDRESS,
            }
        ]
        assert registry.approved_model("fraud") == model_id(2)
        assert registry.approved_model("fees") == model_id(3)  # other uses are untouched
        assert registry.approved_model("unknown-use") == ZERO
        assert [model(registry, n)["status"] for n in (1, 2, 3)] == [RETIRED, APPROVED, APPROVED]
        registry.retire(model_id(2))
        assert registry.approved_model("fraud") == ZERO
        assert registry.approved_model("fees") == model_id(3)


class TestAttachContract:
    def test_records_the_code_hash(self, env: Env, registry: Contract, counter_code):
        target = env.deploy(counter_code, 0)
        register(registry, 1)
        receipt = registry.attach_contract(model_id(1), target.address)
        codehash = bytes(keccak(env.backend.code(target.address)))
        assert registry.decode_receipt(receipt, "ContractAttached") == [
            {"model_id": model_id(1), "target": target.address, "codehash": codehash}
        ]
        assert (model(registry, 1)["target"], model(registry, 1)["codehash"]) == (
            target.address,
            codehash,
        )
        assert codehash == bytes(keccak(counter_code.runtime_bytecode))

    def test_rules(self, env: Env, registry: Contract, counter_code: CompiledContract):
        a, b = env.accounts[:2]
        target = env.deploy(counter_code, 0)
        register(registry, 1)
        register(registry, 2)
        cases = [
            (lambda: registry.attach_contract(model_id(9), target.address), "unknown model"),
            (
                lambda: registry.transact("attach_contract", model_id(1), target.address, sender=b),
                "only the registrant",
            ),
            (lambda: registry.attach_contract(model_id(1), b), "target has no code"),
        ]
        for action, reason in cases:
            assert revert_reason(action) == reason
        registry.attach_contract(model_id(1), target.address)
        reason = revert_reason(lambda: registry.attach_contract(model_id(1), registry.address))
        assert reason == "contract already attached"
        approve(registry, 2, "fraud")
        reason = revert_reason(lambda: registry.attach_contract(model_id(2), target.address))
        assert reason == "model is no longer registered-only"
        assert model(registry, 2)["target"] == ZERO_ADDRESS
        assert a == registry.governor()


def approve_raw(
    registry: Contract, n: int, use: str, replaces: bytes, registrant: str, target: str
) -> Any:
    return registry.transact("approve", model_id(n), use, replaces, registrant, target)


class TestCompareAndSwap:
    """An approval carries what its voters saw; anything changed since makes it revert."""

    def test_a_stale_replacement_reverts(self, env: Env, registry: Contract):
        a = env.accounts[0]
        for n in (1, 2):
            register(registry, n)
        # approve A was built while nothing was approved; approve B executed first
        approve(registry, 2, "fraud")
        reason = revert_reason(lambda: approve_raw(registry, 1, "fraud", ZERO, a, ZERO_ADDRESS))
        assert reason == "stale approval: the approved model for this use changed"
        assert registry.approved_model("fraud") == model_id(2)
        assert [model(registry, n)["status"] for n in (1, 2)] == [REGISTERED, APPROVED]
        # built against B, it goes through and retires B
        approve_raw(registry, 1, "fraud", model_id(2), a, ZERO_ADDRESS)
        assert [model(registry, n)["status"] for n in (1, 2)] == [APPROVED, RETIRED]

    def test_a_changed_registrant_or_contract_reverts(
        self, env: Env, registry: Contract, counter_code: CompiledContract
    ):
        a, b = env.accounts[:2]
        register(registry, 1, sender=b)
        reason = revert_reason(lambda: approve_raw(registry, 1, "fraud", ZERO, a, ZERO_ADDRESS))
        assert reason == "stale approval: the model's registrant changed"
        # voters saw no contract; the registrant attached one before execution
        target = env.deploy(counter_code, 0)
        registry.transact("attach_contract", model_id(1), target.address, sender=b)
        reason = revert_reason(lambda: approve_raw(registry, 1, "fraud", ZERO, b, ZERO_ADDRESS))
        assert reason == "stale approval: the model's attached contract changed"
        assert model(registry, 1)["status"] == REGISTERED
        approve_raw(registry, 1, "fraud", ZERO, b, target.address)
        assert model(registry, 1)["status"] == APPROVED


class TestReassign:
    """Governance's remedy for a squatted id: the entry goes to its rightful registrant."""

    def test_a_squatted_id_is_recovered_and_the_squatters_contract_never_approved(
        self, env: Env, registry: Contract, counter_code: CompiledContract
    ):
        owner, squatter = env.accounts[:2]
        theirs, mine = env.deploy(counter_code, 0), env.deploy(counter_code, 1)
        # the squatter claims the real artifact's id first and attaches their contract
        registry.transact(
            "register", model_id(1), b"\x66" * 32, b"\x67" * 32, "evil://", sender=squatter
        )
        registry.transact("attach_contract", model_id(1), theirs.address, sender=squatter)
        assert revert_reason(lambda: register(registry, 1, sender=owner)) == (
            "model already registered"
        )
        assert revert_reason(lambda: registry.attach_contract(model_id(1), mine.address)) == (
            "only the registrant"
        )
        receipt = registry.reassign(model_id(1), owner, ARTIFACT, CARD, "file:///m1.onnx")
        assert registry.decode_receipt(receipt, "ModelReassigned") == [
            {
                "model_id": model_id(1),
                "previous_registrant": squatter,
                "registrant": owner,
                "artifact_hash": ARTIFACT,
                "card_hash": CARD,
                "uri": "file:///m1.onnx",
            }
        ]
        entry = model(registry, 1)
        assert (entry["registrant"], entry["target"], entry["codehash"]) == (
            owner,
            ZERO_ADDRESS,
            ZERO,
        )
        assert (entry["artifact_hash"], entry["card_hash"], entry["uri"], entry["status"]) == (
            ARTIFACT,
            CARD,
            "file:///m1.onnx",
            REGISTERED,
        )
        # the squatter can no longer attach; an approval pinned to their contract is stale
        reason = revert_reason(
            lambda: registry.transact(
                "attach_contract", model_id(1), theirs.address, sender=squatter
            )
        )
        assert reason == "only the registrant"
        reason = revert_reason(
            lambda: approve_raw(registry, 1, "fraud", ZERO, squatter, theirs.address)
        )
        assert reason == "stale approval: the model's registrant changed"
        registry.attach_contract(model_id(1), mine.address)
        approve(registry, 1, "fraud")
        entry = model(registry, 1)
        assert (entry["status"], entry["registrant"], entry["target"]) == (
            APPROVED,
            owner,
            mine.address,
        )

    def test_rules(self, env: Env, registry: Contract):
        a, b = env.accounts[:2]
        register(registry, 1, sender=b)
        register(registry, 2)
        approve(registry, 2, "fraud")
        cases = [
            ((model_id(9), a, ARTIFACT, CARD, ""), "unknown model"),
            (
                (model_id(2), b, ARTIFACT, CARD, ""),
                "only a registered, never approved model can be reassigned",
            ),
            ((model_id(1), ZERO_ADDRESS, ARTIFACT, CARD, ""), "registrant is the zero address"),
            ((model_id(1), a, ZERO, CARD, ""), "artifact hash is zero"),
            ((model_id(1), b, ARTIFACT, CARD, ""), "model is already registered to that account"),
        ]
        for args, reason in cases:
            assert revert_reason(lambda x=args: registry.reassign(*x)) == reason
        registry.retire(model_id(1))
        reason = revert_reason(lambda: registry.reassign(model_id(1), a, ARTIFACT, CARD, ""))
        assert reason == "only a registered, never approved model can be reassigned"
        assert model(registry, 1)["registrant"] == b

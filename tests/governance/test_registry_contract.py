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
        for name, args in [("approve", (model_id(1), "fraud")), ("retire", (model_id(1),))]:
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
        assert revert_reason(lambda: registry.approve(model_id(1), "x")) == "only the governor"
        registry.transact("approve", model_id(1), "x", sender=b)
        assert model(registry, 1)["status"] == APPROVED

    def test_zero_governor_is_refused(self, env: Env, registry_code: CompiledContract):
        reason = revert_reason(lambda: env.deploy(registry_code, ZERO_ADDRESS))
        assert reason == "governor is the zero address"


class TestLifecycle:
    def test_registered_approved_retired(self, env: Env, registry: Contract):
        register(registry, 1)
        receipt = registry.approve(model_id(1), "fraud-screening")
        assert registry.decode_receipt(receipt, "ModelApproved") == [
            {"model_id": model_id(1), "use": "fraud-screening", "replaced": ZERO}
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
        registry.approve(model_id(1), "fraud")
        registry.retire(model_id(2))
        cases = [
            (lambda: registry.approve(model_id(9), "fraud"), "unknown model"),
            (lambda: registry.retire(model_id(9)), "unknown model"),
            (lambda: registry.approve(model_id(1), "fraud"), "model already approved"),
            (lambda: registry.approve(model_id(1), "other"), "model already approved"),
            (lambda: registry.approve(model_id(2), "fraud"), "model is retired"),
            (lambda: registry.retire(model_id(2)), "model already retired"),
            (lambda: registry.approve(model_id(1), ""), "use is empty"),
        ]
        for action, reason in cases:
            assert revert_reason(action) == reason
        assert [model(registry, n)["status"] for n in (1, 2, 9)] == [APPROVED, RETIRED, UNKNOWN]
        assert registry.approved_model("fraud") == model_id(1)

    def test_approval_replaces_the_previous_model_per_use(self, env: Env, registry: Contract):
        for n in (1, 2, 3):
            register(registry, n)
        registry.approve(model_id(1), "fraud")
        registry.approve(model_id(3), "fees")
        receipt = registry.approve(model_id(2), "fraud")
        assert registry.decode_receipt(receipt, "ModelRetired") == [
            {"model_id": model_id(1), "use": "fraud"}
        ]
        assert registry.decode_receipt(receipt, "ModelApproved") == [
            {"model_id": model_id(2), "use": "fraud", "replaced": model_id(1)}
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
        registry.approve(model_id(2), "fraud")
        reason = revert_reason(lambda: registry.attach_contract(model_id(2), target.address))
        assert reason == "model is no longer registered-only"
        assert model(registry, 2)["target"] == ZERO_ADDRESS
        assert a == registry.governor()

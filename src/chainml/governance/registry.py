"""The ``ModelRegistry`` contract from Python: register models, read their status and use.

Proposals that change the registry are built here as calldata. An approval carries what the
proposer saw (the model it replaces, the registrant, the attached contract), and the contract
refuses it if any of that changed before execution; a reassignment is governance's remedy for
a squatted model id (see the contract's rules and docs/models.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from eth_utils import is_address, to_checksum_address

from chainml import contracts
from chainml.chain import Contract, Env, Receipt
from chainml.errors import InvalidInputError, NotFoundError

CONTRACT_NAME = "ModelRegistry"
#: The use a model is approved for when none is named (the service and the guard score for it).
DEFAULT_USE = "fraud-screening"
ZERO_ADDRESS = "0x" + "00" * 20


class ModelStatus(IntEnum):
    """A model's place in its lifecycle (``UNKNOWN``: never registered)."""

    UNKNOWN = 0
    REGISTERED = 1
    APPROVED = 2
    RETIRED = 3


@dataclass(frozen=True)
class RegisteredModel:
    """What the registry holds about one model; hashes and ids as ``0x`` hex."""

    model_id: str
    artifact_hash: str
    card_hash: str
    uri: str
    registrant: str
    registered_block: int
    status: ModelStatus
    use: str | None  # the use it was approved for
    contract: str | None  # the attached model contract and its code hash
    codehash: str | None


@dataclass(frozen=True)
class ModelBinding:
    """When a model was approved and retired, and the contract that computes it.

    What a fraud proof checks on chain (``ModelRegistry.binding``): the model counts as
    approved at block B when ``approved_block <= B`` and it was not retired at or before B.
    """

    model_id: str
    contract: str | None
    codehash: str | None
    approved_block: int  # 0: never approved
    retired_block: int  # 0: not retired
    use_tag: int  # keccak256(use it was approved for) >> 128, as an integer (0 if never)

    def approved_at(self, block: int) -> bool:
        """Whether the model was the approved one (for its use) at ``block``."""
        if self.approved_block == 0 or self.approved_block > block:
            return False
        return self.retired_block == 0 or block < self.retired_block


@dataclass(frozen=True)
class ApprovalTerms:
    """What an approval proposal pins; the contract re-checks all of it at execution."""

    model_id: str
    use: str
    replaces: str | None  # the model approved for the use now, retired by the approval
    registrant: str  # who registered the model
    contract: str | None  # its attached contract

    def describe(self) -> str:
        """One line for a proposal's description: what the voters approve."""
        return (
            f"approve {self.model_id} for {self.use} (registrant {self.registrant}, contract "
            f"{self.contract or 'none'}, replacing {self.replaces or 'none'})"
        )


def model_id_bytes(value: bytes | str, name: str = "model id") -> bytes:
    """A 32-byte id from bytes or ``0x`` + 64 hex digits; anything else is InvalidInputError."""
    if isinstance(value, bytes):
        if len(value) != 32:
            raise InvalidInputError(f"{name} must be 32 bytes, got {len(value)}")
        return value
    text = value if isinstance(value, str) else ""
    if not text.startswith("0x") or len(text) != 66:
        raise InvalidInputError(f"{name} must be 0x followed by 64 hex digits, got {value!r}")
    try:
        return bytes.fromhex(text[2:])
    except ValueError:
        raise InvalidInputError(f"{name} is not hexadecimal: {value!r}") from None


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


class ModelRegistry:
    """A handle on one deployed ModelRegistry."""

    def __init__(self, contract: Contract) -> None:
        self.contract = contract

    @classmethod
    def deploy(cls, env: Env, governor: str) -> ModelRegistry:
        """Deploy a registry whose approvals and retirements only ``governor`` may make."""
        return cls(env.deploy(env.compile(contracts.source_path(CONTRACT_NAME)), governor))

    @classmethod
    def at(cls, env: Env, address: str) -> ModelRegistry:
        """The registry deployed at ``address`` (NotFoundError if there is no code)."""
        return cls(env.at(address, env.compile(contracts.source_path(CONTRACT_NAME))))

    @property
    def address(self) -> str:
        """The contract's address."""
        return self.contract.address

    @property
    def governor(self) -> str:
        """The account (normally a Governor contract) that approves and retires models."""
        return str(self.contract.governor())

    # -- transactions ---------------------------------------------------------------------

    def register(
        self,
        model_id: bytes | str,
        artifact_hash: bytes | str,
        card_hash: bytes | str,
        uri: str,
        *,
        sender: str | None = None,
    ) -> Receipt:
        """Register a model version; ``sender`` (default: the Env's) becomes its registrant."""
        return self.contract.transact(
            "register",
            model_id_bytes(model_id),
            model_id_bytes(artifact_hash, "artifact hash"),
            model_id_bytes(card_hash, "card hash"),
            uri,
            sender=sender,
        )

    def attach_contract(
        self, model_id: bytes | str, target: str, *, sender: str | None = None
    ) -> Receipt:
        """Record the contract computing ``model_id`` and its code hash (registrant only)."""
        return self.contract.transact(
            "attach_contract", model_id_bytes(model_id), target, sender=sender
        )

    # -- calldata for proposals -----------------------------------------------------------

    def approve_calldata(self, model_id: bytes | str, use: str) -> bytes:
        """The call a governor proposal executes to approve ``model_id`` for ``use``.

        The call pins the registry as it is now: the model approved for ``use`` (which the
        approval retires), ``model_id``'s registrant and its attached contract. Executed after
        any of these changed, it reverts ("stale approval: ..."); propose again.
        NotFoundError if ``model_id`` is not registered.
        """
        if not use:
            raise InvalidInputError("the use must not be empty (e.g. 'fraud-screening')")
        terms = self.approval_terms(model_id, use)
        return self.contract.function("approve", 5).encode_call(
            (
                model_id_bytes(model_id),
                use,
                model_id_bytes(terms.replaces) if terms.replaces else bytes(32),
                terms.registrant,
                terms.contract or ZERO_ADDRESS,
            )
        )

    def approval_terms(self, model_id: bytes | str, use: str) -> ApprovalTerms:
        """What an approval of ``model_id`` for ``use`` proposed now would pin."""
        entry = self.model(model_id)
        return ApprovalTerms(
            model_id=entry.model_id,
            use=use,
            replaces=self.approved(use),
            registrant=entry.registrant,
            contract=entry.contract,
        )

    def reassign_calldata(
        self,
        model_id: bytes | str,
        registrant: str,
        artifact_hash: bytes | str,
        card_hash: bytes | str,
        uri: str,
    ) -> bytes:
        """The call a governor proposal executes to give a squatted entry to ``registrant``.

        Replaces the entry's registrant, artifact hash, card hash and URI and clears its
        attached contract; only while the model is Registered (never approved).
        """
        if not is_address(registrant) or int(registrant, 16) == 0:
            raise InvalidInputError(f"the new registrant must be an address, got {registrant!r}")
        return self.contract.function("reassign", 5).encode_call(
            (
                model_id_bytes(model_id),
                to_checksum_address(registrant),
                model_id_bytes(artifact_hash, "artifact hash"),
                model_id_bytes(card_hash, "card hash"),
                uri,
            )
        )

    def retire_calldata(self, model_id: bytes | str) -> bytes:
        """The call a governor proposal executes to retire ``model_id``."""
        return self.contract.function("retire", 1).encode_call((model_id_bytes(model_id),))

    # -- reading --------------------------------------------------------------------------

    def model(self, model_id: bytes | str) -> RegisteredModel:
        """Everything recorded about ``model_id``; NotFoundError if it was never registered."""
        key = model_id_bytes(model_id)
        raw: tuple[Any, ...] = self.contract.model(key)
        artifact, card, uri, registrant, block, status, use, target, codehash = raw
        if status == ModelStatus.UNKNOWN:
            raise NotFoundError(f"model {_hex(key)} is not registered in {self.address}")
        attached = target != ZERO_ADDRESS
        return RegisteredModel(
            model_id=_hex(key),
            artifact_hash=_hex(artifact),
            card_hash=_hex(card),
            uri=str(uri),
            registrant=str(registrant),
            registered_block=int(block),
            status=ModelStatus(status),
            use=str(use) or None,
            contract=str(target) if attached else None,
            codehash=_hex(codehash) if attached else None,
        )

    def binding(self, model_id: bytes | str) -> ModelBinding:
        """The model's approval history and contract (all zero for an unknown model)."""
        key = model_id_bytes(model_id)
        target, codehash, approved, retired, use_tag = self.contract.binding(key)
        attached = target != ZERO_ADDRESS
        return ModelBinding(
            model_id=_hex(key),
            contract=str(target) if attached else None,
            codehash=_hex(codehash) if attached else None,
            approved_block=int(approved),
            retired_block=int(retired),
            use_tag=int(use_tag),
        )

    def approved(self, use: str) -> str | None:
        """The id of the model currently approved for ``use``, or None."""
        found = bytes(self.contract.approved_model(use))
        return None if found == bytes(32) else _hex(found)

    def models(self, from_block: int = 0) -> list[RegisteredModel]:
        """Every registered model, in registration order (from the ModelRegistered events)."""
        events = self.contract.events("ModelRegistered", from_block=from_block)
        return [self.model(bytes(event["model_id"])) for event in events]

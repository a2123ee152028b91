"""The ``ModelRegistry`` contract from Python: register models, read their status and use."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from chainml import contracts
from chainml.chain import Contract, Env, Receipt
from chainml.errors import InvalidInputError, NotFoundError

CONTRACT_NAME = "ModelRegistry"
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
        """The call a governor proposal executes to approve ``model_id`` for ``use``."""
        if not use:
            raise InvalidInputError("the use must not be empty (e.g. 'fraud-screening')")
        return self.contract.function("approve", 2).encode_call((model_id_bytes(model_id), use))

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

    def approved(self, use: str) -> str | None:
        """The id of the model currently approved for ``use``, or None."""
        found = bytes(self.contract.approved_model(use))
        return None if found == bytes(32) else _hex(found)

    def models(self, from_block: int = 0) -> list[RegisteredModel]:
        """Every registered model, in registration order (from the ModelRegistered events)."""
        events = self.contract.events("ModelRegistered", from_block=from_block)
        return [self.model(bytes(event["model_id"])) for event in events]

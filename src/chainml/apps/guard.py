"""The guarded token from Python: deploy it, send screened transfers, list and settle held ones.

:class:`GuardedToken` wraps ``GuardedToken.vy`` (see ``docs/guarded-token.md``): an ERC-20 that
computes the payment features of every transfer on chain, scores them with the approved model
contract and holds risky transfers in escrow until the reviewer releases or refunds them, or
anyone releases them after their deadline. :func:`recorded_token` and :func:`record_token` keep
its address in ``deployments.json`` next to the governance contracts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any

from chainml import contracts
from chainml.chain import Contract, Env, Receipt
from chainml.errors import NotFoundError
from chainml.governance.deployments import deployment, save_deployment
from chainml.governance.registry import DEFAULT_USE, ZERO_ADDRESS, model_id_bytes

CONTRACT_NAME = "GuardedToken"
DEPLOYMENT_NAME = "GuardedToken"
DEFAULT_TIMEOUT = 7 * 86_400  # seconds a held transfer waits before anyone may release it
#: Gas limit of a screened transfer: the model's 300,000 cap plus room for a hold's storage.
TRANSFER_GAS = 650_000


class HoldReason(IntEnum):
    """Why a transfer was held (the ``reason`` of the ``Held`` event)."""

    SCORE = 1  # score >= threshold
    MODEL_FAILED = 2  # the model call reverted, ran out of gas or returned garbage


class HoldStatus(IntEnum):
    """Where a held transfer stands."""

    UNKNOWN = 0
    HELD = 1
    RELEASED = 2
    REFUNDED = 3


@dataclass(frozen=True)
class HeldTransfer:
    """A transfer the token held; ``reason`` and ``features`` come from its ``Held`` event."""

    id: int
    sender: str
    recipient: str
    amount: int
    score: int
    model_id: str
    deadline: int
    status: HoldStatus
    reason: HoldReason | None = None
    features: tuple[int, ...] = ()

    def facts(self) -> dict[str, Any]:
        """JSON-ready values."""
        return {
            "id": self.id,
            "status": self.status.name.lower(),
            "sender": self.sender,
            "recipient": self.recipient,
            "amount": self.amount,
            "score": self.score,
            "reason": self.reason.name.lower() if self.reason else None,
            "model_id": self.model_id,
            "deadline": self.deadline,
            "features": list(self.features),
        }


@dataclass(frozen=True)
class TransferResult:
    """The receipt of a screened transfer and, when it was held, its hold id and reason."""

    receipt: Receipt
    held_id: int | None = None
    reason: HoldReason | None = None
    score: int | None = None
    features: tuple[int, ...] = ()  # the features the model saw (held transfers only)

    @property
    def held(self) -> bool:
        """True when the transfer went to escrow."""
        return self.held_id is not None


class GuardedToken:
    """A handle on one deployed GuardedToken."""

    def __init__(self, contract: Contract) -> None:
        self.contract = contract

    @property
    def env(self) -> Env:
        """The chain the token lives on."""
        return self.contract.env

    @classmethod
    def deploy(
        cls,
        env: Env,
        *,
        governor: str,
        registry: str,
        reviewer: str | None = None,
        timeout: int = DEFAULT_TIMEOUT,
        use: str = DEFAULT_USE,
        name: str = "Guarded Dollar",
        symbol: str = "gUSD",
        sender: str | None = None,
    ) -> GuardedToken:
        """Deploy a token screened by models ``registry`` approves for ``use``."""
        compiled = env.compile(contracts.source_path(CONTRACT_NAME))
        chosen = reviewer or sender or env.sender
        args = (name, symbol, governor, registry, chosen, timeout, use)
        return cls(env.deploy(compiled, *args, sender=sender))

    @classmethod
    def at(cls, env: Env, address: str) -> GuardedToken:
        """The token deployed at ``address`` (NotFoundError if there is no code)."""
        return cls(env.at(address, env.compile(contracts.source_path(CONTRACT_NAME))))

    def as_env(self, env: Env) -> GuardedToken:
        """The same token seen through another Env (one that signs for other accounts)."""
        return GuardedToken(Contract(env, self.address, self.contract.abi, self.contract.name))

    @property
    def address(self) -> str:
        """The contract's address."""
        return self.contract.address

    # -- transfers ------------------------------------------------------------------------

    def transfer(
        self, recipient: str, amount: int, *, sender: str | None = None, gas: int = TRANSFER_GAS
    ) -> TransferResult:
        """Send ``amount`` (base units) as ``sender``; say whether it was held."""
        receipt = self.contract.transact("transfer", recipient, amount, sender=sender, gas=gas)
        return self._result(receipt)

    def transfer_from(
        self,
        owner: str,
        recipient: str,
        amount: int,
        *,
        sender: str | None = None,
        gas: int = TRANSFER_GAS,
    ) -> TransferResult:
        """Move ``owner``'s tokens within ``sender``'s allowance; ``owner`` is screened."""
        receipt = self.contract.transact(
            "transferFrom", owner, recipient, amount, sender=sender, gas=gas
        )
        return self._result(receipt)

    def _result(self, receipt: Receipt) -> TransferResult:
        held = self.contract.decode_receipt(receipt, "Held")
        if not held:
            return TransferResult(receipt)
        event = held[0]
        return TransferResult(
            receipt,
            int(event["id"]),
            HoldReason(event["reason"]),
            int(event["score"]),
            tuple(int(v) for v in event["features"]),
        )

    def approve(self, spender: str, amount: int, *, sender: str | None = None) -> Receipt:
        """Let ``spender`` move up to ``amount`` of ``sender``'s tokens."""
        return self.contract.transact("approve", spender, amount, sender=sender)

    def mint(
        self, balances: dict[str, int] | Sequence[tuple[str, int]], *, batch: int = 200
    ) -> list[Receipt]:
        """Mint initial balances (owner only, before :meth:`seal_supply`), ``batch`` a call."""
        items = list(balances.items() if isinstance(balances, dict) else balances)
        receipts = []
        for start in range(0, len(items), batch):
            chunk = items[start : start + batch]
            receipts.append(
                self.contract.transact(
                    "mint_batch", [a for a, _ in chunk], [amount for _, amount in chunk]
                )
            )
        return receipts

    def seal_supply(self) -> Receipt:
        """End minting for good."""
        return self.contract.transact("seal_supply")

    # -- held transfers -------------------------------------------------------------------

    def held_transfer(self, hold_id: int) -> HeldTransfer:
        """Held transfer ``hold_id`` with its event details; NotFoundError if there is none."""
        raw: tuple[Any, ...] = self.contract.held_transfer(hold_id)
        sender, recipient, amount, score, model_id, deadline, status = raw
        if status == HoldStatus.UNKNOWN:
            raise NotFoundError(f"token {self.address} has no held transfer {hold_id}")
        events = self.contract.events("Held", id=hold_id)
        event = events[0] if events else {}
        return HeldTransfer(
            id=hold_id,
            sender=str(sender),
            recipient=str(recipient),
            amount=int(amount),
            score=int(score),
            model_id="0x" + bytes(model_id).hex(),
            deadline=int(deadline),
            status=HoldStatus(status),
            reason=HoldReason(event["reason"]) if event else None,
            features=tuple(int(v) for v in event.get("features", ())),
        )

    def held(self, *, pending_only: bool = False, from_block: int = 0) -> list[HeldTransfer]:
        """Every held transfer (or only those not settled yet), oldest first."""
        events = self.contract.events("Held", from_block=from_block)
        found = []
        for event in events:
            hold_id = int(event["id"])
            raw: tuple[Any, ...] = self.contract.held_transfer(hold_id)
            status = HoldStatus(raw[6])
            if pending_only and status != HoldStatus.HELD:
                continue
            found.append(
                HeldTransfer(
                    id=hold_id,
                    sender=str(event["sender"]),
                    recipient=str(event["recipient"]),
                    amount=int(event["amount"]),
                    score=int(event["score"]),
                    model_id="0x" + bytes(event["model_id"]).hex(),
                    deadline=int(event["deadline"]),
                    status=status,
                    reason=HoldReason(event["reason"]),
                    features=tuple(int(v) for v in event["features"]),
                )
            )
        return found

    def release(self, hold_id: int, *, sender: str | None = None) -> Receipt:
        """Reviewer: let held transfer ``hold_id`` reach its recipient."""
        return self.contract.transact("release", hold_id, sender=sender)

    def refund(self, hold_id: int, *, sender: str | None = None) -> Receipt:
        """Reviewer: return held transfer ``hold_id`` to its sender."""
        return self.contract.transact("refund", hold_id, sender=sender)

    def release_expired(self, hold_id: int, *, sender: str | None = None) -> Receipt:
        """Anyone: release held transfer ``hold_id`` once its deadline has come."""
        return self.contract.transact("release_expired", hold_id, sender=sender)

    # -- reading --------------------------------------------------------------------------

    def balance_of(self, account: str) -> int:
        """``account``'s balance in base units (cents)."""
        return int(self.contract.balanceOf(account))

    def balances(self, accounts: Sequence[str]) -> dict[str, int]:
        """Balances of several accounts."""
        return {account: self.balance_of(account) for account in accounts}

    @property
    def total_supply(self) -> int:
        """All tokens minted."""
        return int(self.contract.totalSupply())

    @property
    def escrowed(self) -> int:
        """Tokens in escrow (the amounts of unsettled held transfers)."""
        return int(self.contract.escrowed())

    def features(self, sender: str, recipient: str, amount: int) -> tuple[int, ...]:
        """The features the token would compute for this transfer now."""
        return tuple(int(v) for v in self.contract.features(sender, recipient, amount))

    def features_at(
        self, sender: str, recipient: str, amount: int, timestamp: int
    ) -> tuple[int, ...]:
        """The features of this transfer at ``timestamp``, from the current statistics."""
        values = self.contract.features_at(sender, recipient, amount, timestamp)
        return tuple(int(v) for v in values)

    def statistics(self, account: str) -> dict[str, int]:
        """``account``'s running statistics, named as in ``payments.AccountStats``."""
        names = (
            "first_seen",
            "sent_count",
            "sent_sum",
            "last_sent",
            "window_start",
            "window_count",
            "received_count",
            "last_received",
        )
        return dict(zip(names, (int(v) for v in self.contract.statistics(account)), strict=True))

    def model(self) -> tuple[str | None, str | None, int]:
        """The screening model: (model id, contract address, threshold); None before any."""
        address = str(self.contract.model())
        if address == ZERO_ADDRESS:
            return None, None, int(self.contract.threshold())
        model_id = "0x" + bytes(self.contract.model_id()).hex()
        return model_id, address, int(self.contract.threshold())

    def set_model_calldata(self, model_id: bytes | str, model: str, threshold: int) -> bytes:
        """The call a governor proposal executes to screen with ``model`` from then on."""
        return self.contract.function("set_model", 3).encode_call(
            (model_id_bytes(model_id), model, threshold)
        )


def recorded_token(env: Env, data_dir: Path) -> GuardedToken:
    """The token ``chainml guard deploy`` recorded for ``env``'s chain."""
    entry = deployment(data_dir, env.chain_id) or {}
    address = entry.get(DEPLOYMENT_NAME)
    if address is None:
        raise NotFoundError(
            f"no guarded token on chain {env.chain_id}; run `chainml guard deploy` first"
        )
    return GuardedToken.at(env, address)


def record_token(data_dir: Path, chain_id: int, address: str) -> None:
    """Record the token's address next to the governance contracts of ``chain_id``."""
    entry = dict(deployment(data_dir, chain_id) or {})
    entry[DEPLOYMENT_NAME] = address
    save_deployment(data_dir, chain_id, entry)

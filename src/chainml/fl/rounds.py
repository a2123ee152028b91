"""``FederatedRounds``: the on-chain record of a federation, deployed and driven from Python.

The coordinator deploys one contract per federation run, the governor (the deployer, or a
Governor contract) admits the participants, and each round the participants commit their
update hashes from their own accounts and the coordinator commits the global model hash.
:meth:`FederatedRounds.record` reads the whole record back from the chain (events and state),
which is what ``chainml fl audit`` compares with the artifacts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from eth_utils import keccak

from chainml import contracts
from chainml.chain import Contract, Env, Receipt
from chainml.errors import InvalidInputError

CONTRACT_NAME = "FederatedRounds"
#: Gas limit of a participant's commitment (it uses at most ~56,100): no estimate round trip.
UPDATE_GAS_LIMIT = 90_000


def bytes32(value: str, what: str) -> bytes:
    """A ``0x`` + 64 hex digits string as 32 bytes."""
    text = value[2:] if value.startswith("0x") else value
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise InvalidInputError(f"{what} must be 0x + 64 hex digits, got {value!r}")
    return raw


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


@dataclass(frozen=True)
class UpdateCommitment:
    """One participant's commitment to its update of one round."""

    round: int
    participant: str
    update_hash: str
    samples: int


@dataclass
class ChainRecord:
    """What the chain says about a federation run."""

    address: str
    governor: str
    coordinator: str
    participants: list[str] = field(default_factory=list)
    global_hashes: list[str] = field(default_factory=list)  # index = round
    updates: list[UpdateCommitment] = field(default_factory=list)
    digests: dict[int, str] = field(default_factory=dict)  # the contract's update_digest

    def recomputed_digest(self, round_: int) -> str:
        """The update digest of ``round_`` recomputed from the commitment events."""
        digest = bytes(32)
        for update in self.updates:
            if update.round == round_:
                digest = keccak(
                    digest + bytes.fromhex(update.participant[2:])
                    + bytes.fromhex(update.update_hash[2:]) + update.samples.to_bytes(32, "big")
                )  # fmt: skip
        return _hex(digest)


class FederatedRounds:
    """A handle on one deployed FederatedRounds contract."""

    def __init__(self, contract: Contract) -> None:
        self.contract = contract

    @classmethod
    def deploy(
        cls,
        env: Env,
        *,
        governor: str,
        coordinator: str,
        max_rounds: int,
        sender: str | None = None,
    ) -> FederatedRounds:
        """Deploy a record for up to ``max_rounds`` rounds."""
        compiled = env.compile(contracts.source_path(CONTRACT_NAME))
        return cls(env.deploy(compiled, governor, coordinator, max_rounds, sender=sender))

    @classmethod
    def at(cls, env: Env, address: str) -> FederatedRounds:
        """The record at ``address`` (NotFoundError if there is no code)."""
        return cls(env.at(address, env.compile(contracts.source_path(CONTRACT_NAME))))

    @property
    def address(self) -> str:
        """The contract's address."""
        return self.contract.address

    def check_ready(self, coordinator: str, participants: list[str], rounds: int) -> None:
        """Refuse a record this run cannot use (InvalidInputError naming every problem).

        Another coordinator, rounds already committed, too few rounds allowed, or
        participants the governor has not admitted.
        """
        c = self.contract
        problems = []
        if str(c.call("coordinator")).lower() != coordinator.lower():
            problems.append(f"its coordinator is {c.call('coordinator')}, not {coordinator}")
        if int(c.call("rounds_committed")) != 0:
            problems.append("it already holds rounds (deploy a new one per run)")
        if int(c.call("max_rounds")) < rounds:
            problems.append(f"it allows {c.call('max_rounds')} rounds, not {rounds}")
        missing = [p for p in participants if not c.call("is_participant", p)]
        if missing:
            problems.append(f"the governor has not admitted {', '.join(missing)}")
        if problems:
            raise InvalidInputError(f"FederatedRounds at {self.address}: " + "; ".join(problems))

    def admit(self, participant: str, *, sender: str | None = None) -> Receipt:
        """Admit ``participant`` (the governor's account sends it)."""
        return self.contract.transact("admit", participant, sender=sender)

    def commit_global(self, round_: int, model_hash: str, *, sender: str | None = None) -> Receipt:
        """The coordinator commits the global model hash of ``round_``."""
        return self.contract.transact(
            "commit_global", round_, bytes32(model_hash, "model hash"), sender=sender
        )

    def commit_update(self, round_: int, update_hash: str, samples: int, *, sender: str) -> Receipt:
        """Participant ``sender`` commits its update of ``round_`` from its own account."""
        return self.contract.transact(
            "commit_update", round_, bytes32(update_hash, "update hash"), samples,
            sender=sender, gas=UPDATE_GAS_LIMIT,
        )  # fmt: skip

    def send_update(self, round_: int, update_hash: str, samples: int, *, sender: str) -> str:
        """Send ``sender``'s commitment without waiting for it to be mined; its tx hash.

        The coordinator waits for the commitment when it checks the round
        (:meth:`wait_for_updates`), so a participant hands its update over one receipt
        round trip sooner. A commitment that reverts leaves no event, so it counts as none.
        """
        data = self.contract.function("commit_update", 3).encode_call(
            (round_, bytes32(update_hash, "update hash"), samples)
        )
        flight = self.contract.env.tx_manager(sender).send(self.address, data, 0, UPDATE_GAS_LIMIT)
        return "0x" + flight.tx_hashes[0].hex()

    def wait_for_updates(
        self, round_: int, accounts: set[str], timeout: float = 60.0
    ) -> dict[str, dict[str, Any]]:
        """The round's commitments by account (lower case), once all ``accounts`` have one.

        Waits up to ``timeout`` seconds (polling the events) for commitments still being
        mined; returns what there is then.
        """
        wanted = {a.lower() for a in accounts}
        deadline = time.monotonic() + timeout
        delay = 0.01
        while True:
            found = {
                str(e["participant"]).lower(): e
                for e in self.contract.events("UpdateCommitted", round=round_)
            }
            if wanted <= set(found) or time.monotonic() >= deadline:
                return found
            time.sleep(delay)
            delay = min(2 * delay, 0.1)

    def record(self, from_block: int = 0) -> ChainRecord:
        """The federation as the chain records it."""
        c = self.contract
        committed = int(c.call("rounds_committed"))
        updates = [
            UpdateCommitment(
                round=int(e["round"]), participant=str(e["participant"]),
                update_hash=_hex(e["update_hash"]), samples=int(e["samples"]),
            )
            for e in c.events("UpdateCommitted", from_block=from_block)
        ]  # fmt: skip
        return ChainRecord(
            address=self.address,
            governor=str(c.call("governor")),
            coordinator=str(c.call("coordinator")),
            participants=[
                str(e["participant"]) for e in c.events("ParticipantAdmitted", from_block)
            ],
            global_hashes=[_hex(c.call("global_hash", r)) for r in range(committed)],
            updates=updates,
            digests={r: _hex(c.call("update_digest", r)) for r in range(1, committed + 1)},
        )

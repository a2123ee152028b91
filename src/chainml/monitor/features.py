"""Per-transaction features, and the sliding window of recent activity they are measured against.

A transaction's features are its own fields (value, gas, selector, contract creation), the
ERC-20 ``Transfer`` and ``Approval`` logs of its receipt, and what the window of the last
``blocks`` blocks says about the addresses it touches: fan-in and fan-out (distinct
counterparties), velocity (transactions sent), first-seen age, whether a contract it
approves was created in the window, and interactions with flagged addresses. Without flags,
the window is a function of the last ``2 * blocks`` blocks alone (a mint spike in the window
was judged against the window before it), so replaying them rebuilds it exactly after a
restart or a reorg; flags, raised by alerts on earlier features, may chain further back.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

from eth_utils import keccak, to_checksum_address

from chainml.chain.backend import Receipt
from chainml.monitor.blocks import ChainTx

TRANSFER_TOPIC = keccak(text="Transfer(address,address,uint256)")
APPROVAL_TOPIC = keccak(text="Approval(address,address,uint256)")
ZERO_ADDRESS = "0x" + "00" * 20
INT256_MAX = 2**255 - 1
#: the fixed-point scale of ratio features (1000 = 1.0)
RATIO_ONE = 1000


@dataclass(frozen=True)
class TokenEvent:
    """One ERC-20 ``Transfer`` or ``Approval`` log: ``src`` moved or allowed ``amount``."""

    kind: str  # "transfer" or "approval"
    token: str
    src: str
    dst: str
    amount: int


@dataclass(frozen=True)
class TxFeatures:
    """What the detectors see of one transaction."""

    block: int
    index: int
    tx_hash: bytes
    sender: str
    to: str | None
    value: int
    gas: int
    gas_used: int
    selector: int
    creates: bool
    status: bool
    transfers: int
    approvals: int
    max_approval: int
    fresh_spender_approval: int  # largest approval to a contract created in the window
    third_party_sources: int  # distinct holders whose tokens moved, other than the sender
    sender_fan_out: int
    sender_velocity: int
    to_fan_in: int
    sender_age: int  # blocks since first seen in the window (capped at the window)
    to_age: int
    touches_flagged: bool
    mint_ratio: int  # largest mint / tokens minted earlier in the window, x RATIO_ONE
    spike_dump_ratio: int  # largest transfer out of a mint-spike holder / the spike, x RATIO_ONE
    repeated_event: int  # most times one contract emitted the very same event topics
    to_fresh: bool  # the recipient is a contract created within the fresh window
    events: tuple[TokenEvent, ...] = field(default=(), repr=False)

    def vector(self) -> tuple[int, ...]:
        """The fixed-point feature vector committed to in a decision record."""
        values = (
            self.value,
            self.gas,
            self.gas_used,
            self.selector,
            int(self.creates),
            int(self.status),
            self.transfers,
            self.approvals,
            self.max_approval,
            self.fresh_spender_approval,
            self.third_party_sources,
            self.sender_fan_out,
            self.sender_velocity,
            self.to_fan_in,
            self.sender_age,
            self.to_age,
            int(self.touches_flagged),
            self.mint_ratio,
            self.spike_dump_ratio,
            self.repeated_event,
            int(self.to_fresh),
        )
        return tuple(min(v, INT256_MAX) for v in values)


FEATURE_NAMES = (
    "value",
    "gas",
    "gas_used",
    "selector",
    "creates",
    "status",
    "transfers",
    "approvals",
    "max_approval",
    "fresh_spender_approval",
    "third_party_sources",
    "sender_fan_out",
    "sender_velocity",
    "to_fan_in",
    "sender_age",
    "to_age",
    "touches_flagged",
    "mint_ratio",
    "spike_dump_ratio",
    "repeated_event",
    "to_fresh",
)


def token_events(receipt: Receipt) -> tuple[TokenEvent, ...]:
    """The ERC-20 transfers and approvals in ``receipt`` (ERC-721 logs, 4 topics, are skipped)."""
    out = []
    for log in receipt.logs:
        if len(log.topics) != 3 or len(log.data) != 32:
            continue
        if log.topics[0] == TRANSFER_TOPIC:
            kind = "transfer"
        elif log.topics[0] == APPROVAL_TOPIC:
            kind = "approval"
        else:
            continue
        out.append(
            TokenEvent(
                kind=kind,
                token=log.address,
                src=to_checksum_address(log.topics[1][12:]),
                dst=to_checksum_address(log.topics[2][12:]),
                amount=int.from_bytes(log.data, "big"),
            )
        )
    return tuple(out)


@dataclass
class _BlockActivity:
    number: int
    edges: list[tuple[str, str]] = field(default_factory=list)
    senders: list[str] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    flagged: list[str] = field(default_factory=list)
    mints: list[tuple[str, int]] = field(default_factory=list)
    spikes: list[tuple[str, str]] = field(default_factory=list)


class Window:
    """Activity of the last ``blocks`` blocks, updated transaction by transaction."""

    def __init__(self, blocks: int = 256, *, fresh_blocks: int = 64, spike_ratio: int = 5) -> None:
        self.blocks = blocks
        self.fresh_blocks = fresh_blocks
        self.spike_ratio = spike_ratio
        self._activity: deque[_BlockActivity] = deque()
        self._pairs: Counter[tuple[str, str]] = Counter()
        self._fan_out: Counter[str] = Counter()
        self._fan_in: Counter[str] = Counter()
        self._sent: Counter[str] = Counter()
        self._seen_in: dict[str, deque[int]] = {}  # blocks an address appears in, oldest first
        self._created: dict[str, int] = {}
        self._flagged: Counter[str] = Counter()
        self._minted: Counter[str] = Counter()
        self._spikes: dict[tuple[str, str], tuple[int, int]] = {}  # (amount, block)

    # -- moving the window ---------------------------------------------------------------

    def start_block(self, number: int) -> None:
        """Begin block ``number``: forget blocks that fell out of the window."""
        while self._activity and self._activity[0].number <= number - self.blocks:
            self._evict(self._activity.popleft())
        self._activity.append(_BlockActivity(number))

    def _evict(self, old: _BlockActivity) -> None:
        for pair in old.edges:
            self._pairs[pair] -= 1
            if self._pairs[pair] == 0:
                del self._pairs[pair]
                _decrement(self._fan_out, pair[0])
                _decrement(self._fan_in, pair[1])
        for sender in old.senders:
            _decrement(self._sent, sender)
        for address in old.seen:
            blocks = self._seen_in[address]
            while blocks and blocks[0] <= old.number:
                blocks.popleft()
            if not blocks:
                del self._seen_in[address]
        for address in old.created:
            if self._created.get(address) == old.number:
                del self._created[address]
        for address in old.flagged:
            _decrement(self._flagged, address)
        for token, amount in old.mints:
            self._minted[token] -= amount
            if self._minted[token] <= 0:
                del self._minted[token]
        for key in old.spikes:
            if key in self._spikes and self._spikes[key][1] == old.number:
                del self._spikes[key]

    def flag(self, addresses: list[str]) -> None:
        """Mark ``addresses`` as flagged (by an alert) for the length of the window."""
        current = self._activity[-1]
        for address in addresses:
            current.flagged.append(address)
            self._flagged[address] += 1

    def is_flagged(self, address: str) -> bool:
        """Whether an alert flagged ``address`` within the window."""
        return address in self._flagged

    # -- one transaction -----------------------------------------------------------------

    def observe(self, index: int, tx: ChainTx, receipt: Receipt) -> TxFeatures:
        """The features of ``tx`` against the window, then add it to the window."""
        current = self._activity[-1]
        number = current.number
        events = token_events(receipt) if receipt.status else ()
        to = tx.to
        created = receipt.contract_address
        selector = int.from_bytes(tx.data[:4], "big") if to is not None and len(tx.data) >= 4 else 0

        approvals = [e for e in events if e.kind == "approval"]
        transfers = [e for e in events if e.kind == "transfer"]
        max_approval = max((e.amount for e in approvals), default=0)
        fresh = [
            e.amount
            for e in approvals
            if e.dst in self._created and number - self._created[e.dst] <= self.fresh_blocks
        ]
        third = {e.src for e in transfers if e.src not in (tx.sender, ZERO_ADDRESS)}
        touched = {tx.sender, *(a for a in (to, created) if a)}
        touched.update(e.dst for e in events)
        touched.update(e.src for e in events if e.src != ZERO_ADDRESS)
        mint_ratio = 0
        spikes: list[tuple[str, str, int]] = []
        for e in transfers:
            if e.src == ZERO_ADDRESS:
                before = self._minted[e.token]
                if before > 0:
                    ratio = e.amount * RATIO_ONE // before
                    mint_ratio = max(mint_ratio, ratio)
                    if ratio >= self.spike_ratio * RATIO_ONE:
                        spikes.append((e.token, e.dst, e.amount))
        dump = 0
        for e in transfers:
            spike = self._spikes.get((e.token, e.src))
            if spike:
                dump = max(dump, e.amount * RATIO_ONE // spike[0])

        repeats = Counter((log.address, log.topics) for log in receipt.logs if len(log.topics) > 1)
        to_fresh = (
            to is not None
            and to in self._created
            and number - self._created[to] <= self.fresh_blocks
        )
        features = TxFeatures(
            block=number,
            index=index,
            tx_hash=tx.hash,
            sender=tx.sender,
            to=to if to is not None else created,
            value=tx.value,
            gas=tx.gas,
            gas_used=receipt.gas_used,
            selector=selector,
            creates=to is None,
            status=receipt.status,
            transfers=len(transfers),
            approvals=len(approvals),
            max_approval=max_approval,
            fresh_spender_approval=max(fresh, default=0),
            third_party_sources=len(third),
            sender_fan_out=self._fan_out[tx.sender],
            sender_velocity=self._sent[tx.sender],
            to_fan_in=self._fan_in[to] if to else 0,
            sender_age=self._age(tx.sender, number),
            to_age=self._age(to, number) if to else 0,
            touches_flagged=any(a in self._flagged for a in touched),
            mint_ratio=mint_ratio,
            spike_dump_ratio=dump,
            repeated_event=max(repeats.values(), default=0),
            to_fresh=to_fresh,
            events=events,
        )

        # add the transaction to the window
        edges = [(tx.sender, to or created or ZERO_ADDRESS)]
        edges.extend((e.src, e.dst) for e in transfers)
        for pair in edges:
            if self._pairs[pair] == 0:
                self._fan_out[pair[0]] += 1
                self._fan_in[pair[1]] += 1
            self._pairs[pair] += 1
        current.edges.extend(edges)
        current.senders.append(tx.sender)
        self._sent[tx.sender] += 1
        for address in touched:
            blocks = self._seen_in.setdefault(address, deque())
            if not blocks or blocks[-1] != number:
                blocks.append(number)
                current.seen.append(address)
        if created:
            self._created[created] = number
            current.created.append(created)
        for e in transfers:
            if e.src == ZERO_ADDRESS:
                self._minted[e.token] += e.amount
                current.mints.append((e.token, e.amount))
        for token, holder, amount in spikes:
            self._spikes[(token, holder)] = (amount, number)
            current.spikes.append((token, holder))
        return features

    def _age(self, address: str, number: int) -> int:
        blocks = self._seen_in.get(address)
        return self.blocks if not blocks else min(number - blocks[0], self.blocks)


def _decrement(counter: Counter[str], key: str) -> None:
    counter[key] -= 1
    if counter[key] <= 0:
        del counter[key]

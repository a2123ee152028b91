"""The decision log's storage interface: LogStore, and the anchor and audit records it keeps.

A :class:`LogStore` holds an append-only sequence of leaves (opaque leaf data, each with an
optional 32-byte request id, unique in the log) and the hashes of every complete subtree of
their RFC 9162 Merkle tree, so tree heads and proofs cost O(log n) reads whatever the size
(see :mod:`chainml.log.subtrees`). It also remembers which tree heads were anchored on which
chain, and a few settings. :class:`~chainml.log.sqlite_store.SqliteLogStore` is the embedded
implementation; ``tests/log/test_store.py`` is the conformance suite every implementation passes.
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Self

from eth_utils import to_checksum_address

from chainml.errors import InvalidInputError, VerificationError
from chainml.log import merkle

#: One leaf to append: (leaf data, request id or None).
Leaf = tuple[bytes, bytes | None]
#: ``progress(done, total)``, called as a long operation advances.
Progress = Callable[[int, int], None]
if TYPE_CHECKING:
    from chainml.log.leader import Lease

REQUEST_ID_SIZE = 32
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


@dataclass(frozen=True)
class AnchorRecord:
    """Tree head ``(size, root)`` anchored on chain ``chain_id`` by ``tx_hash`` to ``contract``.

    The contract address is kept in its EIP-55 checksummed form, like every address in chainml,
    so records compare equal however it was spelt.
    """

    size: int
    root: bytes
    chain_id: int
    contract: str
    tx_hash: bytes
    block_number: int
    anchored_at: float  # unix time

    def __post_init__(self) -> None:
        checks = {
            "size must not be negative": self.size >= 0,
            "root must be 32 bytes": len(self.root) == merkle.HASH_SIZE,
            "chain id must be positive": self.chain_id > 0,
            "contract must be a 0x-prefixed address": bool(_ADDRESS.fullmatch(self.contract)),
            "transaction hash must be 32 bytes": len(self.tx_hash) == 32,
            "block number must not be negative": self.block_number >= 0,
            "anchored_at must be a unix time": math.isfinite(self.anchored_at)
            and self.anchored_at >= 0,
        }
        failed = [problem for problem, ok in checks.items() if not ok]
        if failed:
            raise InvalidInputError(f"invalid anchor record: {'; '.join(failed)}")
        object.__setattr__(self, "contract", checksummed(self.contract))


def checksummed(address: str) -> str:
    """Return ``address`` (0x and 40 hex digits, any case) in its EIP-55 checksummed form."""
    if not isinstance(address, str) or not _ADDRESS.fullmatch(address):
        raise InvalidInputError(f"{address!r} is not a 0x-prefixed 20-byte address")
    return str(to_checksum_address(address))


class AnchorConflictError(VerificationError):
    """An anchored tree head contradicts the log: another root for the same size."""

    def __init__(self, anchor: AnchorRecord, log_root: bytes, detail: str) -> None:
        self.anchor = anchor
        self.log_root = log_root
        self.detail = detail
        super().__init__(
            f"anchor of size {anchor.size} on chain {anchor.chain_id} ({anchor.contract}) has root "
            f"{anchor.root.hex()}, but {detail} {log_root.hex()}"
        )


class DuplicateRequestIdError(InvalidInputError):
    """A request id to append is already in the log (at leaf ``index``) or twice in the batch."""

    def __init__(self, request_id: bytes, index: int | None) -> None:
        self.request_id = request_id
        self.index = index
        where = "twice in the batch" if index is None else f"already in the log at leaf {index}"
        super().__init__(
            f"request id 0x{request_id.hex()} is {where}; nothing of the batch was appended"
        )


@dataclass(frozen=True)
class AuditProblem:
    """One finding of an audit: what is wrong, and the first leaf it implicates (if any)."""

    index: int | None
    detail: str


@dataclass(frozen=True)
class AuditReport:
    """The result of :meth:`LogStore.audit`: what was checked and the first problems found."""

    size: int
    leaves_checked: int
    nodes_checked: int
    anchors_checked: int
    problem_count: int
    problems: tuple[AuditProblem, ...]  # the ones with the smallest leaf index, those first

    @property
    def ok(self) -> bool:
        """Whether every check passed."""
        return self.problem_count == 0

    @property
    def message(self) -> str:
        """One line for people: what was checked, or the first problem and how many there are."""
        if self.ok:
            return (
                f"{self.size} leaves, {self.nodes_checked} subtree hashes and "
                f"{self.anchors_checked} anchors check out"
            )
        more = f" (and {self.problem_count - 1} more)" if self.problem_count > 1 else ""
        return f"{self.problems[0].detail}{more}"

    @property
    def first_bad_index(self) -> int | None:
        """The smallest leaf index implicated by a problem, None if no problem names a leaf."""
        indices = [p.index for p in self.problems if p.index is not None]
        return min(indices) if indices else None


def checked_size(size: int | None, current: int, name: str) -> int:
    """Return ``size`` (``current`` if None), refusing sizes outside ``[0, current]``."""
    if size is None:
        return current
    if not 0 <= size <= current:
        raise InvalidInputError(f"{name} {size} is not between 0 and the log size {current}")
    return size


class LogStore(ABC):
    """Durable storage of one append-only Merkle log, its anchored heads and its settings.

    Leaf indices run from 0 to ``size - 1``. Proof and head methods accept any historical size
    up to the current one. Implementations translate their storage errors into
    :class:`~chainml.errors.DataDirectoryError` and are usable as context managers.
    """

    # -- leaves ------------------------------------------------------------------------------

    @abstractmethod
    def append(self, leaves: Sequence[Leaf]) -> int:
        """Append a batch atomically and durably; return the index of its first leaf.

        A request id already in the log, or twice in the batch, is an InvalidInputError that
        names it, and nothing of the batch is appended. An empty batch returns the size.
        """

    @abstractmethod
    def append_all(self, batches: Callable[[int], Iterable[Sequence[Leaf]]]) -> int:
        """Append every batch ``batches(first)`` yields, all in one atomic, durable transaction.

        ``first`` is the index the first leaf will get: no other writer can append in between.
        Batches are taken one at a time, so a caller can stream more leaves than fit in memory.
        If anything fails (a refused batch as :meth:`append` refuses one, a request id repeated
        across batches, an exception from the iterable), nothing is appended and the log is as
        it was. Returns ``first``.
        """

    @abstractmethod
    def indices_of(self, request_ids: Sequence[bytes]) -> dict[bytes, int]:
        """Return ``{request id: leaf index}`` for those of ``request_ids`` that are in the log."""

    @property
    def read_only(self) -> bool:
        """Whether the store was opened read-only: every write is a DataDirectoryError."""
        return False

    @property
    @abstractmethod
    def size(self) -> int:
        """The number of leaves."""

    @abstractmethod
    def leaf_data(self, index: int) -> bytes:
        """Return the data of leaf ``index`` (NotFoundError outside the log)."""

    @abstractmethod
    def leaf_hash(self, index: int) -> bytes:
        """Return the stored leaf hash of leaf ``index`` (NotFoundError outside the log)."""

    @abstractmethod
    def index_of(self, request_id: bytes) -> int:
        """Return the index of the leaf appended with ``request_id`` (NotFoundError if none)."""

    @abstractmethod
    def iter_leaves(self, start: int = 0, end: int | None = None) -> Iterator[tuple[int, bytes]]:
        """Yield ``(index, data)`` of leaves ``[start, end)`` in order, reading in chunks."""

    # -- tree heads and proofs ---------------------------------------------------------------

    @abstractmethod
    def subtree_root(self, start: int, end: int) -> bytes:
        """Return the hash of the RFC-shaped node ``[start, end)`` (see merkle's ``*_from``)."""

    def root(self, size: int | None = None) -> bytes:
        """Return the root of the tree of the first ``size`` leaves (default: all of them)."""
        size = checked_size(size, self.size, "size")
        return merkle.EMPTY_ROOT if size == 0 else self.subtree_root(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """Return the inclusion proof of leaf ``index`` in the tree of ``size`` leaves."""
        size = checked_size(size, self.size, "size")
        return merkle.inclusion_proof_from(index, size, self.subtree_root)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """Return the consistency proof from the tree of ``old_size`` to that of ``new_size``."""
        new_size = checked_size(new_size, self.size, "new size")
        return merkle.consistency_proof_from(old_size, new_size, self.subtree_root)

    # -- anchors and settings ----------------------------------------------------------------

    @abstractmethod
    def record_anchor(self, anchor: AnchorRecord) -> None:
        """Remember that ``anchor`` is on chain; recording the same record again is a no-op.

        Its root must be this log's root at its size (AnchorConflictError otherwise, as for a
        different root already recorded for that size, chain and contract); a size beyond the
        log is an InvalidInputError.
        """

    @abstractmethod
    def anchors(
        self, chain_id: int | None = None, contract: str | None = None
    ) -> list[AnchorRecord]:
        """Return the recorded anchors, optionally of one chain and contract, by size."""

    @abstractmethod
    def latest_anchor(
        self, chain_id: int | None = None, contract: str | None = None
    ) -> AnchorRecord | None:
        """Return the recorded anchor of the largest size (the latest of those), or None."""

    @abstractmethod
    def forget_anchors(self, chain_id: int, contract: str) -> list[AnchorRecord]:
        """Forget every anchor recorded on one chain and contract; return them, by size.

        For a contract that is gone (a development node was reset): its heads anchor nothing
        any more. The leaves are untouched.
        """

    @abstractmethod
    def get_meta(self, name: str) -> str | None:
        """Return the setting ``name``, or None if it is not set."""

    @abstractmethod
    def set_meta(self, name: str, value: str) -> None:
        """Durably set the setting ``name``; names the store uses itself are refused."""

    @abstractmethod
    def delete_meta(self, name: str) -> bool:
        """Durably remove the setting ``name``; whether it was set. Store names are refused."""

    # -- leadership ----------------------------------------------------------------------------

    def lease(self, name: str, ttl: float) -> Lease | None:
        """A lease named ``name`` among the processes sharing this log (see chainml.log.leader).

        None for a store that one process writes (the embedded SQLite file): it needs no
        election, its process is the only anchorer.
        """
        return None

    # -- integrity and lifetime --------------------------------------------------------------

    @abstractmethod
    def audit(self, progress: Progress | None = None) -> AuditReport:
        """Recompute every stored hash, index and anchored root from the leaf data."""

    @abstractmethod
    def close(self) -> None:
        """Release the store; closing twice is harmless."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def leaf_range(start: int, end: int | None, size: int) -> tuple[int, int]:
    """``[start, end)`` checked against a log of ``size`` leaves (``end`` None: to the end)."""
    end = size if end is None else end
    if not 0 <= start <= end <= size:
        raise InvalidInputError(f"[{start}, {end}) is not a range of the log of size {size}")
    return start, end

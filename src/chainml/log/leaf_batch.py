"""A batch of leaves to append, checked and hashed before any store lock is taken.

Every :class:`~chainml.log.store.LogStore` refuses the same malformed batches with the same
errors; :func:`checked_batch` is where that is decided (both stores call it; the PostgreSQL
store hashes with :class:`LeafBatch`, the SQLite store in its own batch type).
"""

from __future__ import annotations

from collections.abc import Sequence
from hashlib import sha256

from chainml.errors import InvalidInputError
from chainml.log.store import REQUEST_ID_SIZE, DuplicateRequestIdError, Leaf


class LeafBatch:
    """A batch of leaves checked and hashed: data, request ids (or None) and leaf hashes."""

    __slots__ = ("datas", "hashes", "ids")

    def __init__(self, datas: list[bytes], ids: list[bytes | None]) -> None:
        self.datas = datas
        self.ids = ids
        self.hashes = [sha256(b"\x00" + data).digest() for data in datas]

    @classmethod
    def of(cls, leaves: Sequence[Leaf]) -> LeafBatch:
        """Check ``leaves`` (InvalidInputError, DuplicateRequestIdError) and hash them."""
        return cls(*checked_batch(leaves))

    @property
    def given_ids(self) -> list[bytes]:
        """The request ids of the batch, those that are not None."""
        return [i for i in self.ids if i is not None]


def checked_batch(leaves: Sequence[Leaf]) -> tuple[list[bytes], list[bytes | None]]:
    """Split a batch into data and request ids, refusing malformed leaves and repeated ids."""
    try:
        datas = [data for data, _ in leaves]
        ids = [request_id for _, request_id in leaves]
    except (TypeError, ValueError) as err:
        raise InvalidInputError("each leaf is a (data, request id or None) pair") from err
    if not all(issubclass(kind, bytes) for kind in set(map(type, datas))):  # C loops mostly
        raise InvalidInputError("leaf data must be bytes")
    given = [i for i in ids if i is not None]
    kinds = set(map(type, given))
    if not (all(issubclass(k, bytes) for k in kinds) and set(map(len, given)) <= {REQUEST_ID_SIZE}):
        raise InvalidInputError(f"a request id is {REQUEST_ID_SIZE} bytes or None")
    if len(set(given)) != len(given):
        seen: set[bytes] = set()
        for request_id in given:
            if request_id in seen:
                raise DuplicateRequestIdError(request_id, None)
            seen.add(request_id)
    return datas, ids

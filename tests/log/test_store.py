"""LogStore conformance suite, run on every implementation, then the SQLite file's own checks.

``TestLogStore`` is the contract: every store in ``BACKENDS`` passes it unchanged, the SQLite
file and a PostgreSQL schema (a throwaway one per store, see ``tests/pg.py``; those skip without
a server). ``TestSqliteFile`` covers what only a file has: reopening, damaged and foreign files,
rows tampered with through a second connection, and counting the SQL a proof costs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainml.errors import DataDirectoryError, InvalidInputError, NotFoundError, VerificationError
from chainml.log import merkle, subtrees
from chainml.log.sqlite_store import SqliteLogStore
from chainml.log.store import (
    AnchorConflictError,
    AnchorRecord,
    AuditReport,
    DuplicateRequestIdError,
    Leaf,
    LogStore,
)

Opener = Callable[[Path], LogStore]  # opens (or creates) the store kept under a directory


def _sqlite(merge_every: int) -> Opener:
    return lambda directory: SqliteLogStore(directory / "log.sqlite", merge_every=merge_every)


def _postgres(directory: Path) -> LogStore:
    from tests.pg import ThrowawayStore

    return ThrowawayStore()


BACKENDS: dict[str, Opener] = {
    "sqlite": _sqlite(1 << 17),
    # request ids leave memory for the on-disk index every 16 leaves, so both tiers are tested
    "sqlite-merging": _sqlite(16),
    "postgres": _postgres,
}
CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def data_of(i: int) -> bytes:
    """Leaf data of leaf ``i`` in these tests: varied lengths, empty included."""
    return hashlib.sha256(i.to_bytes(8, "big")).digest()[: i % 7] * (i % 5)


def rid(i: int) -> bytes:
    return hashlib.sha256(b"request" + i.to_bytes(8, "big")).digest()


def leaves(start: int, n: int, ids: bool = True) -> list[Leaf]:
    return [(data_of(i), rid(i) if ids and i % 3 else None) for i in range(start, start + n)]


def fill(store: LogStore, batches: list[int]) -> list[bytes]:
    """Append batches of the given sizes; return all leaf hashes, computed independently."""
    for n in batches:
        store.append(leaves(store.size, n))
    return [merkle.leaf_hash(data_of(i)) for i in range(store.size)]


def anchor(store: LogStore, size: int, **changes: object) -> AnchorRecord:
    fields: dict[str, object] = {
        "size": size,
        "root": store.root(size),
        "chain_id": 1337,
        "contract": CONTRACT,
        "tx_hash": hashlib.sha256(b"tx%d" % size).digest(),
        "block_number": 10 + size,
        "anchored_at": 1_700_000_000.0 + size,
    }
    fields.update(changes)
    return AnchorRecord(**fields)  # type: ignore[arg-type]


@pytest.fixture(params=sorted(BACKENDS))
def opener(request: pytest.FixtureRequest) -> Opener:
    return BACKENDS[request.param]


@pytest.fixture
def store(opener: Opener, tmp_path: Path) -> Iterator[LogStore]:
    with opener(tmp_path) as opened:
        yield opened


def unchanged(store: LogStore) -> tuple[int, bytes, list[AnchorRecord]]:
    return store.size, store.root(), store.anchors()


class TestLogStore:
    """The behaviour every LogStore implementation shares."""

    def test_an_empty_store(self, store: LogStore) -> None:
        assert store.size == 0
        assert store.root() == store.root(0) == merkle.EMPTY_ROOT
        assert store.append([]) == 0
        assert list(store.iter_leaves()) == []
        assert store.anchors() == [] and store.latest_anchor() is None
        assert store.consistency_proof(0) == []
        report = store.audit()
        assert report.ok and report.size == 0 and report.problems == ()

    def test_append_returns_the_first_index_and_everything_reads_back(
        self, store: LogStore
    ) -> None:
        assert store.append(leaves(0, 5)) == 0
        assert store.append([]) == 5
        assert store.append(leaves(5, 1)) == 5
        assert store.append(leaves(6, 2500)) == 6
        assert store.size == 2506
        for i in [0, 1, 4, 5, 6, 1023, 1024, 2505]:
            assert store.leaf_data(i) == data_of(i)
            assert store.leaf_hash(i) == merkle.leaf_hash(data_of(i))
            if i % 3:
                assert store.index_of(rid(i)) == i
        # streaming reads cross their internal chunks without a gap
        assert list(store.iter_leaves()) == [(i, data_of(i)) for i in range(2506)]
        assert list(store.iter_leaves(1000, 1030)) == [(i, data_of(i)) for i in range(1000, 1030)]
        assert list(store.iter_leaves(7, 7)) == []

    @settings(
        max_examples=20,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(
        batches=st.lists(st.integers(0, 400), min_size=1, max_size=10),
        seed=st.integers(0, 2**32),
    )
    def test_heads_and_proofs_equal_the_list_based_reference(
        self, opener: Opener, batches: list[int], seed: int
    ) -> None:
        with tempfile.TemporaryDirectory() as directory, opener(Path(directory)) as store:
            half = len(batches) // 2
            early = self._sample(store, fill(store, batches[:half]), seed)
            hashes = fill(store, batches[half:])
            # proofs for sizes reached earlier are unchanged by the appends since
            assert self._sample(store, hashes, seed, sizes=list(early)) == early
            self._sample(store, hashes, seed + 1)
            assert store.root() == merkle.root(hashes)

    @staticmethod
    def _sample(
        store: LogStore, hashes: list[bytes], seed: int, sizes: list[int] | None = None
    ) -> dict[int, tuple[bytes, list[list[bytes]], list[list[bytes]]]]:
        """Check roots and proofs at sampled sizes against merkle's list-based functions."""
        n, rng = len(hashes), random.Random(seed)
        if sizes is None:
            edges = {0, 1, 2, 3, n - 1, n} | {k + d for k in (64, 256, 1024) for d in (-1, 0, 1)}
            sizes = sorted(
                {k for k in edges if 0 <= k <= n} | {rng.randint(0, n) for _ in range(8)}
            )
        seen = {}
        for k in sizes:
            rng = random.Random(seed * 1_000_003 + k)  # the same sample whenever k comes again
            prefix = hashes[:k]
            expected_root = merkle.root(prefix)
            assert store.root(k) == expected_root
            inclusions, consistencies = [], []
            for i in sorted({0, k - 1, rng.randrange(k)} if k else set()):
                proof = store.inclusion_proof(i, k)
                assert proof == merkle.inclusion_proof(i, prefix)
                merkle.verify_inclusion(hashes[i], i, k, proof, expected_root)
                inclusions.append(proof)
            for m in sorted({0, 1, k // 2, rng.randint(0, k), k} & set(range(k + 1))):
                proof = store.consistency_proof(m, k)
                assert proof == merkle.consistency_proof(m, prefix)
                merkle.verify_consistency(m, k, merkle.root(hashes[:m]), expected_root, proof)
                consistencies.append(proof)
            seen[k] = (expected_root, inclusions, consistencies)
        return seen

    def test_subtree_root_serves_rfc_shaped_nodes_only(self, store: LogStore) -> None:
        hashes = fill(store, [13])
        assert store.subtree_root(8, 12) == merkle.root(hashes[8:12])  # complete
        assert store.subtree_root(8, 13) == merkle.root(hashes[8:13])  # right edge of 13
        assert store.subtree_root(0, 13) == merkle.root(hashes)
        for start, end in [(4, 13), (1, 3), (3, 3), (8, 14), (-1, 1)]:
            with pytest.raises(InvalidInputError):
                store.subtree_root(start, end)

    def test_sizes_and_indices_out_of_range_are_refused(self, store: LogStore) -> None:
        fill(store, [10])
        calls: list[Callable[[], object]] = [
            lambda: store.root(11),
            lambda: store.root(-1),
            lambda: store.inclusion_proof(10),
            lambda: store.inclusion_proof(3, 11),
            lambda: store.inclusion_proof(-1),
            lambda: store.consistency_proof(5, 3),
            lambda: store.consistency_proof(3, 11),
            lambda: store.consistency_proof(-1),
            lambda: store.iter_leaves(5, 11),
            lambda: store.iter_leaves(6, 5),
        ]
        for call in calls:
            with pytest.raises(InvalidInputError):
                call()
        for index in (10, -1):
            with pytest.raises(NotFoundError):
                store.leaf_data(index)
            with pytest.raises(NotFoundError):
                store.leaf_hash(index)

    def test_a_request_id_twice_in_a_batch_appends_nothing(self, store: LogStore) -> None:
        fill(store, [20])
        before = unchanged(store)
        batch = [*leaves(20, 3), (b"again", rid(22)), *leaves(23, 2)]
        with pytest.raises(DuplicateRequestIdError, match=rid(22).hex()) as caught:
            store.append(batch)
        assert caught.value.index is None
        assert unchanged(store) == before
        with pytest.raises(NotFoundError):
            store.index_of(rid(20))

    @pytest.mark.parametrize("taken", [1, 28, 47], ids=["oldest", "middle", "newest"])
    def test_a_request_id_already_logged_appends_nothing(self, store: LogStore, taken: int) -> None:
        fill(store, [20, 20, 10])  # sqlite-merging: ids below 40 on disk, the newest in memory
        assert store.index_of(rid(taken)) == taken
        before = unchanged(store)
        with pytest.raises(DuplicateRequestIdError, match=rid(taken).hex()) as caught:
            store.append([*leaves(50, 4), (b"retry", rid(taken)), *leaves(54, 4)])
        assert caught.value.index == taken
        assert isinstance(caught.value, InvalidInputError)
        assert unchanged(store) == before
        with pytest.raises(NotFoundError):
            store.index_of(rid(52))
        # the rest of the batch goes in once the duplicate is left out
        assert store.append(leaves(50, 8)) == 50
        assert store.index_of(rid(52)) == 52 and store.index_of(rid(taken)) == taken

    def test_append_all_streams_batches_into_one_append(self, store: LogStore) -> None:
        fill(store, [5])
        sizes = [3, 0, 40, 1, 200]
        starts = [5 + sum(sizes[:k]) for k in range(len(sizes))]
        taken: list[int] = []

        def batches(first: int) -> Iterator[list[Leaf]]:
            taken.append(first)
            for start, n in zip(starts, sizes, strict=True):
                yield leaves(start, n)

        assert store.append_all(batches) == 5 and taken == [5]
        assert store.size == 5 + sum(sizes)
        assert store.root() == merkle.root(fill(store, []))
        assert all(store.index_of(rid(i)) == i for i in range(store.size) if i % 3)
        assert store.append_all(lambda first: iter(())) == store.size  # nothing to append

    @pytest.mark.parametrize("where", ["in the log", "in an earlier batch", "in the same batch"])
    def test_append_all_refuses_everything_for_one_repeated_request_id(
        self, store: LogStore, where: str
    ) -> None:
        fill(store, [20, 20])  # sqlite-merging: ids on disk and in memory
        before = unchanged(store)
        repeated = {"in the log": rid(7), "in an earlier batch": rid(41), "in the same batch": None}
        last = [*leaves(140, 5), (b"again", repeated[where] or rid(142))]

        def batches(first: int) -> Iterator[list[Leaf]]:
            yield from (leaves(40 + 20 * k, 20) for k in range(5))  # merges on the way
            yield last

        with pytest.raises(DuplicateRequestIdError):
            store.append_all(batches)
        assert unchanged(store) == before
        for i in (41, 60, 139):
            with pytest.raises(NotFoundError):
                store.index_of(rid(i))
        assert store.indices_of([rid(7), rid(41)]) == {rid(7): 7}
        # the store goes on as if the failed append had never been tried
        assert store.append_all(lambda first: [leaves(40, 100)]) == 40
        assert store.root() == merkle.root(fill(store, []))
        assert store.index_of(rid(41)) == 41 and store.index_of(rid(7)) == 7
        assert store.audit().ok

    def test_append_all_appends_nothing_when_the_batches_fail(self, store: LogStore) -> None:
        fill(store, [10])
        before = unchanged(store)

        class BrokenStreamError(Exception):
            pass

        def batches(first: int) -> Iterator[list[Leaf]]:
            yield leaves(first, 300)
            raise BrokenStreamError

        with pytest.raises(BrokenStreamError):
            store.append_all(batches)
        assert unchanged(store) == before
        with pytest.raises(NotFoundError):
            store.index_of(rid(11))
        assert store.append(leaves(10, 2)) == 10 and store.index_of(rid(11)) == 11

    def test_indices_of_finds_logged_request_ids_only(self, store: LogStore) -> None:
        fill(store, [20, 20, 10])
        wanted = [rid(i) for i in range(60)]
        assert store.indices_of(wanted) == {rid(i): i for i in range(50) if i % 3}
        assert store.indices_of([]) == {}
        with pytest.raises(InvalidInputError):
            store.indices_of([b"short"])

    def test_malformed_leaves_are_refused(self, store: LogStore) -> None:
        fill(store, [4])
        before = unchanged(store)
        bad: list[list[object]] = [
            [(b"ok", None), ("text", None)],
            [(b"ok", b"short")],
            [(b"ok", None, None)],
            [b"no pair"],
        ]
        for batch in bad:
            with pytest.raises(InvalidInputError):
                store.append(batch)  # type: ignore[arg-type]
        for request_id in (b"", b"x" * 33):
            with pytest.raises(InvalidInputError):
                store.index_of(request_id)
        with pytest.raises(NotFoundError):
            store.index_of(b"\x00" * 32)
        assert unchanged(store) == before

    def test_anchors_are_recorded_listed_and_never_contradicted(self, store: LogStore) -> None:
        fill(store, [40])
        first, second = anchor(store, 10), anchor(store, 30)
        other_chain = anchor(
            store, 30, chain_id=10, contract="0x" + "ab" * 20, anchored_at=1_800_000_000.0
        )
        for record in (second, first, other_chain):
            store.record_anchor(record)
        store.record_anchor(first)  # the same record again: a no-op
        assert store.anchors() == [first, other_chain, second]  # by size, then chain id
        assert store.anchors(chain_id=1337) == [first, second]
        assert store.anchors(contract=CONTRACT.lower()) == [first, second]
        assert store.latest_anchor() == other_chain  # same size, anchored later
        assert store.latest_anchor(chain_id=1337) == second
        assert store.latest_anchor(chain_id=5) is None
        assert first.contract == CONTRACT  # checksummed, however it was given
        assert anchor(store, 10, contract=CONTRACT.lower()) == first

        before = store.anchors()
        forged = anchor(store, 10, root=store.root(11))
        with pytest.raises(AnchorConflictError, match="the root recorded") as caught:
            store.record_anchor(forged)
        assert caught.value.log_root == first.root
        with pytest.raises(VerificationError, match="the log's root at that size"):
            store.record_anchor(anchor(store, 12, root=store.root(13)))
        with pytest.raises(InvalidInputError):
            store.record_anchor(dataclasses.replace(anchor(store, 40), size=41))
        assert store.anchors() == before
        # the same head anchored by another transaction (e.g. after a reorg) moves its reference
        moved = anchor(store, 10, tx_hash=b"\x01" * 32, block_number=99)
        store.record_anchor(moved)
        assert store.anchors(chain_id=1337) == [moved, second]
        assert store.audit().ok

    def test_anchor_records_validate_their_fields(self) -> None:
        good = {
            "size": 1,
            "root": b"\x00" * 32,
            "chain_id": 1,
            "contract": CONTRACT,
            "tx_hash": b"\x00" * 32,
            "block_number": 0,
            "anchored_at": 0.0,
        }
        AnchorRecord(**good)  # type: ignore[arg-type]
        for field, value, word in [
            ("size", -1, "size"),
            ("root", b"\x00" * 31, "root"),
            ("chain_id", 0, "chain id"),
            ("contract", "0x1234", "contract"),
            ("tx_hash", b"", "transaction hash"),
            ("block_number", -1, "block number"),
            ("anchored_at", float("nan"), "unix time"),
        ]:
            with pytest.raises(InvalidInputError, match=word):
                AnchorRecord(**{**good, field: value})  # type: ignore[arg-type]

    def test_settings(self, store: LogStore) -> None:
        assert store.get_meta("contract:1337") is None
        store.set_meta("contract:1337", CONTRACT)
        store.set_meta("contract:1337", CONTRACT.lower())
        assert store.get_meta("contract:1337") == CONTRACT.lower()
        for reserved in ("size", "format_version"):
            with pytest.raises(InvalidInputError):
                store.set_meta(reserved, "1")

    def test_an_untouched_store_audits_clean_with_progress(self, store: LogStore) -> None:
        fill(store, [3000, 1000, 4097])
        store.record_anchor(anchor(store, 4096))
        store.record_anchor(anchor(store, 5000))
        store.record_anchor(anchor(store, 8097))
        seen: list[tuple[int, int]] = []
        report = store.audit(lambda done, total: seen.append((done, total)))
        assert report.ok, report.problems
        assert report.first_bad_index is None and "check out" in report.message
        assert (report.size, report.leaves_checked, report.anchors_checked) == (8097, 8097, 3)
        assert report.nodes_checked == sum(8097 >> level for level in range(1, 14))
        assert seen[-1] == (8097, 8097)
        assert [done for done, _ in seen] == sorted(done for done, _ in seen)


# ---------------------------------------------------------------------------------------------
# The SQLite file
# ---------------------------------------------------------------------------------------------


def _raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def _flip(value: bytes, at: int) -> bytes:
    changed = bytearray(value)
    changed[at] ^= 0x01
    return bytes(changed)


@pytest.fixture
def log_file(tmp_path: Path) -> Path:
    """A closed log of 610 leaves in seven batches, two anchors.

    Request ids of leaves below 600 are in the on-disk index, younger ones only in memory;
    subtrees of 256 leaves and more are in the upper table.
    """
    path = tmp_path / "log.sqlite"
    with SqliteLogStore(path, merge_every=16) as store:
        for n in (7, 30, 1, 50, 12, 500, 10):
            store.append(leaves(store.size, n))
        store.record_anchor(anchor(store, 64))
        store.record_anchor(anchor(store, 100))
        assert store.audit().ok
    return path


def _audit(path: Path) -> AuditReport:
    with SqliteLogStore(path, merge_every=16) as store:
        report = store.audit()
    assert not report.ok
    return report


def _swap_rows(db: sqlite3.Connection, a: int, b: int) -> None:
    db.execute("UPDATE leaves SET idx = -1 WHERE idx = ?", (a,))
    db.execute("UPDATE leaves SET idx = ? WHERE idx = ?", (a, b))
    db.execute("UPDATE leaves SET idx = ? WHERE idx = -1", (b,))


def _swap_records(db: sqlite3.Connection, a: int, b: int) -> None:
    """Swap two leaves' data, request ids and leaf hashes, leaving the subtree hashes in place."""
    sql = "SELECT data, request_id, hashes FROM leaves WHERE idx = ?"
    (da, ra, ha), (db_, rb, hb) = (db.execute(sql, (i,)).fetchone() for i in (a, b))
    update = "UPDATE leaves SET data = ?, request_id = ?, hashes = ? WHERE idx = ?"
    db.execute("UPDATE leaves SET request_id = NULL WHERE idx IN (?, ?)", (a, b))
    db.execute(update, (db_, rb, hb[:32] + ha[32:], a))
    db.execute(update, (da, ra, ha[:32] + hb[32:], b))


def _set_hashes(db: sqlite3.Connection, index: int, change: Callable[[bytes], bytes]) -> None:
    (hashes,) = db.execute("SELECT hashes FROM leaves WHERE idx = ?", (index,)).fetchone()
    db.execute("UPDATE leaves SET hashes = ? WHERE idx = ?", (change(hashes), index))


def _flip_upper(db: sqlite3.Connection, level: int, index: int) -> None:
    sql = "SELECT hash FROM upper WHERE level = ? AND idx = ?"
    (value,) = db.execute(sql, (level, index)).fetchone()
    sql = "UPDATE upper SET hash = ? WHERE level = ? AND idx = ?"
    db.execute(sql, (_flip(value, 9), level, index))


def _set_data(db: sqlite3.Connection, index: int) -> None:
    (data,) = db.execute("SELECT data FROM leaves WHERE idx = ?", (index,)).fetchone()
    db.execute("UPDATE leaves SET data = ? WHERE idx = ?", (_flip(data, 0), index))


# node (3, 5) covers leaves 40-47 and is stored with leaf 47, 32 bytes at offset 3 * 32
assert subtrees.completing_leaf(3, 5) == 47
TAMPERING: dict[str, tuple[Callable[[sqlite3.Connection], object], int]] = {
    "leaf data": (lambda db: _set_data(db, 37), 37),
    "leaf hash": (lambda db: _set_hashes(db, 37, lambda h: _flip(h, 5)), 37),
    "internal node": (lambda db: _set_hashes(db, 47, lambda h: _flip(h, 3 * 32 + 7)), 40),
    "deleted leaf": (lambda db: db.execute("DELETE FROM leaves WHERE idx = 37"), 37),
    "deleted last leaf": (lambda db: db.execute("DELETE FROM leaves WHERE idx = 609"), 609),
    "upper node": (lambda db: _flip_upper(db, 8, 1), 256),  # node (8, 1): leaves 256-511
    "deleted upper node": (
        lambda db: db.execute("DELETE FROM upper WHERE level = 8 AND idx = 1"),
        511,
    ),
    "swapped rows": (lambda db: _swap_rows(db, 40, 53), 40),
    "swapped records": (lambda db: _swap_records(db, 40, 53), 40),
    "truncated hashes": (lambda db: _set_hashes(db, 47, lambda h: h[:64]), 47),
    "request id": (
        lambda db: db.execute("UPDATE leaves SET request_id = ? WHERE idx = 20", (b"\x07" * 32,)),
        20,
    ),
    "request id reused": (
        lambda db: db.execute("UPDATE leaves SET request_id = ? WHERE idx = 605", (rid(20),)),
        605,
    ),
    "request index": (
        lambda db: db.execute("UPDATE request_runs SET idx = 3 WHERE idx = 20"),
        20,
    ),
    "size lowered": (lambda db: db.execute("UPDATE meta SET value = '90' WHERE name = 'size'"), 90),
    # leaf 31 takes leaf 20's id, and the index is made to agree: only a full comparison sees it
    "request id reused in the index": (lambda db: _reuse_indexed_id(db, 20, 31), 31),
    "young id deleted": (lambda db: db.execute("DELETE FROM young WHERE idx = 605"), 605),
    "young id changed": (
        lambda db: db.execute("UPDATE young SET request_id = ? WHERE idx = 604", (rid(9),)),
        604,
    ),
    "run deleted": (lambda db: db.execute("DELETE FROM runs WHERE start = 37"), 37),
}


def _reuse_indexed_id(db: sqlite3.Connection, owner: int, thief: int) -> None:
    key = int.from_bytes(rid(owner)[:8], "big", signed=True)
    db.execute("UPDATE leaves SET request_id = ? WHERE idx = ?", (rid(owner), thief))
    db.execute("UPDATE request_runs SET key = ? WHERE idx = ?", (key, thief))


class TestSqliteFile:
    """What only the SQLite implementation has: a file, its rows, and its SQL."""

    def test_reopening_gives_back_everything(self, tmp_path: Path) -> None:
        path = tmp_path / "log.sqlite"
        with SqliteLogStore(path, merge_every=16) as store:
            hashes = fill(store, [10, 300, 1, 45])
            store.record_anchor(anchor(store, 300))
            store.set_meta("contract:1", CONTRACT)
            roots = [store.root(k) for k in range(len(hashes) + 1)]
            saved = store.anchors()
        with SqliteLogStore(path, create=False) as store:
            assert store.size == len(hashes)
            assert [store.root(k) for k in range(len(hashes) + 1)] == roots
            assert roots[-1] == merkle.root(hashes)
            assert list(store.iter_leaves()) == [(i, data_of(i)) for i in range(len(hashes))]
            assert all(store.index_of(rid(i)) == i for i in range(len(hashes)) if i % 3)
            assert store.anchors() == saved and store.get_meta("contract:1") == CONTRACT
            assert store.audit().ok
            # and the log goes on where it stopped
            assert store.append(leaves(356, 5)) == 356
            assert store.root() == merkle.root(fill(store, []))

    def test_two_handles_on_one_file_see_each_others_appends(self, tmp_path: Path) -> None:
        path = tmp_path / "log.sqlite"
        with SqliteLogStore(path, merge_every=8) as a, SqliteLogStore(path, merge_every=8) as b:
            a.append(leaves(0, 5))
            assert b.size == 5 and b.index_of(rid(4)) == 4
            b.append(leaves(5, 20))  # b continues a's tree from a's frontier
            a.append(leaves(25, 3))
            with pytest.raises(DuplicateRequestIdError):
                b.append([(b"x", rid(26))])
            hashes = [merkle.leaf_hash(data_of(i)) for i in range(28)]
            assert a.root() == b.root() == merkle.root(hashes)
            assert a.index_of(rid(20)) == b.index_of(rid(20)) == 20
            assert a.audit().ok

    @pytest.mark.parametrize("name", sorted(TAMPERING))
    def test_tampering_is_found_at_the_first_tampered_leaf(self, log_file: Path, name: str) -> None:
        tamper, expected = TAMPERING[name]
        with closing(_raw(log_file)) as db:
            tamper(db)
        report = _audit(log_file)
        assert report.first_bad_index == expected, report.problems
        assert report.problems[0].index == expected
        if name in ("leaf data", "leaf hash", "internal node", "upper node"):
            # one changed value blames one place (changed data also changes the anchored roots)
            blamed = [p for p in report.problems if p.index is not None]
            assert len(blamed) == 1, report.problems

    def test_an_anchor_that_does_not_match_the_leaves_fails_the_audit(self, log_file: Path) -> None:
        with closing(_raw(log_file)) as db:
            db.execute("UPDATE anchors SET root = ? WHERE size = 64", (b"\x00" * 32,))
        report = _audit(log_file)
        assert (report.first_bad_index, report.problem_count) == (None, 1)
        assert "anchor of size 64" in report.message and "differs" in report.message

    def test_a_request_id_indexed_for_no_leaf_fails_the_audit(self, log_file: Path) -> None:
        with closing(_raw(log_file)) as db:
            db.execute("INSERT INTO request_runs (run, key, idx) VALUES (0, 9, 3)")
        report = _audit(log_file)
        # the entry is counted, and it is not among the keys packed with its run
        assert (report.first_bad_index, report.problem_count) == (None, 2)
        details = " ".join(p.detail for p in report.problems)
        assert "request-id index has" in details and "keys packed with index run 0" in details

    @pytest.mark.parametrize("table", ["meta", "leaves", "header"])
    def test_a_damaged_file_is_refused_and_left_untouched(self, log_file: Path, table: str) -> None:
        with closing(_raw(log_file)) as db:
            roots = dict(db.execute("SELECT name, rootpage FROM sqlite_master").fetchall())
            page = db.execute("PRAGMA page_size").fetchone()[0]
        raw = log_file.read_bytes()
        start = 0 if table == "header" else (roots[table] - 1) * page
        damaged = raw[:start] + random.Random(7).randbytes(page) + raw[start + page :]
        log_file.write_bytes(damaged)
        with pytest.raises(DataDirectoryError) as caught:
            SqliteLogStore(log_file)
        assert caught.value.exit_code == 6 and isinstance(caught.value.__cause__, sqlite3.Error)
        assert log_file.read_bytes() == damaged

    def test_files_that_are_not_chainml_logs_are_refused(self, tmp_path: Path) -> None:
        other = tmp_path / "other.sqlite"
        with closing(_raw(other)) as db:
            db.execute("CREATE TABLE leaves (x)")
        before = other.read_bytes()
        with pytest.raises(DataDirectoryError, match="not a chainml log"):
            SqliteLogStore(other)
        assert other.read_bytes() == before
        text = tmp_path / "notes.txt"
        text.write_text("hello, this is not a database at all" * 100)
        with pytest.raises(DataDirectoryError):
            SqliteLogStore(text)
        assert text.read_text().startswith("hello")
        with pytest.raises(DataDirectoryError, match="does not exist"):
            SqliteLogStore(tmp_path / "missing.sqlite", create=False)
        with pytest.raises(DataDirectoryError):
            SqliteLogStore(tmp_path / "no" / "such" / "dir.sqlite")
        with pytest.raises(InvalidInputError):
            SqliteLogStore(tmp_path / "x.sqlite", durability="sometimes")

    def test_an_unknown_format_version_is_refused(self, log_file: Path) -> None:
        with closing(_raw(log_file)) as db:
            db.execute("UPDATE meta SET value = '99' WHERE name = 'format_version'")
        with pytest.raises(DataDirectoryError, match="format version 99"):
            SqliteLogStore(log_file)

    def test_proofs_read_logarithmically_many_nodes(self, tmp_path: Path) -> None:
        size = (1 << 16) + 3
        path = tmp_path / "log.sqlite"
        with SqliteLogStore(path, durability="normal") as store:
            store.append([(i.to_bytes(4, "big"), None) for i in range(size)])
        statements: list[str] = []
        with SqliteLogStore(path) as store:  # reopened: nothing cached but the frontier
            store._conn.set_trace_callback(statements.append)
            reads = 0
            for call in (
                lambda: store.inclusion_proof(size // 2 + 1),
                lambda: store.inclusion_proof(size - 2, size - 1),
                lambda: store.consistency_proof(size // 3, size - 1),
                lambda: store.root(size - 5),
            ):
                statements.clear()
                result = call()
                reads = sum("FROM leaves" in s for s in statements)
                assert 0 < reads <= 2 * 17 + 2, (reads, result)
            # an append hashes the new nodes from the frontier held in memory: no node is read
            statements.clear()
            store.append([(b"one more", None), (b"and another", rid(1))])
            assert not [s for s in statements if "hashes" in s and s.startswith("SELECT")]
            assert store.root() == merkle.root(
                [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(size)]
                + [merkle.leaf_hash(b"one more"), merkle.leaf_hash(b"and another")]
            )


class TestFormatAndStartUp:
    """Format 2 (append-only index runs, a saved filter), and migrating a format 1 file."""

    def test_a_restart_reads_no_leaf_rows_to_find_request_ids(self, tmp_path: Path) -> None:
        path = tmp_path / "log.sqlite"
        with SqliteLogStore(path, merge_every=64) as store:
            # 3,500 indexed in seven runs (the filter is saved every 3,276, one byte of it a 160
            # leaves), 30 young
            fill(store, [500] * 7 + [30])
        assert (tmp_path / "log.sqlite-filter").is_file()
        statements: list[str] = []
        with SqliteLogStore(path, merge_every=64) as store:
            store._conn.set_trace_callback(statements.append)
            with pytest.raises(DuplicateRequestIdError) as caught:
                store.append([(b"new", rid(9000)), (b"again", rid(3511))])
            assert caught.value.index == 3511
            store.append([(b"new", rid(9000))])
            scans = [s for s in statements if "FROM leaves" in s and "idx >=" in s]
            assert not scans, scans  # the young ids come from their narrow table
            assert store._head._saved > 0  # the filter came from its file, not from the index
            assert store.index_of(rid(4)) == 4 and store.audit().ok

    def test_a_filter_save_killed_by_kill_9_leaves_no_file_for_good(self, tmp_path: Path) -> None:
        # what a save killed before its rename leaves: a temporary named after a gone process
        dead = tmp_path / ".log.sqlite-filter.999999999.abc.tmp"
        dead.write_bytes(b"half a filter")
        with SqliteLogStore(tmp_path / "log.sqlite", merge_every=64) as store:
            fill(store, [500] * 7)
            store._head.saved()
        assert not dead.exists() and (tmp_path / "log.sqlite-filter").is_file()

    @pytest.mark.parametrize("damage", ["flipped", "truncated", "another log's"])
    def test_a_bad_filter_file_is_rebuilt_and_duplicates_are_still_caught(
        self, tmp_path: Path, damage: str
    ) -> None:
        path = tmp_path / "log.sqlite"
        with SqliteLogStore(path, merge_every=32) as store:
            fill(store, [2000, 2000])
        saved = (tmp_path / "log.sqlite-filter").read_bytes()
        if damage == "another log's":
            with SqliteLogStore(tmp_path / "other.sqlite", merge_every=32) as other:
                other.append([(b"x", rid(5000 + i)) for i in range(4000)])
            raw = (tmp_path / "other.sqlite-filter").read_bytes()
        elif damage == "flipped":
            raw = _flip(saved, len(saved) // 2)
        else:
            raw = saved[: len(saved) - 5]
        (tmp_path / "log.sqlite-filter").write_bytes(raw)
        with SqliteLogStore(path, merge_every=32) as store:
            with pytest.raises(DuplicateRequestIdError) as caught:
                store.append([(b"again", rid(4))])
            assert caught.value.index == 4 and store._head._saved == 0  # rebuilt, not trusted

    def test_a_format_1_log_is_migrated_on_a_writable_open(self, tmp_path: Path) -> None:
        path = tmp_path / "log.sqlite"
        with SqliteLogStore(path, merge_every=16) as store:
            hashes = fill(store, [40, 30, 5])  # indexed below 70, five young
            root = store.root()
        _to_format_1(path)
        with pytest.raises(DataDirectoryError, match=r"format version 1.*write access"):
            SqliteLogStore(path, read_only=True)
        with SqliteLogStore(path, merge_every=16) as store:
            assert store.root() == root == merkle.root(hashes) and store.audit().ok
            assert all(store.index_of(rid(i)) == i for i in range(75) if i % 3)
            with pytest.raises(DuplicateRequestIdError) as caught:
                store.append([(b"again", rid(8))])
            assert caught.value.index == 8
            store.append(leaves(75, 40))  # merges a new run after the migrated one
            assert store.audit().ok and store.get_meta("format_version") == "2"
        with SqliteLogStore(path, read_only=True) as store:
            assert store.index_of(rid(100)) == 100


def _to_format_1(path: Path) -> None:
    """Rewrite a format 2 log as format 1 kept it: one requests B-tree, no runs, no young."""
    with closing(_raw(path)) as db:
        (indexed,) = db.execute("SELECT value FROM meta WHERE name = 'indexed_size'").fetchone()
        db.execute("CREATE TABLE requests (request_id BLOB PRIMARY KEY, idx INTEGER NOT NULL)")
        db.execute(
            "INSERT INTO requests SELECT request_id, idx FROM leaves"
            " WHERE idx < ? AND request_id IS NOT NULL",
            (int(indexed),),
        )
        for table in ("runs", "request_runs", "young"):
            db.execute(f"DROP TABLE {table}")
        db.execute("DELETE FROM meta WHERE name = 'log_id'")
        db.execute("UPDATE meta SET value = '1' WHERE name = 'format_version'")
    path.with_name(path.name + "-filter").unlink(missing_ok=True)


class TestRequestFilter:
    """The in-memory Bloom filter in front of the on-disk request-id index."""

    def test_added_ids_are_always_candidates_across_layers(self) -> None:
        from chainml.log.request_filter import RequestFilter

        found = RequestFilter(16)
        added = [rid(i) for i in range(0, 700_000, 2)]  # more than the first layer holds
        for start in range(0, len(added), 50_000):
            found.add(added[start : start + 50_000])
        assert len(found._layers) > 1 and found.count == len(added)
        assert found.candidates(added) == added
        others = [rid(i) for i in range(1, 200_001, 2)]
        assert len(found.candidates(others)) < len(others) // 20  # few false positives

    @settings(max_examples=40, deadline=None)
    @given(
        added=st.lists(st.binary(min_size=32, max_size=32), max_size=300),
        asked=st.lists(st.binary(min_size=32, max_size=32), min_size=32, max_size=300),
        seed=st.integers(0, 2**32 - 1),
    )
    def test_a_batch_is_checked_as_each_id_alone(
        self, added: list[bytes], asked: list[bytes], seed: int
    ) -> None:
        """The vectorised check (a batch of 32 ids or more) answers as the one-id loop."""
        from chainml.log.request_filter import RequestFilter, request_key, request_keys

        found = RequestFilter(16)
        found.add(added)
        rng = random.Random(seed)
        for bits, _ in found._layers:  # half the bits set: each probe decides often
            noise = rng.randbytes(len(bits))
            bits[:] = bytes(a | b for a, b in zip(bits, noise, strict=True))
        asked = asked + added[: len(added) // 2]
        one_by_one = [i for i in asked if found.candidates([i])]  # below 32: the Python loop
        assert found.candidates(asked) == one_by_one
        assert set(added) <= set(found.candidates(added + asked))
        assert request_keys(asked) == [request_key(i) for i in asked]

    def test_a_duplicate_is_caught_whatever_the_filter_says(self, tmp_path: Path) -> None:
        with SqliteLogStore(tmp_path / "log.sqlite", merge_every=16) as store:
            fill(store, [40, 40])  # ids below 80 are on disk, behind the filter
            head = store._head
            assert head._filter is not None and head._filtered == head.indexed >= 64
            # full of other ids: every id may be there, so each one is looked up
            head._filter.add(rid(i) for i in range(1000, 60_000))
            for bits, _ in head._filter._layers:
                bits[:] = b"\xff" * len(bits)
            before = unchanged(store)
            with pytest.raises(DuplicateRequestIdError, match=rid(7).hex()) as caught:
                store.append([*leaves(80, 5), (b"again", rid(7)), *leaves(85, 5)])
            assert caught.value.index == 7 and unchanged(store) == before
            assert store.append(leaves(80, 30)) == 80  # false positives cost lookups, no more
            assert store.index_of(rid(100)) == 100 and store.audit().ok

    def test_a_duplicate_appended_by_another_connection_is_caught(self, tmp_path: Path) -> None:
        path = tmp_path / "log.sqlite"
        with SqliteLogStore(path, merge_every=8) as a, SqliteLogStore(path, merge_every=8) as b:
            a.append(leaves(0, 20))  # a's filter holds the ids a merged
            assert a._head._filter is not None
            b.append(leaves(20, 30))  # b merges ids a has never seen
            b.append(leaves(50, 3))  # and keeps the newest in memory
            for taken in (22, 49, 50):
                with pytest.raises(DuplicateRequestIdError) as caught:
                    a.append([*leaves(60, 2), (b"retry", rid(taken))])
                assert caught.value.index == taken
            assert a.size == b.size == 53
        with SqliteLogStore(path, merge_every=8) as c:  # a new process: its filter from disk
            with pytest.raises(DuplicateRequestIdError) as caught:
                c.append([(b"retry", rid(4))])
            assert caught.value.index == 4 and c.audit().ok

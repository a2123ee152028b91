"""What only the PostgreSQL store has: a schema, its versions, shared writers, URLs, round trips.

The LogStore contract itself runs on PostgreSQL in ``test_store.py``; these tests need a server
too (they skip without one, see ``tests/pg.py``) and each works in a schema of its own.
"""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg
import pytest

from chainml.config import load_settings
from chainml.errors import DataDirectoryError, InvalidInputError
from chainml.log import merkle
from chainml.log.decision_log import DecisionLog
from chainml.log.postgres_schema import LATEST_VERSION, LogDatabase, redacted
from chainml.log.postgres_store import PostgresLogStore
from chainml.log.store import DuplicateRequestIdError
from chainml.log.store_url import open_store
from tests.log.test_store import anchor, data_of, fill, leaves, rid
from tests.pg import SERVER, fresh_schema, schema_url


@pytest.fixture
def url() -> object:
    with fresh_schema() as schema:
        yield schema_url(schema)


def _sql(url: str, statement: str) -> None:
    database = LogDatabase.from_url(url)
    with psycopg.connect(database.conninfo, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{database.schema}"')
        conn.execute(statement)


def test_reopening_gives_back_everything(url: str) -> None:
    with PostgresLogStore(url) as store:
        hashes = fill(store, [10, 300, 1, 45])
        store.record_anchor(anchor(store, 300))
        store.set_meta("contract:1", "0x" + "ab" * 20)
        saved = store.anchors()
    with PostgresLogStore(url, create=False) as store:
        assert store.size == len(hashes) and store.root() == merkle.root(hashes)
        assert all(store.index_of(rid(i)) == i for i in range(len(hashes)) if i % 3)
        assert store.anchors() == saved and store.get_meta("contract:1") == "0x" + "ab" * 20
        assert store.append(leaves(356, 5)) == 356  # the frontier is read back from the rows
        assert store.root() == merkle.root(fill(store, []))
        assert store.audit().ok


def test_two_stores_on_one_schema_continue_each_others_tree(url: str) -> None:
    with PostgresLogStore(url) as a, PostgresLogStore(url) as b:
        a.append(leaves(0, 5))
        assert b.size == 5 and b.index_of(rid(4)) == 4
        b.append(leaves(5, 300))  # b reads a's frontier, then writes upper nodes
        a.append(leaves(305, 3))
        with pytest.raises(DuplicateRequestIdError) as caught:
            b.append([(b"x", rid(307))])
        assert caught.value.index == 307
        hashes = [merkle.leaf_hash(data_of(i)) for i in range(308)]
        assert a.root() == b.root() == merkle.root(hashes)
        assert b.inclusion_proof(306) == merkle.inclusion_proof(306, hashes)


def test_concurrent_writers_never_leave_a_gap_or_repeat_an_index(url: str) -> None:
    firsts: list[tuple[int, int, int]] = []  # (first index, writer, round)
    errors: list[BaseException] = []

    def write(writer: int) -> None:
        try:
            with PostgresLogStore(url) as store:
                for round_ in range(15):
                    batch = [(b"w%d-%d-%d" % (writer, round_, k), None) for k in range(37)]
                    firsts.append((store.append(batch), writer, round_))
        except BaseException as err:
            errors.append(err)

    PostgresLogStore(url).close()  # created once, before the race
    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    with PostgresLogStore(url) as store:
        assert store.size == 4 * 15 * 37
        assert sorted(first for first, _, _ in firsts) == list(range(0, store.size, 37))
        for first, writer, round_ in firsts:  # each batch where its append said
            assert store.leaf_data(first + 36) == b"w%d-%d-36" % (writer, round_)
        assert store.audit().ok


def test_proofs_take_one_round_trip_once_the_size_is_known(url: str) -> None:
    with PostgresLogStore(url) as store:
        hashes = fill(store, [5000])
        store.root()  # the size is known from here on
        statements: list[str] = []

        class Counting(psycopg.Cursor):  # type: ignore[type-arg]
            def execute(self, query, params=None, **kwargs):  # type: ignore[no-untyped-def]
                statements.append(str(query))
                return super().execute(query, params, **kwargs)

        assert store._conn is not None
        store._conn.cursor_factory = Counting
        proof = store.inclusion_proof(1234, 5000)
        assert proof == merkle.inclusion_proof(1234, hashes)
        assert len(statements) == 1
        statements.clear()
        assert store.consistency_proof(777, 5000) == merkle.consistency_proof(777, hashes)
        assert len(statements) == 1
        statements.clear()  # at the current size: the size is read by the same statement
        assert store.inclusion_proof(4321) == merkle.inclusion_proof(4321, hashes)
        assert store.root() == merkle.root(hashes)
        assert len(statements) == 2
        with PostgresLogStore(url) as other:  # another writer: the size moved on
            other.append(leaves(5000, 3))
        hashes = [merkle.leaf_hash(data_of(i)) for i in range(5003)]
        statements.clear()
        assert store.inclusion_proof(4321) == merkle.inclusion_proof(4321, hashes)
        assert len(statements) == 2  # planned for 5000, read again for 5003


def test_tampering_is_found_by_the_audit(url: str) -> None:
    with PostgresLogStore(url) as store:
        fill(store, [600])
        store.record_anchor(anchor(store, 300))
    cases = {
        "UPDATE leaves SET data = data || 'x'::bytea WHERE idx = 37": 37,
        "UPDATE upper SET hash = decode(repeat('00', 32), 'hex') WHERE level = 8 AND idx = 1": 256,
        "DELETE FROM leaves WHERE idx = 599": 599,
    }
    for statement, first_bad in cases.items():
        with fresh_schema() as schema:
            copy = schema_url(schema)
            with PostgresLogStore(copy) as store:
                fill(store, [600])
            _sql(copy, statement)
            with PostgresLogStore(copy) as store:
                report = store.audit()
            assert not report.ok and report.first_bad_index == first_bad, (statement, report)


def test_a_newer_schema_is_refused_and_left_alone(url: str) -> None:
    PostgresLogStore(url).close()
    _sql(url, f"INSERT INTO schema_versions (version) VALUES ({LATEST_VERSION + 1})")
    for read_only in (False, True):
        with pytest.raises(DataDirectoryError, match=f"version {LATEST_VERSION + 1}, newer"):
            PostgresLogStore(url, read_only=read_only)


def test_foreign_schemas_and_missing_logs_are_refused(url: str) -> None:
    with pytest.raises(DataDirectoryError, match="no chainml log"):
        PostgresLogStore(url, create=False)
    database = LogDatabase.from_url(url)
    with psycopg.connect(database.conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{database.schema}"')
        conn.execute(f'CREATE TABLE "{database.schema}".payments (id int)')
    with pytest.raises(DataDirectoryError, match="not a chainml log"):
        PostgresLogStore(url)


def test_read_only_stores_refuse_writes(url: str) -> None:
    with PostgresLogStore(url) as store:
        fill(store, [10])
    with PostgresLogStore(url, read_only=True) as store:
        assert store.read_only and store.size == 10
        with pytest.raises(DataDirectoryError, match="read-only"):
            store.append(leaves(10, 1))
        with pytest.raises(DataDirectoryError):
            store.set_meta("x", "y")


def test_urls_choose_the_store_and_hide_passwords(tmp_path: Path, url: str) -> None:
    with open_store(url) as store:
        assert isinstance(store, PostgresLogStore)
    with open_store(f"sqlite://{tmp_path / 'log.sqlite'}") as store:
        assert store.size == 0 and (tmp_path / "log.sqlite").exists()
    for bad in ("mysql://x/y", "postgresql://h/d?schema=Bad-Name", "log.sqlite"):
        with pytest.raises(InvalidInputError):
            open_store(bad)
    assert "s3cret" not in redacted("postgresql://me:s3cret@db/x")
    assert "s3cret" not in repr(load_settings({"CHAINML_LOG_URL": "postgresql://me:s3cret@db/x"}))
    # the setting opens the shared log instead of the data directory's file
    settings = load_settings({"CHAINML_LOG_URL": url, "CHAINML_DATA_DIR": str(tmp_path / "d")})
    with DecisionLog.open(settings.data_dir, url=settings.log_url) as log:
        assert isinstance(log.store, PostgresLogStore)
    assert not (tmp_path / "d").exists()


def test_an_unreachable_server_is_a_clear_error() -> None:
    with pytest.raises(DataDirectoryError, match="log database"):
        PostgresLogStore("postgresql://root@127.0.0.1:1/none?connect_timeout=2")
    assert SERVER  # the reachable one is used everywhere else


def test_a_lost_connection_fails_one_call_and_the_next_reconnects(url: str) -> None:
    with PostgresLogStore(url) as store:
        fill(store, [20])
        assert store._conn is not None
        pid = store._conn.info.backend_pid
        with psycopg.connect(SERVER, autocommit=True) as admin:  # the server drops us
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(DataDirectoryError, match="log database"):
            store.append(leaves(20, 5))
        assert store.append(leaves(20, 5)) == 20  # a new connection, the frontier read again
        assert store.root() == merkle.root(fill(store, []))


def test_stores_opened_at_once_on_a_new_schema_create_it_once(url: str) -> None:
    opened: list[PostgresLogStore] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            opened.append(PostgresLogStore(url))
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    try:
        assert not errors and len(opened) == 4  # the migration lock serialized them
        log_ids = {store.get_meta("log_id") for store in opened}
        assert len(log_ids) == 1 and None not in log_ids
        database = LogDatabase.from_url(url)
        with psycopg.connect(database.conninfo) as conn:
            sql = f'SELECT version FROM "{database.schema}".schema_versions'
            assert [v for (v,) in conn.execute(sql)] == [LATEST_VERSION]
    finally:
        for store in opened:
            store.close()

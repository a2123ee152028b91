"""Durability of the embedded chain: SIGKILL never loses an acknowledged transaction, and a
damaged data directory is refused, never silently reset or rewritten."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from chainml import contracts
from chainml.chain import Contract, Env, LogFilter, connect
from chainml.config import Settings
from chainml.errors import DataDirectoryError
from tests.kill import run_then_kill

WRITER = Path(__file__).with_name("writer.py")
ROUNDS = 5
# Receipt look-ups of sealed transactions cost tens of ms each (the block is decoded every
# time), so the receipts of a sample are read; the logs check every acknowledgement.
RECEIPT_SAMPLE = 40
GAS = 100_000
Damage = Callable[[bytes, dict[str, int], random.Random], bytes]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Vyper cache with Counter compiled once, shared by the tests and the writer."""
    path = tmp_path_factory.mktemp("vyper")
    contracts.load("Counter", path)
    return path


def _counter(env: Env, data_dir: Path, cache: Path) -> Contract:
    address = (data_dir / "counter.address").read_text().strip()
    return env.at(address, contracts.load("Counter", cache))


def _acknowledged(ack_file: Path) -> list[tuple[bytes, int]]:
    """(tx hash, expected count) per acknowledged transaction; a torn last line is ignored."""
    if not ack_file.exists():
        return []
    complete = ack_file.read_text().split("\n")[:-1]
    return [(bytes.fromhex(h.removeprefix("0x")), int(n)) for h, n in map(str.split, complete)]


def _run_and_kill(data_dir: Path, ack_file: Path, cache: Path, delay: float, log: Path) -> int:
    """Start the writer, let it send for ``delay`` seconds, SIGKILL it; return its start count."""
    return run_then_kill(WRITER, [str(data_dir), str(ack_file), str(cache)], delay, log)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_sigkill_never_loses_an_acknowledged_transaction(tmp_path: Path, cache: Path) -> None:
    data_dir, ack_file = tmp_path / "chain", tmp_path / "acknowledged.txt"
    rng = random.Random(20_240_611)
    at_risk: list[tuple[bytes, int]] = []  # first and last acknowledgement of each round
    for round_ in range(ROUNDS):
        before = _acknowledged(ack_file)
        log = tmp_path / f"writer-{round_}.log"
        start_count = _run_and_kill(data_dir, ack_file, cache, rng.uniform(0.3, 1.5), log)
        # each restart sees at least every increment acknowledged before the kill
        assert start_count >= (before[-1][1] if before else 0)
        this_round = _acknowledged(ack_file)[len(before) :]
        at_risk += this_round[:1] + this_round[-1:]

    acked = _acknowledged(ack_file)
    assert acked, "the writer acknowledged nothing: the test exercised no transaction"
    assert len({tx_hash for tx_hash, _ in acked}) == len(acked)
    assert [count for _, count in acked] == sorted({count for _, count in acked})

    with connect(Settings(data_dir=data_dir)) as env:
        counter = _counter(env, data_dir, cache)
        incremented = counter.event("Incremented")
        logs = env.logs(LogFilter(addresses=(counter.address,), topics=((incremented.topic,),)))
        on_chain = {log.tx_hash: incremented.decode(log)["count"] for log in logs}
        # every acknowledged increment is on chain, with the count the writer expected
        lost = [f"0x{h.hex()} (count {n})" for h, n in acked if on_chain.get(h) != n]
        assert not lost, f"{len(lost)} acknowledged transactions lost: {lost[:5]}"
        # the state agrees with the history: one event per increment, each exactly once
        value = counter.call("count")
        assert value >= len(acked)
        assert len(logs) == value
        assert sorted(on_chain.values()) == list(range(1, value + 1))

        # receipts: every round's first and last acknowledgement (nearest a kill or a
        # recovery) and a sample of the rest; the logs above already cover them all
        for tx_hash, count in at_risk + rng.sample(acked, min(RECEIPT_SAMPLE, len(acked))):
            receipt = env.backend.wait_for_receipt(tx_hash, timeout=1.0)
            assert receipt.status, f"acknowledged transaction 0x{tx_hash.hex()} failed"
            events = counter.decode_receipt(receipt, "Incremented")
            assert [event["count"] for event in events] == [count]

        # and the chain still takes new transactions after all those kills
        assert counter.transact("increment", gas=GAS).status
        assert counter.call("count") == value + 1


def _make_chain(data_dir: Path, cache: Path, increments: int = 30) -> None:
    with connect(Settings(data_dir=data_dir)) as env:
        counter = env.deploy(contracts.load("Counter", cache), 0, gas=1_000_000)
        for _ in range(increments):
            counter.transact("increment", gas=GAS)
    assert (data_dir / "chain.sqlite").is_file()


def _garbage(db: bytes, table_roots: dict[str, int], rng: random.Random) -> bytes:
    return rng.randbytes(len(db))


def _middle_page(db: bytes, table_roots: dict[str, int], rng: random.Random) -> bytes:
    page = int.from_bytes(db[16:18], "big") or 65_536  # header field; 1 means 65536
    middle = (len(db) // page // 2) * page
    return db[:middle] + rng.randbytes(page) + db[middle + page :]


def _page_of(table: str) -> Damage:
    """Damage the root page of ``table`` (kv, meta or journal)."""

    def damage(db: bytes, table_roots: dict[str, int], rng: random.Random) -> bytes:
        page = int.from_bytes(db[16:18], "big") or 65_536
        start = (table_roots[table] - 1) * page
        return db[:start] + rng.randbytes(page) + db[start + page :]

    return damage


@pytest.mark.parametrize(
    "damage",
    [_garbage, _middle_page, _page_of("meta"), _page_of("journal")],
    ids=["garbage", "middle-page", "meta-page", "journal-page"],
)
def test_corrupted_database_is_refused_and_left_untouched(
    tmp_path: Path, cache: Path, damage: Damage
) -> None:
    data_dir = tmp_path / "chain"
    _make_chain(data_dir, cache)
    db_path = data_dir / "chain.sqlite"
    with closing(sqlite3.connect(db_path)) as db:
        roots = dict(db.execute("SELECT name, rootpage FROM sqlite_master").fetchall())
    damaged = damage(db_path.read_bytes(), roots, random.Random(7))
    db_path.write_bytes(damaged)
    mnemonic = (data_dir / "mnemonic").read_bytes()

    with pytest.raises(DataDirectoryError) as caught:
        connect(Settings(data_dir=data_dir))

    assert caught.value.exit_code == 6
    assert db_path.read_bytes() == damaged
    assert (data_dir / "mnemonic").read_bytes() == mnemonic


def test_missing_mnemonic_next_to_a_chain_is_refused(tmp_path: Path, cache: Path) -> None:
    data_dir = tmp_path / "chain"
    _make_chain(data_dir, cache)
    db_path = data_dir / "chain.sqlite"
    before = db_path.read_bytes()
    (data_dir / "mnemonic").unlink()

    with pytest.raises(DataDirectoryError, match="mnemonic"):
        connect(Settings(data_dir=data_dir))

    assert not (data_dir / "mnemonic").exists(), "a new mnemonic was created over the chain"
    assert db_path.read_bytes() == before

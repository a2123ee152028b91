"""Benchmark: the decision log's SQLite store against pymerkle's SqliteTree, in one run.

The same ABI-encoded DecisionRecords (3 features, 480 bytes each) go, in batches of 10,000,
each batch one durable transaction, to (a) chainml's ``SqliteLogStore(durability="full")`` with
request ids, (b) the same without request ids, like for like with (c) the baseline, pymerkle
7.0.0 ``SqliteTree.append_entries`` (SHA-256, RFC 9162 hashing, SQLite rollback journal,
synchronous=FULL); then through the ``DecisionLog`` facade, which also builds and encodes the
records. At that size it times random inclusion and consistency proofs of both (then verifies
them: ours with ``chainml.log.merkle``, pymerkle's with its own verifier), cross-checks roots
and paths, and times the tree head after a one-record append.

On the embedded chain, a fresh ``DecisionLog`` contract per measurement anchors the log's head
at 10,000 leaves, then the head N leaves later (the log is extended as needed), and the second
anchor's gas is divided by N; a transaction per decision (a plain transfer, or storing the leaf
hash in a minimal contract) is the comparison. The on-chain consistency check is measured by
anchoring one more leaf at sizes 2^10 .. 10^6. ``--big`` repeats proofs and tree head at 10M
leaves (ours; pymerkle too with ``--big-pymerkle``), in ~5 GB of temporary disk.

Run: ``.venv/bin/python benchmarks/log.py [--records N] [--big] [--json PATH]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pymerkle
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from rich.table import Table

from chainml import contracts
from chainml.chain import Env, connect
from chainml.chain.costs import STATED_PRICES, signed_size
from chainml.config import Settings
from chainml.errors import ProofError
from chainml.log import merkle
from chainml.log.decision_log import Decision, DecisionLog
from chainml.log.record import DecisionRecord, commit_features
from chainml.log.sqlite_store import SqliteLogStore
from chainml.log.store import Leaf

BATCH = 10_000
ANCHOR_FROM = 10_000  # the head anchored before each batch (capped at half the log)
ANCHOR_BATCHES = (1_000, 100_000, 1_000_000)
GAS_SIZES = (2**10, 2**14, 2**17, 2**20, 10**6)  # those up to twice --records are measured
HEAD_SAMPLES = 50
_NEIGHBOURS = {"to_next": 0, "from_previous": -1}  # anchor s -> s + 1, and s - 1 -> s
SEED = 9162
MODEL_ID = hashlib.sha256(b"chainml benchmark model").digest()
FEATURES = [(i % 97, -(i % 13), 1_000 + i) for i in range(64)]
COMMITMENTS = [commit_features(f) for f in FEATURES]
LEAF_PER_TX = """# pragma version ~=0.4.3
count: public(uint256)
leaves: public(HashMap[uint256, bytes32])

@external
def log_leaf(leaf_hash: bytes32):
    self.leaves[self.count] = leaf_hash
    self.count += 1
"""
DEFAULT_JSON = Path(__file__).parent / "results" / "log.json"
console = Console()


def _progress() -> Progress:
    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
    )


def _request_id(index: int) -> bytes:
    return hashlib.sha256(b"request %d" % index).digest()


def _leaves(start: int, count: int) -> list[Leaf]:
    """Leaves ``start`` .. ``start + count - 1``: encoded DecisionRecords and their request ids."""
    out = []
    for i in range(start, start + count):
        k = i % len(FEATURES)
        record = DecisionRecord(
            sequence=i,
            timestamp_ms=1_750_000_000_000 + i,
            model_id=MODEL_ID,
            input_commitment=COMMITMENTS[k],
            score=i % 5_000 - 2_500,
            label=i & 1,
            request_id=_request_id(i),
            features=FEATURES[k],
        )
        out.append((record.encode(), record.request_id))
    return out


def _decisions(start: int, count: int) -> list[Decision]:
    return [
        Decision(MODEL_ID, i % 5_000 - 2_500, i & 1, _request_id(i), FEATURES[i % len(FEATURES)])
        for i in range(start, start + count)
    ]


def _timed(fn: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


def _latency(seconds: Sequence[float]) -> dict[str, Any]:
    ms = sorted(s * 1000 for s in seconds)
    p99 = ms[math.ceil(0.99 * len(ms)) - 1]  # nearest rank: the maximum below 100 samples
    return {"samples": len(ms), "median_ms": statistics.median(ms), "p99_ms": p99, "max_ms": ms[-1]}


def _disk(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def _rate(name: str, count: int, seconds: float, ids: bool, disk: int) -> dict[str, Any]:
    return {
        "implementation": name,
        "records": count,
        "seconds": seconds,
        "records_per_s": count / seconds,
        "request_ids": ids,
        "disk_bytes": disk,
        "bytes_per_record": disk / count,
    }


def _timed_batches(progress: Progress, label: str, batches: list[Any], append: Callable) -> float:
    task = progress.add_task(label, total=sum(map(len, batches)))
    seconds = 0.0
    for batch in batches:
        seconds += _timed(append, batch)[1]
        progress.advance(task, len(batch))
    return seconds


def bench_append(work: Path, n: int) -> tuple[dict[str, Any], SqliteLogStore, pymerkle.SqliteTree]:
    """Durable appends of the same records: ours (with, without request ids), pymerkle, facade."""
    with _progress() as progress:  # only around long phases: its refresh thread takes the GIL
        return _append_all(progress, work, n)


def _append_all(
    progress: Progress, work: Path, n: int
) -> tuple[dict[str, Any], SqliteLogStore, pymerkle.SqliteTree]:
    task = progress.add_task("encoding records", total=n)
    batches = []
    for start in range(0, n, BATCH):
        batches.append(_leaves(start, min(BATCH, n - start)))
        progress.advance(task, len(batches[-1]))
    paths = {name: work / name / "log.sqlite" for name in ("ours", "bare", "pymerkle", "facade")}
    for path in paths.values():
        path.parent.mkdir()
    ours = SqliteLogStore(paths["ours"], durability="full")
    tree = pymerkle.SqliteTree(str(paths["pymerkle"]))
    rows = {}
    seconds = _timed_batches(progress, "chainml (ids)", batches, ours.append)
    rows["chainml"] = _rate("chainml (ids)", n, seconds, True, _disk(paths["ours"]))
    with SqliteLogStore(paths["bare"], durability="full") as bare:
        no_ids = [[(data, None) for data, _ in batch] for batch in batches]
        seconds = _timed_batches(progress, "chainml (no ids)", no_ids, bare.append)
    rows["chainml_no_ids"] = _rate("chainml (no ids)", n, seconds, False, _disk(paths["bare"]))
    datas = [[data for data, _ in batch] for batch in batches]
    seconds = _timed_batches(progress, "pymerkle", datas, lambda b: tree.append_entries(b, len(b)))
    rows["pymerkle"] = _rate("pymerkle", n, seconds, False, _disk(paths["pymerkle"]))
    del batches, no_ids, datas
    with DecisionLog(SqliteLogStore(paths["facade"], durability="full")) as log:
        task = progress.add_task("DecisionLog facade", total=n)
        seconds = 0.0
        for start in range(0, n, BATCH):
            decisions = _decisions(start, min(BATCH, n - start))  # the caller's objects
            seconds += _timed(log.append, decisions)[1]
            progress.advance(task, len(decisions))
    rows["chainml_facade"] = _rate("chainml facade", n, seconds, True, _disk(paths["facade"]))
    return rows, ours, tree


def _proof_summary(size: int, inclusion: list, consistency: list, verified: int) -> dict:
    return {
        "size": size,
        "inclusion": _latency([seconds for _, seconds in inclusion]),
        "consistency": _latency([seconds for _, seconds in consistency]),
        "verified": verified,
        "proofs": len(inclusion) + len(consistency),
    }


def ours_proofs(store: SqliteLogStore, size: int, count: int, rng: random.Random) -> dict:
    """Time ``count`` random proofs of each kind, then verify them all with chainml.log.merkle."""
    pairs = [(rng.randrange(size), rng.randrange(1, size)) for _ in range(count)]
    inclusion = [_timed(store.inclusion_proof, i, size) for i, _ in pairs]
    consistency = [_timed(store.consistency_proof, old, size) for _, old in pairs]
    root, verified = store.root(size), 0
    for (index, old), (proof, _), (path, _) in zip(pairs, inclusion, consistency, strict=True):
        try:
            leaf = merkle.leaf_hash(store.leaf_data(index))
            merkle.verify_inclusion(leaf, index, size, proof, root)
            merkle.verify_consistency(old, size, store.root(old), root, path)
            verified += 2
        except ProofError:
            pass
    return _proof_summary(size, inclusion, consistency, verified)


def pymerkle_proofs(tree: pymerkle.SqliteTree, size: int, count: int, rng: random.Random) -> dict:
    """The same for pymerkle (1-based leaf indices), verified with pymerkle's own verifier."""
    pairs = [(rng.randrange(size) + 1, rng.randrange(1, size)) for _ in range(count)]
    inclusion = [_timed(tree.prove_inclusion, i, size) for i, _ in pairs]
    consistency = [_timed(tree.prove_consistency, old, size) for _, old in pairs]
    root, verified = tree.get_root(size), 0
    for (index, old), (proof, _), (path, _) in zip(pairs, inclusion, consistency, strict=True):
        try:
            leaf = tree.hash_buff(tree.get_entry(index))
            pymerkle.verify_inclusion(leaf, root, proof, index=index, size=size)
            pymerkle.verify_consistency(tree.get_root(old), root, path, old, size)
            verified += 2
        except pymerkle.InvalidProof:
            pass
    summary = _proof_summary(size, inclusion, consistency, verified)
    return {**summary, "cache": "pymerkle's LRU subroot cache starts cold (appends skip it)"}


def cross_check(store: SqliteLogStore, tree: pymerkle.SqliteTree, rng: random.Random) -> dict:
    """Do both give the same roots and inclusion paths for the same entries?"""
    size = store.size
    sizes = sorted({1, min(size, 1_000), size})
    indices = [rng.randrange(size) for _ in range(3)]
    roots = all(store.root(s) == tree.get_root(s) for s in sizes)
    paths = all(
        tree.prove_inclusion(i + 1, size).path == [store.leaf_hash(i), *store.inclusion_proof(i)]
        for i in indices
    )
    return {
        "sizes": sizes,
        "roots_agree": roots,
        "indices": indices,
        "inclusion_paths_agree": paths,
    }


def bench_head(store: SqliteLogStore, tree: pymerkle.SqliteTree | None, count: int) -> dict:
    """Append one record (durably), then read the tree head: ours, another connection, pymerkle."""
    samples: dict[str, list[float]] = {k: [] for k in ("append", "root", "reader", "pm_root")}
    agree = True
    with SqliteLogStore(store.path, create=False) as reader:
        for _ in range(count):
            leaf = _leaves(store.size, 1)
            samples["append"].append(_timed(store.append, leaf)[1])
            root, seconds = _timed(store.root)
            samples["root"].append(seconds)
            seen, seconds = _timed(reader.root)
            samples["reader"].append(seconds)
            agree &= seen == root
            if tree is not None:
                tree.append_entries([leaf[0][0]])
                samples["pm_root"].append(_timed(tree.get_root)[1])
    latencies = {k: _latency(v) for k, v in samples.items() if v}
    return {"size": store.size, "reader_agrees": agree, **latencies}


def _extend(progress: Progress, store: SqliteLogStore, size: int) -> None:
    task = progress.add_task("extending the log", total=max(0, size - store.size))
    while store.size < size:
        store.append(_leaves(store.size, min(BATCH, size - store.size)))
        progress.update(task, completed=store.size)


def _anchor_gas(env: Env, store: SqliteLogStore, old: int, new: int) -> dict[str, Any]:
    """Anchor ``old`` on a fresh contract, then ``new`` with its proof; the second one's gas."""
    contract = env.deploy(env.compile(contracts.source_path("DecisionLog")))
    contract.anchor(old, store.root(old), [])
    proof = store.consistency_proof(old, new)
    receipt = contract.anchor(new, store.root(new), proof)
    calldata = contract.function("anchor", 3).encode_call((new, store.root(new), proof))
    index = random.Random(new).randrange(new)  # and the chain verifies an inclusion proof
    included = contract.verify_inclusion(
        store.leaf_hash(index), index, new, store.inclusion_proof(index, new)
    )
    return {
        "from_size": old,
        "to_size": new,
        "proof_length": len(proof),
        "gas_used": receipt.gas_used,
        "tx_bytes": signed_size(calldata),
        "inclusion_verified_on_chain": bool(included),
    }


def bench_anchoring(
    store: SqliteLogStore, records: int, batches: Sequence[int], work: Path
) -> dict[str, Any]:
    start = min(ANCHOR_FROM, max(1, records // 2))
    sizes = [s for s in GAS_SIZES if s <= 2 * records]
    with _progress() as progress:
        _extend(progress, store, max(start + max(batches), max(sizes, default=0) + 1))
    with connect(Settings(data_dir=work / "chain")) as env:
        rows = []
        for n in batches:
            row = _anchor_gas(env, store, start, start + n)
            rows.append({"batch": n, **row, "gas_per_decision": row["gas_used"] / n})
        by_size = [{"size": s, **{k: _anchor_gas(env, store, s + d, s + d + 1)
                                  for k, d in _NEIGHBOURS.items()}} for s in sizes]  # fmt: skip
        transfer = env.transact(env.accounts[1], value=1).gas_used
        source = work / "LeafPerTx.vy"
        source.write_text(LEAF_PER_TX)
        per_tx = env.deploy(env.compile(source))
        gas = [per_tx.log_leaf(hashlib.sha256(b"%d" % k).digest()).gas_used for k in range(3)]
    return {
        "batches": rows,
        "consistency_check_by_size": by_size,
        "per_decision_tx": {
            "plain_transfer_gas": transfer,
            "store_leaf_hash_gas": gas[-1],  # steady state: a new slot per leaf, count != 0
            "store_leaf_hash_contract": "LeafPerTx: leaves[count] = leaf_hash; count += 1",
        },
    }


def bench_big(
    work: Path, n: int, proofs: int, baseline_proofs: int, with_pm: bool
) -> dict[str, Any]:
    """Ours (and optionally pymerkle) at ``n`` leaves; the files are deleted afterwards."""
    (work / "big").mkdir()
    path = work / "big" / "log.sqlite"
    store = SqliteLogStore(path, durability="full")
    tree = pymerkle.SqliteTree(str(work / "big" / "pymerkle.sqlite")) if with_pm else None
    seconds = {"chainml": 0.0, "pymerkle": 0.0}
    with _progress() as progress:
        task = progress.add_task(f"building {n:,} leaves", total=n)
        for start in range(0, n, BATCH):
            batch = _leaves(start, min(BATCH, n - start))
            seconds["chainml"] += _timed(store.append, batch)[1]
            if tree is not None:
                datas = [data for data, _ in batch]
                seconds["pymerkle"] += _timed(tree.append_entries, datas, BATCH)[1]
            progress.advance(task, len(batch))
    rng = random.Random(SEED + 1)
    result: dict[str, Any] = {"skipped": False, "records": n, "disk_bytes": _disk(path)}
    result["append_records_per_s"] = {"chainml": n / seconds["chainml"]}
    result["proofs"] = {"chainml": ours_proofs(store, n, proofs, rng)}
    if tree is not None:
        result["append_records_per_s"]["pymerkle"] = n / seconds["pymerkle"]
        result["proofs"]["pymerkle"] = pymerkle_proofs(tree, n, baseline_proofs, rng)
    result["tree_head"] = bench_head(store, tree, HEAD_SAMPLES)
    store.close()
    if tree is not None:
        tree.close()
    for file in (work / "big").iterdir():
        file.unlink()
    return result


def _targets(doc: dict[str, Any]) -> list[dict[str, Any]]:
    append, proofs = doc["append"], doc["proofs"]["chainml"]
    ours = append["chainml"]["records_per_s"]
    at = f"@ {proofs['size']:,}"
    ratio = ours / append["pymerkle"]["records_per_s"]
    incl, cons = proofs["inclusion"]["p99_ms"], proofs["consistency"]["p99_ms"]
    rows: list[tuple[str, float, str, bool]] = [
        ("append records/s (full, request ids)", ours, ">= 100,000", ours >= 100_000),
        ("append chainml / pymerkle", ratio, ">= 1.0", ratio >= 1.0),
        (f"inclusion proof p99 ms {at}", incl, "<= 1", incl <= 1),
        (f"consistency proof p99 ms {at}", cons, "<= 1", cons <= 1),
    ]
    big = doc["big"]
    if not big["skipped"]:
        at = f"@ {big['records']:,}"
        for kind in ("inclusion", "consistency"):
            v = big["proofs"]["chainml"][kind]["p99_ms"]
            rows.append((f"{kind} proof p99 ms {at}", v, "<= 1", v <= 1))
        v = big["tree_head"]["root"]["p99_ms"]
        rows.append((f"tree head after append p99 ms {at}", v, "<= 1", v <= 1))
    for row in doc["anchoring"]["batches"]:
        if row["batch"] == 100_000:
            v = row["gas_per_decision"]
            rows.append(("anchor gas / decision @ 100,000", v, "<= 1", v <= 1))
    return [{"target": t, "value": v, "threshold": th, "pass": ok} for t, v, th, ok in rows]


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "[red]NO"
    if isinstance(value, float):
        return f"{value:,.0f}" if value >= 1_000 else f"{value:,.3f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _table(title: str, columns: Sequence[str], rows: list[Sequence[Any]]) -> None:
    table = Table(title=title)
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*map(_fmt, row))
    console.print(table)


def _report_log(doc: dict[str, Any]) -> None:
    base = doc["append"]["pymerkle"]["records_per_s"]
    rows = [
        (r["implementation"], r["records_per_s"], f"{r['records_per_s'] / base:.2f}x",
         r["seconds"], round(r["bytes_per_record"])) for r in doc["append"].values()
    ]  # fmt: skip
    title = f"Durable appends of {doc['records']:,} records of {doc['record_bytes']} B"
    columns = ("implementation", "records/s", "vs pymerkle", "seconds", "B/record on disk")
    _table(f"{title} in batches of {doc['batch']:,}", columns, rows)
    console.print(
        "ids: with request ids (unique, indexed); no ids: like for like with pymerkle; facade:"
        " DecisionLog.append, which also builds, numbers and encodes the records"
    )
    proofs = [*doc["proofs"].items(), *doc["big"].get("proofs", {}).items()]
    rows = [
        (f"{name} @ {p['size']:,}", kind, p[kind]["samples"], p[kind]["median_ms"],
         p[kind]["p99_ms"], f"{p['verified']}/{p['proofs']}")
        for name, p in proofs for kind in ("inclusion", "consistency")
    ]  # fmt: skip
    columns = ("log", "proof", "n", "median ms", "p99 ms", "verified")
    _table("Proof latency (p99 is the maximum below 100 samples)", columns, rows)
    check = doc["cross_check"]
    agree = {True: "AGREE", False: "[red]DIFFER"}
    console.print(
        f"pymerkle vs chainml: roots at sizes {check['sizes']} {agree[check['roots_agree']]}; "
        f"inclusion paths {agree[check['inclusion_paths_agree']]} (both hash as RFC 9162)"
    )
    heads = [doc["tree_head"], *([] if doc["big"]["skipped"] else [doc["big"]["tree_head"]])]
    rows = [
        (h["size"], h["append"]["p99_ms"], h["root"]["p99_ms"], h["reader"]["p99_ms"],
         h.get("pm_root", {}).get("p99_ms", "-")) for h in heads
    ]  # fmt: skip
    columns = ("size", "append", "root()", "root() other connection", "pymerkle get_root()")
    _table("Tree head after appending one record (durable), p99 ms", columns, rows)
    big = doc["big"]
    if big["skipped"]:
        console.print("10M-leaf run skipped (pass --big; ~5 GB of temporary disk)")
    else:
        rates = ", ".join(f"{k} {v:,.0f}" for k, v in big["append_records_per_s"].items())
        console.print(
            f"{big['records']:,}-leaf log built at {rates} records/s (batches of {BATCH:,},"
            f" records encoded in between); {big['disk_bytes'] / 2**30:.1f} GiB, then deleted"
        )


def _report_gas(anchoring: dict[str, Any]) -> None:
    per_tx = anchoring["per_decision_tx"]
    floor, stored = per_tx["plain_transfer_gas"], per_tx["store_leaf_hash_gas"]
    rows = [
        (r["batch"], f"{r['from_size']:,} -> {r['to_size']:,}", r["proof_length"], r["gas_used"],
         r["gas_per_decision"], f"1/{floor / r['gas_per_decision']:,.0f}",
         f"1/{stored / r['gas_per_decision']:,.0f}") for r in anchoring["batches"]
    ]  # fmt: skip
    title = f"Anchoring gas per decision; a tx per decision: {floor:,} (plain transfer)"
    columns = ("batch", "heads", "proof", "gas", "gas/decision", "vs transfer", "vs store")
    _table(f"{title} or {stored:,} (store the leaf hash)", columns, rows)
    rows = [
        (r["batch"], r["gas_used"], r["tx_bytes"],
         *(f"{price.cost(r['gas_used'], r['tx_bytes']) / 1e18:.3g}" for price in STATED_PRICES),
         *(f"{price.cost(r['gas_used'], r['tx_bytes']) / r['batch'] / 1e9:.3g}"
           for price in STATED_PRICES)) for r in anchoring["batches"] if "tx_bytes" in r
    ]  # fmt: skip
    columns = ("batch", "gas", "tx B", *(f"ETH {p.short}" for p in STATED_PRICES),
               *(f"gwei/dec. {p.short}" for p in STATED_PRICES))  # fmt: skip
    stated = "; ".join(
        f"{p.label}: {p.gas_price:,} wei/gas + {p.data_fee_per_byte:,} wei/byte"
        for p in STATED_PRICES
    )
    _table(f"What an anchor costs at stated fees ({stated})", columns, rows)
    rows = [
        (r["size"], *(f"{r[k]['gas_used']:,} ({r[k]['proof_length']})" for k in _NEIGHBOURS),
         all(r[k]["inclusion_verified_on_chain"] for k in _NEIGHBOURS))
        for r in anchoring["consistency_check_by_size"]
    ]  # fmt: skip
    columns = ("size s", "s -> s + 1", "s - 1 -> s", "inclusion verified on chain")
    _table("On-chain consistency check by log size: anchor gas (proof length)", columns, rows)


def report(doc: dict[str, Any]) -> None:
    _report_log(doc)
    _report_gas(doc["anchoring"])
    goals = Table(title="Targets")
    for column in ("target", "measured", "threshold", "result"):
        goals.add_column(column)
    for t in doc["targets"]:
        verdict = "[green]PASS" if t["pass"] else "[red]MISS"
        goals.add_row(t["target"], f"{t['value']:,.3f}", t["threshold"], verdict)
    console.print(goals)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--proofs", type=int, default=200, help="random proofs of each kind")
    parser.add_argument("--baseline-proofs", type=int, default=5, help="the same for pymerkle")
    parser.add_argument("--anchor-batches", default=",".join(map(str, ANCHOR_BATCHES)))
    parser.add_argument("--big", action="store_true", help="also measure a 10M-leaf log")
    parser.add_argument("--big-records", type=int, default=10_000_000)
    parser.add_argument("--big-pymerkle", action="store_true", help="pymerkle too, at 10M")
    parser.add_argument("--work-dir", type=Path, default=None, help="default: the system temp")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args(argv)
    n, rng = args.records, random.Random(SEED)
    batches = [int(b) for b in args.anchor_batches.split(",")]

    with tempfile.TemporaryDirectory(prefix="chainml-bench-log-", dir=args.work_dir) as tmp:
        work = Path(tmp)
        append, store, tree = bench_append(work, n)
        proofs = {"chainml": ours_proofs(store, n, args.proofs, rng)}
        with SqliteLogStore(store.path, create=False) as reopened:
            proofs["chainml (reopened)"] = ours_proofs(reopened, n, args.proofs, rng)
        proofs["pymerkle"] = pymerkle_proofs(tree, n, args.baseline_proofs, rng)
        check = cross_check(store, tree, rng)
        head = bench_head(store, tree, HEAD_SAMPLES)
        tree.close()
        anchoring = bench_anchoring(store, n, batches, work)
        store.close()
        big = {"skipped": True, "reason": "pass --big"}
        if args.big:
            sizes = (args.big_records, args.proofs, args.baseline_proofs)
            big = bench_big(work, *sizes, args.big_pymerkle)
    document: dict[str, Any] = {
        "benchmark": "log",
        "records": n,
        "batch": min(BATCH, n),
        "record_bytes": len(_leaves(0, 1)[0][0]),
        "durability": "chainml full (WAL, fsync per commit); pymerkle rollback journal, FULL",
        "baseline": f"pymerkle {pymerkle.__version__} SqliteTree (sha256): append_entries, "
        "prove_inclusion, prove_consistency, get_root (get_state is its deprecated alias)",
        "append": append,
        "proofs": proofs,
        "cross_check": check,
        "tree_head": head,
        "big": big,
        "anchoring": anchoring,
        "machine": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
    }
    document["targets"] = _targets(document)
    report(document)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(document, indent=2))
    console.print(f"results written to {args.json}")
    return document


if __name__ == "__main__":
    main()

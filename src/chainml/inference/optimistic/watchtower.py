"""The watchtower: re-verify every anchored head of an operator's log, and challenge a wrong record.

For each head the log contract anchored after the last one verified, in order, the watchtower

1. fetches the records between the two heads from a source the operator does not control the
   checking of (:mod:`.watch_sources`: its API, its tiles, a copy of its log);
2. hashes them into the Merkle frontier kept from the previous head (:mod:`.watch_frontier`)
   and compares the root with the anchored one; a source that cannot serve the records, or
   serves others, is **data withheld**, and the watcher stops there (it cannot check later
   heads without these leaves);
3. checks every record as the challenge contract would (:mod:`.watch_verify`): the model
   approved at the anchor's block, the input commitment, the score re-executed bit-exactly;
4. on the first wrong record of the head, builds its inclusion proof against the anchored head
   and calls the challenger (the chain's ``submit_challenge``), which slashes the operator's
   bond when the contract agrees;
5. saves its checkpoint atomically (:mod:`.watch_checkpoint`), so a restart after any crash
   resumes at the next head.

The watcher assumes one honest watcher suffices (any one of them can convict a wrong record);
what it cannot check (records with only a commitment; models whose artifact it lacks) it counts
and reports instead of passing silently.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from chainml.errors import ChainMLError
from chainml.inference.optimistic.watch_chain import AnchoredHead
from chainml.inference.optimistic.watch_checkpoint import (
    load_state,
    save_state,
)
from chainml.inference.optimistic.watch_frontier import Frontier
from chainml.inference.optimistic.watch_sources import DataWithheldError, RecordSource
from chainml.inference.optimistic.watch_verify import BatchVerdict, Fault, Judge, verify_batch

#: Records verified per step: bounds memory (a head of millions is read in chunks).
CHUNK = 50_000
#: ``progress(done, total)`` in records, over the heads of one pass.
Progress = Callable[[int, int], None]


class HeadFeed(Protocol):
    """The anchored heads of the watched log contract."""

    def heads(
        self, after_size: int = 0, confirmations: int = 0, from_block: int = 0
    ) -> list[AnchoredHead]:
        """Heads larger than ``after_size`` anchored from ``from_block`` on, by size."""

    def root_at(self, size: int) -> bytes:
        """The root the contract holds for ``size`` (zero bytes: none)."""


#: ``challenge(record, index, tree_size, proof)`` -> what happened, JSON-ready.
Challenger = Callable[[bytes, int, int, list[bytes]], dict[str, Any]]


@dataclass(frozen=True)
class Withheld:
    """A head whose records the source did not give, or gave others than were anchored."""

    size: int
    previous_size: int
    block_number: int
    detail: str

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "size": self.size,
            "previous_size": self.previous_size,
            "block_number": self.block_number,
            "detail": self.detail,
        }


@dataclass
class WatchReport:
    """One pass of the watchtower: what it verified, found, challenged and could not check."""

    log: str
    chain_id: int
    size: int  # the last verified head after this pass
    heads: int = 0  # verified in this pass
    records: int = 0  # checked in this pass
    verified: int = 0
    commitment_only: int = 0
    unknown_model: int = 0
    faults: list[dict[str, Any]] = field(default_factory=list)  # challenged, one per head
    fault_count: int = 0  # every wrong record found
    withheld: Withheld | None = None
    reorged: list[int] = field(default_factory=list)  # verified heads the chain dropped
    seconds: float = 0.0

    @property
    def records_per_second(self) -> float:
        """Records checked per second of the pass (fetching included)."""
        return self.records / self.seconds if self.seconds > 0 else 0.0

    @property
    def exit_code(self) -> int:
        """0: everything verified; 3: a fault was found; 4: data was withheld."""
        if self.fault_count:
            return 3
        if self.withheld is not None:
            return 4
        return 0

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready form (``chainml watch --json``)."""
        return {
            "log": self.log,
            "chain_id": self.chain_id,
            "size": self.size,
            "heads": self.heads,
            "records": self.records,
            "verified": self.verified,
            "commitment_only": self.commitment_only,
            "unknown_model": self.unknown_model,
            "fault_count": self.fault_count,
            "faults": self.faults,
            "withheld": None if self.withheld is None else self.withheld.to_json(),
            "reorged": self.reorged,
            "seconds": round(self.seconds, 3),
            "records_per_second": round(self.records_per_second, 1),
            "exit_code": self.exit_code,
        }


@dataclass
class _HeadResult:
    frontier: Frontier
    leaf_hashes: list[bytes]
    verdicts: list[BatchVerdict]
    first_fault: Fault | None
    fault_record: bytes | None


class Watchtower:
    """Verifies the heads of one log contract, from a checkpoint, with a source and a judge."""

    def __init__(
        self,
        feed: HeadFeed,
        source: RecordSource,
        judge: Judge,
        checkpoint: Path,
        *,
        chain_id: int,
        log: str,
        challenger: Challenger | None = None,
        confirmations: int = 0,
    ) -> None:
        self.feed = feed
        self.source = source
        self.judge = judge
        self.checkpoint = checkpoint
        self.challenger = challenger
        self.confirmations = confirmations
        self.state = load_state(checkpoint, chain_id, log)
        self._check_resume()

    def _check_resume(self) -> None:
        """Step back over heads the chain no longer holds (a reorg dropped their anchor)."""
        state = self.state
        dropped = []
        while state.size and self.feed.root_at(state.size) != state.frontier.root():
            dropped.append(state.size)
            if not state.step_back():
                state.reset()  # nothing kept is on chain: verify from the start
        #: heads the checkpoint had verified that the chain no longer holds (re-verified)
        self.reorged = dropped

    def run_once(self, progress: Progress | None = None) -> WatchReport:
        """Verify every head anchored after the checkpoint; stop at withheld data.

        Each pass first checks that the last verified head is still the chain's: a reorg can
        drop it while the watcher runs, and the operator then anchor other records at that
        size, which a pass that only looked past its checkpoint would never check.
        """
        self._check_resume()
        state = self.state
        report = WatchReport(state.log, state.chain_id, state.size, reorged=self.reorged)
        started = time.perf_counter()
        heads = self.feed.heads(
            state.size, self.confirmations, state.from_block(self.confirmations)
        )
        total = heads[-1].size - state.size if heads else 0
        base = state.size
        for head in heads:
            if head.size <= state.size:
                continue

            def step(done: int, first: int = state.size) -> None:
                if progress is not None:
                    progress(first - base + done, total)

            try:
                result = self._verify_head(head, step)
            except DataWithheldError as err:
                report.withheld = Withheld(head.size, state.size, head.block_number, err.detail)
                break
            if result is None:
                detail = "the records served do not hash to the anchored root"
                report.withheld = Withheld(head.size, state.size, head.block_number, detail)
                break
            self._account(head, result, report)
            report.size = state.size
        report.seconds = time.perf_counter() - started
        return report

    def _verify_head(self, head: AnchoredHead, step: Callable[[int], None]) -> _HeadResult | None:
        start = self.state.size
        frontier = self.state.frontier
        hashes: list[bytes] = []
        verdicts: list[BatchVerdict] = []
        first: Fault | None = None
        record: bytes | None = None
        for chunk_start, chunk_end, entries in prefetched(self.source, start, head.size):
            verdict = verify_batch(entries, chunk_start, head.block_number, self.judge)
            hashes.extend(verdict.leaf_hashes)
            verdicts.append(verdict)
            if first is None and verdict.first_fault is not None:
                first = verdict.first_fault
                record = entries[first.index - chunk_start]
            step(chunk_end - start)
        extended = frontier.extended(hashes)
        if extended.root() != head.root:
            return None
        return _HeadResult(extended, hashes, verdicts, first, record)

    def _account(self, head: AnchoredHead, result: _HeadResult, report: WatchReport) -> None:
        state = self.state
        previous = state.frontier
        counts = _totals(result.verdicts)
        if result.first_fault is not None and result.fault_record is not None:
            fault = result.first_fault
            entry: dict[str, Any] = {"head": head.size, "block": head.block_number}
            entry |= fault.to_json()
            entry["challenge"] = self._challenge(
                previous, result.leaf_hashes, fault, result.fault_record, head
            )
            report.faults.append(entry)
            state.faults.append(entry)
        state.advance(result.frontier, head.block_number)
        state.heads += 1
        report.heads += 1
        for name, value in counts.items():
            setattr(state, name, getattr(state, name) + value)
            setattr(report, name, getattr(report, name) + value)
        save_state(self.checkpoint, state)

    def _challenge(
        self,
        previous: Frontier,
        hashes: Sequence[bytes],
        fault: Fault,
        record: bytes,
        head: AnchoredHead,
    ) -> dict[str, Any]:
        proof = previous.inclusion_proof(fault.index, hashes)
        outcome: dict[str, Any] = {"proof_length": len(proof), "submitted": False}
        if self.challenger is None:
            outcome["detail"] = "no challenger: report only"
            return outcome
        try:
            outcome |= self.challenger(record, fault.index, head.size, proof)
        except ChainMLError as err:
            outcome["error"] = str(err)
        return outcome

    def watch(
        self,
        interval_s: float,
        should_stop: Callable[[], bool],
        on_pass: Callable[[WatchReport], None] | None = None,
        progress: Progress | None = None,
    ) -> None:
        """Run passes every ``interval_s`` until ``should_stop()``; withheld data is retried."""
        while not should_stop():
            report = self.run_once(progress)
            if on_pass is not None:
                on_pass(report)
            deadline = time.monotonic() + interval_s
            while time.monotonic() < deadline and not should_stop():
                time.sleep(min(0.2, interval_s))


def prefetched(
    source: RecordSource, start: int, end: int, chunk: int = CHUNK
) -> Iterator[tuple[int, int, list[bytes]]]:
    """``(chunk_start, chunk_end, entries)`` of ``[start, end)``, the next chunk read meanwhile.

    Reading (SQLite, HTTP, files) runs in a second thread while the caller verifies the chunk
    before, so the source and the verifier share the machine's two cores. A short answer is
    DataWithheldError.
    """
    bounds = [(a, min(end, a + chunk)) for a in range(start, end, chunk)]
    if not bounds:
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="watch-fetch") as pool:
        pending = pool.submit(source.entries, *bounds[0])
        for number, (low, high) in enumerate(bounds):
            entries = pending.result()
            if number + 1 < len(bounds):
                pending = pool.submit(source.entries, *bounds[number + 1])
            if len(entries) != high - low:
                raise DataWithheldError(source.name, low, high, f"{len(entries)} records served")
            yield low, high, entries


def _totals(verdicts: Sequence[BatchVerdict]) -> dict[str, int]:
    return {
        "records": sum(len(v.leaf_hashes) for v in verdicts),
        "verified": sum(v.verified for v in verdicts),
        "commitment_only": sum(v.commitment_only for v in verdicts),
        "unknown_model": sum(v.unknown_model for v in verdicts),
        "fault_count": sum(len(v.faults) for v in verdicts),
    }

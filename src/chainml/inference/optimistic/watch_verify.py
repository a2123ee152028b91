"""Checking one batch of records as a challenge contract would: the faults it finds, in order.

For each record of ``[start, end)`` (the records between two anchored heads), in the order a
challenge contract checks them, the first that fails names the record's fault:

``malformed``         not a canonical decision record (the contract cannot decode it as one);
``sequence``          its sequence number is not its index in the log;
``unapproved-model``  the model it names was not Approved in the registry at the anchor's block;
``commitment``        its features do not hash to its input commitment;
``features``          the approved model does not take these features (count or range);
``score``             the score differs from the model's on its features;
``label``             the label differs from ``score >= THRESHOLD``.

A record without features (only a commitment) is counted ``commitment_only``: nobody without
its features can re-score it. A record of an approved model whose artifact the watcher lacks is
counted ``unknown_model``. Everything else is re-scored: in bulk and exactly
(:mod:`.watch_records`, :mod:`.watch_scoring`) for the usual int64 records, one by one in
Python integers for the rare record with wider words.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from chainml.errors import InvalidInputError
from chainml.governance.registry import ModelStatus
from chainml.inference.optimistic.watch_records import (
    RecordGroup,
    exact_features,
    group_by_length,
    leaf_hashes,
    parse_group,
    word_int,
)
from chainml.inference.optimistic.watch_scoring import BatchScorer

FAULT_KINDS = (
    "malformed",
    "sequence",
    "unapproved-model",
    "commitment",
    "features",
    "score",
    "label",
)


@dataclass(frozen=True)
class Fault:
    """A record a challenge would convict: its log index, what is wrong, in words."""

    index: int
    kind: str
    detail: str
    model_id: bytes | None = None

    def to_json(self) -> dict[str, object]:
        """A JSON-ready form."""
        return {
            "index": self.index,
            "kind": self.kind,
            "detail": self.detail,
            "model_id": None if self.model_id is None else "0x" + self.model_id.hex(),
        }


@dataclass
class BatchVerdict:
    """What checking one batch found: leaf hashes (for the root), faults by index, counts."""

    leaf_hashes: list[bytes]
    faults: list[Fault] = field(default_factory=list)
    verified: int = 0  # re-scored and right in every respect
    commitment_only: int = 0
    unknown_model: int = 0

    @property
    def first_fault(self) -> Fault | None:
        """The fault with the smallest index: the one to challenge."""
        return min(self.faults, key=lambda f: f.index) if self.faults else None


#: ``scorer(model_id)``: the approved model's batch scorer, or None without its artifact.
ScorerFor = Callable[[bytes], BatchScorer | None]


@dataclass(frozen=True)
class Judge:
    """What the records are judged against: the registry's statuses and the local models."""

    status_at: Callable[[bytes, int], ModelStatus]
    scorer_for: ScorerFor


def verify_batch(entries: Sequence[bytes], start: int, block: int, judge: Judge) -> BatchVerdict:
    """Check the records ``entries`` (leaves ``start``, ``start + 1``, …) as of ``block``."""
    verdict = BatchVerdict(leaf_hashes(entries))
    groups, bad = group_by_length(entries)
    for position in bad:
        detail = f"{len(entries[position])} bytes is no record's length"
        verdict.faults.append(Fault(start + position, "malformed", detail))
    for positions in groups.values():
        group = parse_group(entries, np.array(positions, dtype=np.int64), start)
        _verify_group(entries, group, start, block, judge, verdict)
    verdict.faults.sort(key=lambda f: f.index)
    return verdict


def _verify_group(
    entries: Sequence[bytes],
    group: RecordGroup,
    start: int,
    block: int,
    judge: Judge,
    verdict: BatchVerdict,
) -> None:
    faults = verdict.faults
    index = group.positions + start
    live = np.ones(len(group.positions), dtype=bool)

    def convict(mask: npt.NDArray[np.bool_], kind: str, detail: str) -> None:
        hit = np.flatnonzero(mask & live)
        for row in hit.tolist():
            model_id = group.model_keys[int(group.model_index[row])]
            faults.append(Fault(int(index[row]), kind, detail, model_id))
        live[hit] = False

    convict(~group.canonical, "malformed", "a fixed word of the encoding is wrong")
    convict(~group.sequence_ok, "sequence", "its sequence number is not its index")
    for number, model_id in enumerate(group.model_keys):
        selected = live & (group.model_index == number)
        rows = np.flatnonzero(selected)
        status = judge.status_at(model_id, block)
        if status != ModelStatus.APPROVED:
            detail = f"model 0x{model_id.hex()} was {status.name.lower()} at block {block}"
            convict(selected, "unapproved-model", detail)
            continue
        if group.n_features == 0:
            verdict.commitment_only += len(rows)
            live[rows] = False
            continue
        convict(
            selected & ~group.commitment_ok,
            "commitment",
            "the features do not hash to the input commitment",
        )
        scorer = judge.scorer_for(model_id)
        if scorer is None:
            remaining = int((selected & live).sum())
            verdict.unknown_model += remaining
            live[selected] = False
            continue
        if scorer.n_features != group.n_features:
            detail = f"{group.n_features} features for a model of {scorer.n_features}"
            convict(selected, "features", detail)
            continue
        wide = selected & live & group.wide
        for row in np.flatnonzero(wide).tolist():
            found = len(faults)
            _verify_exact(entries[int(group.positions[row])], int(index[row]), scorer, verdict)
            verdict.verified += len(faults) == found
        live[wide] = False
        _verify_scores(group, selected & live, scorer, convict)
        verdict.verified += int((selected & live).sum())


def _verify_scores(
    group: RecordGroup,
    mask: npt.NDArray[np.bool_],
    scorer: BatchScorer,
    convict: Callable[[npt.NDArray[np.bool_], str, str], None],
) -> None:
    rows = np.flatnonzero(mask)
    if not len(rows):
        return
    features = group.features[rows]
    inside = scorer.in_range(features)
    outside = np.zeros(len(mask), dtype=bool)
    outside[rows[~inside]] = True
    convict(outside, "features", "a feature is outside the model's declared range")
    rows, features = rows[inside], features[inside]
    expected = scorer.scores(features)
    if isinstance(expected, np.ndarray):
        wrong_score = expected != group.scores[rows]
    else:
        wrong_score = np.array(
            [e != int(s) for e, s in zip(expected, group.scores[rows], strict=True)]
        )
    bad = np.zeros(len(mask), dtype=bool)
    bad[rows[wrong_score]] = True
    convict(bad, "score", "the score is not the model's on these features")
    wrong_label = scorer.labels(expected) != group.labels[rows]
    bad[:] = False
    bad[rows[wrong_label & ~wrong_score]] = True
    convict(bad, "label", "the label is not score >= THRESHOLD")


def _verify_exact(data: bytes, index: int, scorer: BatchScorer, verdict: BatchVerdict) -> None:
    """One record with a feature or score beyond int64, in Python integers."""
    model_id = data[4 * 32 : 5 * 32]
    try:
        expected = scorer.model.score(exact_features(data))
    except InvalidInputError as err:
        verdict.faults.append(Fault(index, "features", str(err), model_id))
        return
    if word_int(data, 7) != expected:
        detail = "the score is not the model's on these features"
        verdict.faults.append(Fault(index, "score", detail, model_id))
    elif data[8 * 32 + 31] != int(expected >= scorer.threshold):
        verdict.faults.append(
            Fault(index, "label", "the label is not score >= THRESHOLD", model_id)
        )

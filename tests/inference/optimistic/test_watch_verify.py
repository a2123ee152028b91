"""The watchtower's bulk checks equal the per-record reference, and catch every kind of fault."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainml.governance.registry import ModelStatus
from chainml.inference.fixedpoint import (
    DenseLayer,
    InputSpec,
    LinearModel,
    MLPModel,
    TreeEnsembleModel,
    TreeNode,
)
from chainml.inference.optimistic.watch_frontier import Frontier
from chainml.inference.optimistic.watch_scoring import BatchScorer
from chainml.inference.optimistic.watch_verify import Judge, verify_batch
from chainml.log import merkle
from chainml.log.record import DecisionRecord, commit_features
from tests.inference.optimistic.watch_helpers import (
    linear_model,
    model_id_of,
    records,
    score_of,
    set_word,
)

MODEL = linear_model()
MODEL_ID = model_id_of("lr-30")
RETIRED_ID = model_id_of("retired")
SCORER = BatchScorer(MODEL)


def judge(statuses: dict[bytes, ModelStatus] | None = None) -> Judge:
    table = {MODEL_ID: ModelStatus.APPROVED, RETIRED_ID: ModelStatus.RETIRED, **(statuses or {})}
    return Judge(lambda m, _block: table.get(m, ModelStatus.UNKNOWN), {MODEL_ID: SCORER}.get)


def test_an_honest_batch_has_no_fault_and_the_leaf_hashes_of_the_log() -> None:
    batch = records(MODEL, MODEL_ID, 10, 300)
    verdict = verify_batch(batch, 10, 5, judge())
    assert verdict.faults == []
    assert verdict.verified == 300
    assert verdict.leaf_hashes == [merkle.leaf_hash(r) for r in batch]
    assert DecisionRecord.decode(batch[0]).sequence == 10


def test_one_wrong_score_in_100_000_is_found_at_its_index() -> None:
    batch = records(MODEL, MODEL_ID, 0, 100_000)
    batch[73_219] = set_word(batch[73_219], 7, score_of(batch[73_219]) + 1)
    verdict = verify_batch(batch, 0, 5, judge())
    assert [(f.index, f.kind) for f in verdict.faults] == [(73_219, "score")]
    assert verdict.verified == 99_999


@pytest.mark.parametrize(
    ("tamper", "kind"),
    [
        (lambda r: set_word(r, 8, 1 - r[8 * 32 + 31]), "label"),
        (
            lambda r: set_word(r, 12, int.from_bytes(r[384:416], "big", signed=True) + 1),
            "commitment",
        ),
        (lambda r: set_word(r, 2, 999), "sequence"),
        (lambda r: set_word(r, 1, 2), "malformed"),
        (lambda r: set_word(r, 6, 0), "malformed"),
        (lambda r: r[:-32], "malformed"),
        (lambda r: r[:-5], "malformed"),
        (
            lambda r: set_word(r, 4, int.from_bytes(RETIRED_ID, "big", signed=True)),
            "unapproved-model",
        ),
        (lambda r: set_word(r, 4, 12345), "unapproved-model"),
    ],
)
def test_each_kind_of_fault_is_named(tamper: Any, kind: str) -> None:
    batch = records(MODEL, MODEL_ID, 0, 200)
    batch[150] = tamper(batch[150])
    verdict = verify_batch(batch, 0, 5, judge())
    assert [(f.index, f.kind) for f in verdict.faults] == [(150, kind)]


def test_features_beyond_int64_are_checked_exactly() -> None:
    model = LinearModel(
        (InputSpec("a", 1, -(2**100), 2**100), InputSpec("b", 1, -10, 10)), (3, -2), 1, 0, 1
    )
    model_id = model_id_of("wide")
    rows = [[2**80 + 5, 3], [-(2**70), -1], [7, 2]]
    batch = [
        DecisionRecord(
            sequence=i, timestamp_ms=1, model_id=model_id,
            input_commitment=commit_features(row),
            score=model.score(row), label=int(model.score(row) >= 0), request_id=bytes(32),
            features=tuple(row),
        ).encode()
        for i, row in enumerate(rows)
    ]  # fmt: skip
    scorer = BatchScorer(model)
    honest = Judge(lambda m, b: ModelStatus.APPROVED, lambda m: scorer)
    assert verify_batch(batch, 0, 1, honest).faults == []
    batch[0] = set_word(batch[0], 7, model.score(rows[0]) + 2**70)
    batch[2] = set_word(batch[2], 13, 11)  # out of range and no longer its commitment
    faults = verify_batch(batch, 0, 1, honest).faults
    assert [(f.index, f.kind) for f in faults] == [(0, "score"), (2, "commitment")]


def test_out_of_range_features_and_wrong_width_are_feature_faults() -> None:
    narrow = LinearModel(tuple(InputSpec(f"f{i}", 1, -(2**29), 2**29) for i in range(30)),
                         MODEL.weights, MODEL.bias, MODEL.threshold, 1)  # fmt: skip
    batch = records(narrow, MODEL_ID, 0, 100)  # features up to 2**30: some outside
    found = verify_batch(batch, 0, 1, Judge(lambda m, b: ModelStatus.APPROVED,
                                            lambda m: BatchScorer(narrow)))  # fmt: skip
    assert found.faults and {f.kind for f in found.faults} == {"features"}
    smaller = LinearModel(MODEL.inputs[:29], MODEL.weights[:29], 0, 0, 1)
    found = verify_batch(batch, 0, 1, Judge(lambda m, b: ModelStatus.APPROVED,
                                            lambda m: BatchScorer(smaller)))  # fmt: skip
    assert {f.kind for f in found.faults} == {"features"} and len(found.faults) == 100


def test_records_without_features_or_without_an_artifact_are_counted_not_passed() -> None:
    bare = DecisionRecord(
        sequence=0, timestamp_ms=1, model_id=MODEL_ID, input_commitment=bytes(32), score=5,
        label=1, request_id=bytes(32),
    ).encode()  # fmt: skip
    batch = [bare, *records(MODEL, MODEL_ID, 1, 3)]
    verdict = verify_batch(batch, 0, 1, judge())
    assert (verdict.commitment_only, verdict.verified, verdict.faults) == (1, 3, [])
    unknown = Judge(lambda m, b: ModelStatus.APPROVED, lambda m: None)
    verdict = verify_batch(batch, 0, 1, unknown)
    assert (verdict.commitment_only, verdict.unknown_model, verdict.verified) == (1, 3, 0)


# -- the int64 scorer equals the reference -------------------------------------------------

SMALL = st.integers(-(2**40), 2**40)


@st.composite
def dense_models(draw: Any) -> LinearModel | MLPModel:
    width = draw(st.integers(1, 6))
    specs = tuple(InputSpec(f"f{i}", 1, -(2**64), 2**64 - 1) for i in range(width))
    weight = st.integers(-(2**22), 2**22)
    if draw(st.booleans()):
        weights = tuple(draw(weight) for _ in range(width))
        return LinearModel(specs, weights, draw(SMALL), draw(SMALL), 1)
    hidden = draw(st.integers(1, 5))
    layers = (
        DenseLayer(tuple(tuple(draw(weight) for _ in range(width)) for _ in range(hidden)),
                   tuple(draw(SMALL) for _ in range(hidden))),
        DenseLayer((tuple(draw(weight) for _ in range(hidden)),), (draw(SMALL),)),
    )  # fmt: skip
    return MLPModel(specs, layers, draw(SMALL), 1)


@settings(max_examples=60, deadline=None)
@given(model=dense_models(), data=st.data())
def test_dense_scores_equal_the_reference(model: LinearModel | MLPModel, data: Any) -> None:
    bits = data.draw(st.sampled_from([8, 20, 40, 63]))  # 63: past int64's exact range
    value = st.integers(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    rows = np.array(
        data.draw(st.lists(st.lists(value, min_size=model.n_features, max_size=model.n_features),
                           min_size=1, max_size=40)), dtype=np.int64)  # fmt: skip
    scorer = BatchScorer(model)
    scores = scorer.scores(rows)
    reference = [model.score(row) for row in rows.tolist()]
    assert [int(s) for s in scores] == reference
    assert scorer.labels(scores).tolist() == [int(s >= model.threshold) for s in reference]


@st.composite
def forests(draw: Any) -> TreeEnsembleModel:
    """Trees of any shape, split points inside and beyond int64, int64-exact leaf sums."""
    specs = tuple(InputSpec(f"f{i}", 1, -(2**64), 2**64 - 1) for i in range(3))
    leaf = st.integers(-(2**50), 2**50)
    split = st.one_of(
        st.integers(-100, 100),
        st.sampled_from([-(2**63), 2**63 - 1, -(2**63) - 1, 2**63, -(2**70), 2**70]),
    )

    def grow(nodes: list[TreeNode], depth: int) -> int:
        index = len(nodes)
        if depth == 0 or draw(st.booleans()):
            nodes.append(TreeNode(-1, 0, 0, 0, draw(leaf)))
            return index
        nodes.append(TreeNode(-1, 0, 0, 0))
        left, right = grow(nodes, depth - 1), grow(nodes, depth - 1)
        nodes[index] = TreeNode(draw(st.integers(0, 2)), draw(split), left, right)
        return index

    forest = []
    for _ in range(draw(st.integers(1, 6))):
        nodes: list[TreeNode] = []
        grow(nodes, draw(st.integers(0, 5)))
        forest.append(tuple(nodes))
    return TreeEnsembleModel(specs, tuple(forest), draw(leaf), 0, 1)


@settings(max_examples=60, deadline=None)
@given(model=forests(), data=st.data())
def test_tree_scores_equal_the_reference(model: TreeEnsembleModel, data: Any) -> None:
    value = st.one_of(st.integers(-120, 120), st.sampled_from([-(2**63), 2**63 - 1]))
    rows = np.array(
        data.draw(st.lists(st.lists(value, min_size=3, max_size=3), min_size=1, max_size=30)),
        dtype=np.int64,
    )
    scores = BatchScorer(model).scores(rows)
    assert isinstance(scores, np.ndarray)  # the int64 walk, not the fallback
    assert [int(s) for s in scores] == [model.score(r) for r in rows.tolist()]


# -- the frontier ---------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(old=st.integers(0, 70), added=st.integers(1, 70), data=st.data())
def test_frontier_roots_and_proofs_match_the_tree(old: int, added: int, data: Any) -> None:
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(old + added)]
    before = Frontier().extended(leaves[:old])
    assert before.root() == merkle.root(leaves[:old])
    after = before.extended(leaves[old:])
    assert after.root() == merkle.root(leaves)
    assert Frontier.from_json(after.size, after.to_json()) == after
    index = data.draw(st.integers(old, old + added - 1))
    proof = before.inclusion_proof(index, leaves[old:])
    assert proof == merkle.inclusion_proof(index, leaves)
    merkle.verify_inclusion(leaves[index], index, len(leaves), proof, after.root())

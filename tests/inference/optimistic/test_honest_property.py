"""An honest operator is never slashed: no challenge of its records proves a fault (property)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainml.chain import Env
from chainml.inference.optimistic import ChallengeError, check_challenge
from tests.inference.optimistic.conftest import World, build_world

FEATURE = st.integers(-1000, 1000)
ROW = st.tuples(FEATURE, FEATURE, FEATURE, FEATURE)
# how a challenger may tamper with an honest record's challenge
TAMPER = st.sampled_from(
    ["none", "flip_record", "flip_proof", "other_index", "other_size", "features", "truncate"]
)


@pytest.fixture(scope="module")
def honest(embedded_env: Env) -> Iterator[World]:
    """One world on the embedded chain, shared by the examples (heads only ever grow)."""
    with embedded_env.snapshot():
        yield build_world(embedded_env, window=10_000)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    batch=st.lists(st.tuples(ROW, st.booleans()), min_size=1, max_size=6),
    pick=st.integers(0, 5),
    tamper=TAMPER,
    bit=st.integers(0, 7),
    other_row=ROW,
)
def test_no_challenge_slashes_an_honest_operator(
    honest: World,
    batch: list[tuple[tuple[int, ...], bool]],
    pick: int,
    tamper: str,
    bit: int,
    other_row: tuple[int, ...],
) -> None:
    world = honest
    start = len(world.leaves)
    rows = {}
    for row, carry in batch:
        record = world.record(row, carry_features=carry)
        rows[len(world.leaves)] = (row, carry)
        world.append(record.encode())
    world.anchor()
    index = start + pick % len(batch)
    row, carry = rows[index]
    data, proof, size = world.leaves[index], world.proof(index), world.size
    features: tuple[int, ...] | None = None if carry else row
    if tamper == "flip_record":
        flipped = bytearray(data)
        flipped[(bit * 37) % len(flipped)] ^= 1 << bit
        data = bytes(flipped)
    elif tamper == "flip_proof" and proof:
        proof = [bytes([proof[0][0] ^ (1 << bit)]) + proof[0][1:], *proof[1:]]
    elif tamper == "other_index":
        index = (index + 1 + bit) % size
    elif tamper == "other_size":
        size = max(index + 1, size - 1 - bit)
    elif tamper == "features":
        features = other_row
    elif tamper == "truncate":
        data = data[: len(data) - 32]
    # every challenge of an honest log fails: by a call on both the head's state and the proof
    with pytest.raises(ChallengeError):
        check_challenge(world.env, world.log.address, data, index, size, proof, features)

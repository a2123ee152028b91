"""Helpers of the watchtower tests: an integer model, honest and dishonest records, heads.

Records are built by the service's own bulk encoder (:class:`PreparedRecords`), scored by the
model's per-row reference, so an honest log here is what ``chainml serve`` writes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from chainml import contracts
from chainml.chain import Contract, Env
from chainml.governance.registry import ModelRegistry
from chainml.inference.fixedpoint import InputSpec, LinearModel
from chainml.log import merkle
from chainml.service.encoding import PreparedRecords

N_FEATURES = 30
NOW_MS = 1_700_000_000_000
SPECS = tuple(InputSpec(f"f{i}", 2**20, -(2**64), 2**64 - 1) for i in range(N_FEATURES))


def linear_model(seed: int = 7) -> LinearModel:
    """An LR-30 as the policy quantizes one: 20-bit weights, +-2**64 input ranges."""
    rng = np.random.default_rng(seed)
    weights = tuple(int(w) for w in rng.integers(-(2**20), 2**20, N_FEATURES))
    return LinearModel(SPECS, weights, -12_345, 1_000, 2**40)


def model_id_of(name: str) -> bytes:
    """A model id for a test model (any 32 bytes will do for the registry)."""
    return hashlib.sha256(name.encode()).digest()


def records(
    model: LinearModel,
    model_id: bytes,
    first: int,
    count: int,
    seed: int = 0,
    scores: Sequence[int] | None = None,
) -> list[bytes]:
    """``count`` honest records of leaves ``first`` onwards (``scores`` to override)."""
    rng = np.random.default_rng(seed + first)
    features = rng.integers(-(2**30), 2**30, (count, model.n_features)).astype(np.int64)
    if scores is None:
        scores = [model.bias + int(v) for v in features @ np.array(model.weights, dtype=np.int64)]
    labels = [int(s >= model.threshold) for s in scores]
    ids = [hashlib.sha256(f"r{first + i}".encode()).digest() for i in range(count)]
    prepared = PreparedRecords(model_id, features, scores, labels, ids, [bytes(32)] * count)
    return [data for data, _ in prepared.leaves(first, NOW_MS)]


def set_word(record: bytes, word: int, value: int) -> bytes:
    """``record`` with its 32-byte word ``word`` replaced by ``value`` (signed)."""
    data = bytearray(record)
    data[word * 32 : (word + 1) * 32] = value.to_bytes(32, "big", signed=True)
    return bytes(data)


def score_of(record: bytes) -> int:
    """The score word of a record."""
    return int.from_bytes(record[7 * 32 : 8 * 32], "big", signed=True)


def deploy_log(env: Env) -> Contract:
    """A fresh DecisionLog contract, anchored by the Env's sender."""
    return env.deploy(env.compile(contracts.source_path("DecisionLog")))


def anchor(log: Contract, leaves: Sequence[bytes], old_size: int, new_size: int) -> None:
    """Anchor the head of ``new_size`` of the log whose leaf data is ``leaves``."""
    hashes = [merkle.leaf_hash(data) for data in leaves[:new_size]]
    proof = merkle.consistency_proof(old_size, hashes) if old_size else []
    log.transact("anchor", new_size, merkle.root(hashes), proof)


def registry_with(
    env: Env, approved: Sequence[bytes], retired: Sequence[bytes] = ()
) -> ModelRegistry:
    """A registry governed by the Env's sender: ``approved`` approved (each for its own use),
    ``retired`` approved then retired."""
    registry = ModelRegistry.deploy(env, env.sender)
    for number, model_id in enumerate([*approved, *retired]):
        registry.register(model_id, model_id, model_id, "file:///model")
        zero = "0x" + "00" * 20
        registry.contract.transact(
            "approve", model_id, f"use-{number}", bytes(32), env.sender, zero
        )
    for model_id in retired:
        registry.contract.transact("retire", model_id)
    return registry

"""Wiring a watchtower to a real chain: trusted contracts, local model artifacts, a challenger.

:func:`open_watchtower` is what ``chainml watch`` and the demo call: it checks the log and
registry contracts against the verifier's trust roots, finds each approved model's integer twin
among the artifacts of a data directory (an artifact's id is the hash of its files, so a stored
copy is the model the registry names or it does not load), and challenges through the log
contract's ``challenge`` (:func:`chainml.inference.optimistic.submit_challenge`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chainml.chain import Env
from chainml.errors import NotFoundError
from chainml.inference.optimistic.watch_chain import LogHeads, ModelStatusAt
from chainml.inference.optimistic.watch_checkpoint import checkpoint_path
from chainml.inference.optimistic.watch_scoring import BatchScorer
from chainml.inference.optimistic.watch_sources import RecordSource
from chainml.inference.optimistic.watch_verify import Judge, ScorerFor
from chainml.inference.optimistic.watchtower import Challenger, Watchtower
from chainml.log.trust import TrustRoot


def local_scorers(models_data_dir: Path) -> ScorerFor:
    """``scorer(model_id)`` from the stored models of a data directory (None: not stored)."""
    cache: dict[bytes, BatchScorer | None] = {}

    def scorer(model_id: bytes) -> BatchScorer | None:
        if model_id not in cache:
            from chainml.models.artifacts import load_model

            try:
                artifact = load_model(models_data_dir, "0x" + model_id.hex())
            except NotFoundError:
                cache[model_id] = None
            else:
                cache[model_id] = BatchScorer(artifact.policy.model)
        return cache[model_id]

    return scorer


def contract_challenger(env: Env, log_address: str) -> Challenger:
    """Challenges sent to the log contract by ``env``'s sender."""

    def challenge(record: bytes, index: int, size: int, proof: list[bytes]) -> dict[str, Any]:
        from chainml.inference import optimistic

        submit = getattr(optimistic, "submit_challenge", None)
        if submit is None:
            return {"submitted": False, "detail": "this chainml has no on-chain challenge"}
        outcome = submit(env, log_address, record, index, size, proof)
        return {"submitted": True, **_outcome_json(outcome)}

    return challenge


def _outcome_json(outcome: object) -> dict[str, Any]:
    """A ChallengeOutcome (any dataclass-like object) as JSON-ready fields."""
    fields = getattr(outcome, "__dataclass_fields__", None)
    if fields is None:
        return {"outcome": str(outcome)}
    out: dict[str, Any] = {}
    for name in fields:
        value = getattr(outcome, name)
        if isinstance(value, bytes):
            value = "0x" + value.hex()
        elif not isinstance(value, str | int | float | bool | type(None)):
            value = str(value)
        out[name] = value
    return out


def open_watchtower(
    env: Env,
    log: TrustRoot,
    registry: TrustRoot,
    source: RecordSource,
    data_dir: Path,
    *,
    models_dir: Path | None = None,
    log_contract: str = "DecisionLog",
    challenge: bool = True,
    confirmations: int = 0,
) -> Watchtower:
    """A watchtower over ``log`` on ``env``, its checkpoint in ``data_dir``."""
    feed = LogHeads(env, log, log_contract)
    judge = Judge(ModelStatusAt(env, registry), local_scorers(models_dir or data_dir))
    return Watchtower(
        feed,
        source,
        judge,
        checkpoint_path(data_dir, env.chain_id, log.address),
        chain_id=env.chain_id,
        log=log.address,
        challenger=contract_challenger(env, log.address) if challenge else None,
        confirmations=confirmations,
    )

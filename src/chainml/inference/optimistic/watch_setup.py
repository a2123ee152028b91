"""Wiring a watchtower to a real chain: trusted contracts, local model artifacts, a challenger.

:func:`open_watchtower` is what ``chainml watch`` and the demo call: it checks the log and
registry contracts against the verifier's trust roots, finds each approved model's integer twin
among the artifacts of a data directory (an artifact's id is the hash of its files, so a stored
copy is the model the registry names or it does not load), and challenges through the log
contract's ``challenge`` (:func:`chainml.inference.optimistic.submit_challenge`). A plain
DecisionLog can be watched too (report only: it takes no challenges).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chainml.chain import Env
from chainml.errors import InvalidInputError, NotFoundError, WrongChainIdError
from chainml.inference.optimistic.watch_chain import (
    BindingStatus,
    ChallengeableHeads,
    LogHeads,
    ModelStatusAt,
)
from chainml.inference.optimistic.watch_checkpoint import checkpoint_path
from chainml.inference.optimistic.watch_scoring import BatchScorer
from chainml.inference.optimistic.watch_sources import RecordSource
from chainml.inference.optimistic.watch_verify import Judge, ScorerFor
from chainml.inference.optimistic.watchtower import Challenger, HeadFeed, Watchtower
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


def contract_challenger(env: Env, log_address: str, sender: str | None = None) -> Challenger:
    """Challenges sent to the ChallengeableLog by ``sender`` (default: the Env's account).

    A challenge the contract would refuse (the record is right after all, the window closed,
    another watcher was first) is reported with the contract's reason; nothing is sent then.
    """
    from chainml.inference.optimistic import ChallengeError, submit_challenge

    def challenge(record: bytes, index: int, size: int, proof: list[bytes]) -> dict[str, Any]:
        try:
            outcome = submit_challenge(env, log_address, record, index, size, proof, sender=sender)
        except ChallengeError as err:
            return {"submitted": False, "refused": type(err).__name__, "detail": str(err)}
        return {"submitted": True, "slashed": True, **outcome.to_json()}

    return challenge


def open_watchtower(
    env: Env,
    log: TrustRoot,
    source: RecordSource,
    data_dir: Path,
    *,
    registry: TrustRoot | None = None,
    models_dir: Path | None = None,
    challenge: bool = True,
    confirmations: int = 0,
) -> Watchtower:
    """A watchtower over ``log`` on ``env``, its checkpoint in ``data_dir``.

    A ChallengeableLog names its registry and use itself, and records are judged as its
    ``challenge`` judges them; a plain DecisionLog (no challenges: report only) needs
    ``registry``, whose historical ``model(id)`` status is read at each anchor's block.
    """
    if log.chain_id is not None and log.chain_id != env.chain_id:
        raise WrongChainIdError(log.chain_id, env.chain_id)
    scorers = local_scorers(models_dir or data_dir)
    feed: HeadFeed
    try:
        challengeable = ChallengeableHeads(env, log.address)
    except InvalidInputError:  # not a ChallengeableLog: a plain DecisionLog, checked as such
        if registry is None:
            raise InvalidInputError(
                f"{log.address} is not a ChallengeableLog: name the ModelRegistry its records "
                "are judged against with --registry"
            ) from None
        feed = LogHeads(env, log)
        judge = Judge(ModelStatusAt(env, registry), scorers)
        challenge = False
    else:
        feed = challengeable
        status = BindingStatus(env, challengeable.registry(), challengeable.use_tag())
        judge = Judge(status, scorers)
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

"""Helpers for service tests on a chain: pass governance votes (approve, retire a model)."""

from __future__ import annotations

from pathlib import Path

from chainml.chain import Env
from chainml.errors import ContractRevertError
from chainml.governance import governance
from chainml.models.artifacts import ModelArtifact

USE = "fraud-screening"


def pass_vote(env: Env, data_dir: Path, calldata: bytes) -> None:
    """Propose calling the registry with ``calldata``, vote for it, wait, execute."""
    governor, registry = governance(env, data_dir, voting_period_blocks=2, timelock_blocks=1)
    proposal = governor.propose(registry.address, calldata)
    governor.vote(proposal, "for")
    for _ in range(30):
        env.mine(1)
        try:
            governor.execute(proposal)
            return
        except ContractRevertError:  # voting or timelock still running
            continue
    raise AssertionError("the proposal never became executable")


def approve(env: Env, data_dir: Path, artifact: ModelArtifact, use: str = USE) -> None:
    """Register ``artifact`` and pass a governance vote approving it for ``use``."""
    _, registry = governance(env, data_dir, voting_period_blocks=2, timelock_blocks=1)
    registry.register(
        artifact.model_id, artifact.card["artifact_hash"], artifact.card_hash, "file:///model"
    )
    pass_vote(env, data_dir, registry.approve_calldata(artifact.model_id, use))
    assert registry.approved(use) == artifact.model_id


def retire(env: Env, data_dir: Path, artifact: ModelArtifact) -> None:
    """Pass a governance vote retiring ``artifact``."""
    _, registry = governance(env, data_dir, deploy=False)
    pass_vote(env, data_dir, registry.retire_calldata(artifact.model_id))

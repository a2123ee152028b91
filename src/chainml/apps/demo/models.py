"""The demo's model steps: data, training with honest evaluation, governed approval.

Every step is idempotent: a second run finds the cached data, the same model ids (training is
deterministic) and the approval already on chain, and says so instead of redoing it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from chainml.chain import Env
from chainml.governance.deployments import governance
from chainml.governance.governor import Governor
from chainml.governance.registry import DEFAULT_USE, ModelRegistry, ModelStatus
from chainml.models.artifacts import ModelArtifact, save_model
from chainml.models.dataset import Dataset
from chainml.models.train import train_model

USE = DEFAULT_USE
OFFLINE_ROWS = 60_000
KINDS = ("lr", "mlp")


@dataclass(frozen=True)
class DemoData:
    """The dataset the demo trains on, its spec (for the cards), and why it is simulated."""

    dataset: Dataset
    spec: str
    real: bool
    seconds: float = 0.0
    fallback_reason: str | None = None  # why the real data could not be used, if tried


def load_data(data_dir: Path, offline: bool) -> DemoData:
    """The real ULB data (fetched and verified on first use); the simulator when unreachable."""
    from chainml.models.creditcard import SourceUnavailableError, load_creditcard
    from chainml.models.simulator import simulate_payments

    started = time.perf_counter()
    reason = None
    if not offline:
        try:
            dataset = load_creditcard(data_dir)
            return DemoData(dataset, "creditcard", True, time.perf_counter() - started)
        except SourceUnavailableError as err:
            reason = str(err)
    dataset = simulate_payments(OFFLINE_ROWS, seed=0).dataset()
    spec = f"simulated:{OFFLINE_ROWS}:0"
    return DemoData(dataset, spec, False, time.perf_counter() - started, reason)


@dataclass(frozen=True)
class TrainedModel:
    """One trained (or already stored) model and how long it took."""

    artifact: ModelArtifact
    new: bool
    seconds: float


def train(data_dir: Path, data: DemoData, kind: str) -> TrainedModel:
    """Train ``kind`` on the first 80% by time, evaluate on the rest, store it."""
    started = time.perf_counter()
    trained = train_model(data.dataset, kind, seed=0, resamples=1000)
    artifact, new = save_model(data_dir, trained, dataset_spec=data.spec)
    return TrainedModel(artifact, new, time.perf_counter() - started)


def candidate(models: list[ModelArtifact]) -> ModelArtifact:
    """The model better on validation (never the test split) is the one put to a vote."""
    return max(models, key=lambda a: float(a.card["metrics"]["validation"]["pr_auc"]))


@dataclass(frozen=True)
class Approval:
    """What the approval step did: registered or not, and the vote (proposal, blocks) if any."""

    governor: Governor
    registry: ModelRegistry
    model_id: str
    use: str | None  # the use it is approved for (None only if the registry says so)
    registered: bool  # registered by this run
    proposal: int | None  # None: it was already approved
    blocks: int  # blocks the vote took
    approved: str | None  # the model the registry approves for ``use`` afterwards


def approve(env: Env, data_dir: Path, artifact: ModelArtifact) -> Approval:
    """Register the candidate and pass its approval for fraud screening through a vote."""
    governor, registry = governance(env, data_dir)
    model_id = artifact.model_id
    registered = False
    try:
        entry = registry.model(model_id)
    except LookupError:
        registry.register(
            model_id,
            str(artifact.card["artifact_hash"]),
            artifact.card_hash,
            artifact.path.resolve().as_uri(),
        )
        entry = registry.model(model_id)
        registered = True
    proposal = None
    before = env.block_number
    if entry.status != ModelStatus.APPROVED:
        from chainml.governance.passing import pass_proposal

        calldata = registry.approve_calldata(model_id, USE)
        proposal = pass_proposal(
            governor, registry.address, calldata, f"approve {model_id} for {USE}"
        )
    return Approval(
        governor, registry, model_id, entry.use if proposal is None else USE, registered,
        proposal, env.block_number - before, registry.approved(USE),
    )  # fmt: skip

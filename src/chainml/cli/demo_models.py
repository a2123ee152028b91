"""The model steps of ``chainml demo``: data, training with honest evaluation, governed approval.

Every step is idempotent: a second run finds the cached data, the same model ids (training is
deterministic) and the approval already on chain, and says so instead of redoing it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from chainml.chain import Env
from chainml.cli.summary import Summary
from chainml.governance.deployments import governance
from chainml.governance.governor import Governor
from chainml.governance.registry import ModelRegistry, ModelStatus
from chainml.models.artifacts import ModelArtifact, save_model
from chainml.models.dataset import Dataset
from chainml.models.train import train_model

USE = "fraud-screening"
OFFLINE_ROWS = 60_000


@dataclass(frozen=True)
class DemoData:
    """The dataset the demo trains on, and its spec (for the cards)."""

    dataset: Dataset
    spec: str
    real: bool


def load_data(data_dir: Path, offline: bool, out: Console, summary: Summary) -> DemoData:
    """The real ULB data (fetched and verified on first use); the simulator when unreachable."""
    from chainml.models.creditcard import SourceUnavailableError, load_creditcard
    from chainml.models.simulator import simulate_payments

    started = time.perf_counter()
    if not offline:
        try:
            with out.status("fetching and verifying the ULB credit-card data"):
                dataset = load_creditcard(data_dir)
            data = DemoData(dataset, "creditcard", real=True)
        except SourceUnavailableError as err:
            out.print(
                f"[yellow]![/] the ULB data cannot be fetched here ({err}); "
                f"using {OFFLINE_ROWS:,} simulated payments instead"
            )
            offline = True
    if offline:
        dataset = simulate_payments(OFFLINE_ROWS, seed=0).dataset()
        data = DemoData(dataset, f"simulated:{OFFLINE_ROWS}:0", real=False)
    seconds = time.perf_counter() - started
    out.print(
        f"[green]✓[/] data: {data.dataset.name}, {data.dataset.rows:,} rows, "
        f"{data.dataset.positives:,} frauds, commitment {data.dataset.commitment()[:18]}… "
        f"({seconds:.1f} s)"
    )
    summary.add("dataset", f"{data.dataset.name} ({data.dataset.rows:,} rows)")
    return data


def train_models(
    data_dir: Path, data: DemoData, out: Console, summary: Summary
) -> tuple[ModelArtifact, list[ModelArtifact]]:
    """Train LR and an MLP on the time split; the one better on validation is the candidate."""
    artifacts = []
    for kind in ("lr", "mlp"):
        started = time.perf_counter()
        with out.status(f"training {kind} on the first 80% (by time)"):
            trained = train_model(data.dataset, kind, seed=0, resamples=1000)
            artifact, new = save_model(data_dir, trained, dataset_spec=data.spec)
        test = artifact.card["metrics"]["test"]
        low, high = test["pr_auc_interval"]["low"], test["pr_auc_interval"]["high"]
        seconds = time.perf_counter() - started
        out.print(
            f"[green]✓[/] {kind}: test PR-AUC {test['pr_auc']:.3f} (95% {low:.3f} to {high:.3f}), "
            f"recall at 1% FPR {test['recall_at_fpr']['0.01']:.3f}; "
            f"model {artifact.model_id[:14]}… ({'trained' if new else 'already stored'}, "
            f"{seconds:.1f} s)"
        )
        artifacts.append(artifact)
    best = max(artifacts, key=lambda a: float(a.card["metrics"]["validation"]["pr_auc"]))
    summary.add("candidate model", f"{best.kind} {best.model_id}")
    summary.add("test PR-AUC", f"{best.card['metrics']['test']['pr_auc']:.3f}")
    return best, artifacts


def approve(
    env: Env, data_dir: Path, artifact: ModelArtifact, out: Console, summary: Summary
) -> tuple[Governor, ModelRegistry]:
    """Register the candidate and pass its approval for fraud screening through a vote."""
    governor, registry = governance(env, data_dir)
    model_id = artifact.model_id
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
        out.print(f"[green]✓[/] registered {model_id[:14]}… in ModelRegistry {registry.address}")
    if entry.status == ModelStatus.APPROVED:
        out.print(f"[green]✓[/] {model_id[:14]}… is already approved for {entry.use!r}")
    else:
        from chainml.governance.passing import pass_proposal

        calldata = registry.approve_calldata(model_id, USE)
        before = env.block_number
        proposal = pass_proposal(
            governor, registry.address, calldata, f"approve {model_id} for {USE}"
        )
        out.print(
            f"[green]✓[/] governance: proposal {proposal} voted, voting period and timelock "
            f"waited out ({env.block_number - before} blocks), executed: approved for {USE!r}"
        )
    summary.add("approved for " + USE, registry.approved(USE))
    return governor, registry

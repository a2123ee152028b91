"""The guarded-token scenario end to end: a model, governance, the token and a payment stream.

The demo's on-chain step (:func:`screen_payments`) and ``chainml guard simulate`` both run it.

:func:`train_screening_model` trains a model on a simulated training set (its own seed, so the
stream it later screens is unseen) and stores it. :func:`simulate_guard` deploys a Governor, a
ModelRegistry, the token and the plain ERC-20 baseline on one chain, installs the model through
the governed path (:func:`~chainml.apps.guard_governance.install_model`), and streams a fresh
simulation through both tokens.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from chainml.apps.guard import DEFAULT_TIMEOUT, GuardedToken
from chainml.apps.guard_governance import InstalledModel, install_model
from chainml.apps.guard_simulation import (
    GuardReport,
    SimulationAccounts,
    deploy_plain_token,
    mint_initial,
    replay_plain,
    stream_payments,
)
from chainml.chain import Env
from chainml.chain.embedded import EmbeddedBackend
from chainml.governance.governor import Governor
from chainml.governance.registry import ModelRegistry
from chainml.models.artifacts import ModelArtifact, save_model
from chainml.models.simulator import simulate_payments
from chainml.models.train import train_model

TRAINING_ROWS = 20_000
#: Seed offset of the training simulation: the screened stream is never the training data.
TRAINING_SEED_OFFSET = 1_000_000
KIND_PARAMS: dict[str, dict[str, object]] = {"lr": {}, "lgbm": {"preset": "compact"}}


def train_screening_model(
    data_dir: Path, *, kind: str = "lr", seed: int = 0, rows: int = TRAINING_ROWS
) -> ModelArtifact:
    """Train and store a ``kind`` model on ``rows`` simulated transfers (seed + 1,000,000)."""
    simulation = simulate_payments(rows, seed + TRAINING_SEED_OFFSET)
    trained = train_model(
        simulation.dataset(), kind, seed=seed, params=dict(KIND_PARAMS.get(kind, {})), resamples=200
    )
    artifact, _ = save_model(data_dir, trained, dataset_spec=f"simulated:{rows}:{seed}")
    return artifact


@dataclass(frozen=True)
class GuardRun:
    """A finished scenario: the contracts, the installed model and the report."""

    token: GuardedToken
    governor: Governor
    registry: ModelRegistry
    installed: InstalledModel
    plain: str  # address of the plain ERC-20 baseline
    accounts: list[str]
    report: GuardReport


def simulate_guard(
    env: Env,
    artifact: ModelArtifact,
    *,
    transfers: int,
    seed: int = 0,
    baseline: bool = True,
    check_features: bool = True,
    timeout: int = DEFAULT_TIMEOUT,
    progress: Callable[[int], None] | None = None,
    baseline_progress: Callable[[int], None] | None = None,
) -> GuardRun:
    """Deploy everything on ``env``, install ``artifact`` by vote, stream ``transfers``.

    The chain's clock moves forward by the simulated period (whole days more): use a
    development chain made for the purpose.
    """
    simulation = simulate_payments(transfers, seed)
    governor = Governor.deploy(env, {env.sender: 1}, voting_period_blocks=1, timelock_blocks=0)
    registry = ModelRegistry.deploy(env, governor.address)
    token = GuardedToken.deploy(
        env, governor=governor.address, registry=registry.address, timeout=timeout
    )
    installed = install_model(env, token, artifact, governor, registry)
    plain = deploy_plain_token(env) if baseline else None
    accounts = SimulationAccounts.create(env, simulation)
    accounts.fund(env, simulation)
    mint_initial(token, plain, simulation, accounts.addresses)
    report = stream_payments(
        token, simulation, accounts, check_features=check_features, progress=progress
    )
    if plain is not None:
        replay_plain(plain, report, accounts, baseline_progress)
    return GuardRun(
        token=token,
        governor=governor,
        registry=registry,
        installed=installed,
        plain=plain.address if plain is not None else "",
        accounts=accounts.addresses,
        report=report,
    )


@dataclass(frozen=True)
class Screening:
    """The demo's on-chain step: the scenario's run, the gas it measured and its duration."""

    run: GuardRun
    seconds: float

    @property
    def gas_ratio(self) -> float:
        """Mean gas of a guarded transfer over that of a plain ERC-20 transfer."""
        gas = self.run.report.gas()
        guarded, baseline = gas["guarded"], gas["plain ERC-20"]
        return guarded.mean / baseline.mean if baseline.mean else float("nan")


def screen_payments(
    data_dir: Path,
    artifact: ModelArtifact,
    transfers: int,
    *,
    progress: Callable[[int], None] | None = None,
    baseline_progress: Callable[[int], None] | None = None,
) -> Screening:
    """Install ``artifact`` by vote and stream ``transfers`` payments through both tokens.

    The simulation moves its chain's clock by weeks, so it runs on a scratch embedded chain;
    compiled contracts are cached in ``data_dir``, so a second run does not recompile.
    """
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="chainml-demo-guard-") as scratch:
        backend = EmbeddedBackend(Path(scratch) / "chain")
        with Env(backend, backend.signers, data_dir=data_dir) as env:
            run = simulate_guard(
                env,
                artifact,
                transfers=transfers,
                seed=7,
                progress=progress,
                baseline_progress=baseline_progress,
            )
    return Screening(run, time.perf_counter() - started)

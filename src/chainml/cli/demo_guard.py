"""The on-chain step of ``chainml demo``: a compact model inside the EVM screens payments.

A model trained on simulated payments (whose features the token computes itself) is compiled
to a contract, approved and installed by two votes, and a stream of fresh simulated payments
goes through the guarded token and through a plain ERC-20 for comparison. The simulation moves
its chain's clock by weeks, so it runs on a scratch embedded chain; compiled contracts are
cached in the demo's data directory, so a second run does not recompile.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from chainml.apps.guard_demo import GuardRun, simulate_guard, train_screening_model
from chainml.chain import Env
from chainml.chain.embedded import EmbeddedBackend
from chainml.cli.summary import Summary


def screen_payments(data_dir: Path, transfers: int, out: Console, summary: Summary) -> GuardRun:
    """Train the payments model, install it by vote, stream ``transfers`` payments."""
    started = time.perf_counter()
    with out.status("training the payments model on 20,000 simulated transfers"):
        artifact = train_screening_model(data_dir, kind="lr", seed=0)
    out.print(
        f"[green]✓[/] payments model {artifact.model_id[:14]}… "
        f"(test PR-AUC {artifact.card['metrics']['test']['pr_auc']:.3f})"
    )
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with (
        tempfile.TemporaryDirectory(prefix="chainml-demo-guard-") as scratch,
        Progress(*columns, console=out, transient=True) as progress,
    ):
        backend = EmbeddedBackend(Path(scratch) / "chain")
        with Env(backend, backend.signers, data_dir=data_dir) as env:
            screened = progress.add_task("payments through the guarded token", total=transfers)
            plain = progress.add_task("the same payments through a plain ERC-20", total=transfers)
            run = simulate_guard(
                env,
                artifact,
                transfers=transfers,
                seed=7,
                progress=lambda n: progress.advance(screened, n),
                baseline_progress=lambda n: progress.advance(plain, n),
            )
    report = run.report
    gas = report.gas()
    guarded, baseline = gas["guarded"], gas["plain ERC-20"]
    ratio = guarded.mean / baseline.mean if baseline.mean else float("nan")
    out.print(
        f"[green]✓[/] model contract {run.installed.contract} ({run.installed.code_size:,} bytes) "
        f"approved and installed by proposals {', '.join(map(str, run.installed.proposals))}"
    )
    out.print(
        f"[green]✓[/] {report.sent:,} payments screened on chain: {report.fraud_held} of "
        f"{report.fraud_held + report.fraud_sent} frauds held, {report.legit_held} of "
        f"{report.legit_held + report.legit_sent} legitimate held; gas per transfer "
        f"{guarded.mean:,.0f} vs {baseline.mean:,.0f} for a plain ERC-20 ({ratio:.2f}x) "
        f"({time.perf_counter() - started:.0f} s)"
    )
    summary.add("payments screened on chain", f"{report.sent:,}")
    summary.add("frauds held", f"{report.fraud_held} of {report.fraud_held + report.fraud_sent}")
    summary.add(
        "legitimate held", f"{report.legit_held} of {report.legit_held + report.legit_sent}"
    )
    summary.add("gas: guarded / plain transfer", f"{guarded.mean:,.0f} / {baseline.mean:,.0f}")
    return run

"""The ``chainml demo`` command: parse flags, run the story's steps, render what they return.

Real fraud data (or the simulator when offline) -> models trained and evaluated honestly ->
registered and approved by a governance vote -> a compact model compiled into a contract that
screens payments inside a token -> a held-out stream scored through the scoring service, every
decision logged before its answer -> the log anchored on chain -> receipts verified, a forgery
rejected, the log audited -> a dishonest operator caught by a watchtower and its bond slashed
(optimistic verification) -> a summary and an HTML report. The steps live in
:mod:`chainml.apps.demo`; this module only shows them.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from chainml.apps.demo import models, receipts, screening, service, watchtower
from chainml.apps.demo.report import write_report
from chainml.chain import Env, connect
from chainml.cli import console, settings_of
from chainml.cli.summary import Summary
from chainml.errors import VerificationError
from chainml.log.decision_log import DecisionLog
from chainml.models.artifacts import ModelArtifact
from chainml.models.dataset import Dataset
from chainml.models.split import time_split

OK = "[green]✓[/]"


def _bars() -> tuple[TextColumn, BarColumn, MofNCompleteColumn]:
    return TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()


def _data(data_dir: Path, offline: bool, out: Console, summary: Summary) -> models.DemoData:
    fetching = "fetching and verifying the ULB credit-card data"
    with out.status("simulating payments" if offline else fetching):
        data = models.load_data(data_dir, offline)
    if data.fallback_reason is not None:
        out.print(
            f"[yellow]![/] the ULB data cannot be fetched here ({data.fallback_reason}); "
            f"using {models.OFFLINE_ROWS:,} simulated payments instead"
        )
    d = data.dataset
    out.print(
        f"{OK} data: {d.name}, {d.rows:,} rows, {d.positives:,} frauds, "
        f"commitment {d.commitment()[:18]}… ({data.seconds:.1f} s)"
    )
    summary.add("dataset", f"{d.name} ({d.rows:,} rows)")
    return data


def _train(data_dir: Path, data: models.DemoData, out: Console, summary: Summary) -> tuple[
    ModelArtifact, list[ModelArtifact]
]:  # fmt: skip
    artifacts = []
    for kind in models.KINDS:
        with out.status(f"training {kind} on the first 80% (by time)"):
            trained = models.train(data_dir, data, kind)
        artifact = trained.artifact
        test = artifact.card["metrics"]["test"]
        low, high = test["pr_auc_interval"]["low"], test["pr_auc_interval"]["high"]
        out.print(
            f"{OK} {kind}: test PR-AUC {test['pr_auc']:.3f} (95% {low:.3f} to {high:.3f}), "
            f"recall at 1% FPR {test['recall_at_fpr']['0.01']:.3f}; "
            f"model {artifact.model_id[:14]}… "
            f"({'trained' if trained.new else 'already stored'}, {trained.seconds:.1f} s)"
        )
        artifacts.append(artifact)
    best = models.candidate(artifacts)
    summary.add("candidate model", f"{best.kind} {best.model_id}")
    summary.add("test PR-AUC", f"{best.card['metrics']['test']['pr_auc']:.3f}")
    return best, artifacts


def _approve(env: Env, data_dir: Path, best: ModelArtifact, out: Console, summary: Summary) -> None:
    approval = models.approve(env, data_dir, best)
    short = approval.model_id[:14]
    if approval.registered:
        out.print(f"{OK} registered {short}… in ModelRegistry {approval.registry.address}")
    if approval.proposal is None:
        out.print(f"{OK} {short}… is already approved for {approval.use!r}")
    else:
        out.print(
            f"{OK} governance: proposal {approval.proposal} voted, voting period and timelock "
            f"waited out ({approval.blocks} blocks), executed: approved for {models.USE!r}"
        )
    summary.add("approved for " + models.USE, approval.approved)


def _screen(data_dir: Path, transfers: int, out: Console, summary: Summary) -> screening.GuardRun:
    started = time.perf_counter()
    with out.status("training the payments model on 20,000 simulated transfers"):
        artifact = screening.train_screening_model(data_dir, kind="lr", seed=0)
    out.print(
        f"{OK} payments model {artifact.model_id[:14]}… "
        f"(test PR-AUC {artifact.card['metrics']['test']['pr_auc']:.3f})"
    )
    with Progress(*_bars(), console=out, transient=True) as progress:
        screened = progress.add_task("payments through the guarded token", total=transfers)
        plain = progress.add_task("the same payments through a plain ERC-20", total=transfers)
        result = screening.screen_payments(
            data_dir,
            artifact,
            transfers,
            progress=lambda n: progress.advance(screened, n),
            baseline_progress=lambda n: progress.advance(plain, n),
        )
    run, report = result.run, result.run.report
    gas = report.gas()
    guarded, baseline = gas["guarded"], gas["plain ERC-20"]
    frauds, legit = report.fraud_held + report.fraud_sent, report.legit_held + report.legit_sent
    out.print(
        f"{OK} model contract {run.installed.contract} ({run.installed.code_size:,} bytes) "
        f"approved and installed by proposals {', '.join(map(str, run.installed.proposals))}"
    )
    out.print(
        f"{OK} {report.sent:,} payments screened on chain: {report.fraud_held} of {frauds} "
        f"frauds held, {report.legit_held} of {legit} legitimate held; gas per transfer "
        f"{guarded.mean:,.0f} vs {baseline.mean:,.0f} for a plain ERC-20 "
        f"({result.gas_ratio:.2f}x) ({time.perf_counter() - started:.0f} s)"
    )
    summary.add("payments screened on chain", f"{report.sent:,}")
    summary.add("frauds held", f"{report.fraud_held} of {frauds}")
    summary.add("legitimate held", f"{report.legit_held} of {legit}")
    summary.add("gas: guarded / plain transfer", f"{guarded.mean:,.0f} / {baseline.mean:,.0f}")
    return run


def _score(
    env: Env, data_dir: Path, stream: Dataset, out: Console, summary: Summary
) -> service.StreamResult:
    with Progress(*_bars(), console=out, transient=True) as progress:
        task = progress.add_task("scoring through POST /v1/score/batch", total=stream.rows)
        result = service.score_stream(
            env, data_dir, stream, progress=lambda n: progress.advance(task, n)
        )
    out.print(
        f"{OK} service: {result.rows:,} held-out records scored and logged durably in "
        f"{result.seconds:.1f} s ({result.rate:,.0f}/s) by model {result.model_id[:14]}…; "
        f"{result.flagged:,} flagged, {result.caught} of {result.frauds} frauds among them"
    )
    summary.add("decisions scored by the service", f"{result.rows:,} ({result.rate:,.0f}/s)")
    summary.add("flagged", f"{result.flagged:,} ({result.caught} of {result.frauds} frauds)")
    return result


def _check_log(env: Env, log: DecisionLog, sample: int, out: Console, summary: Summary) -> None:
    anchoring = receipts.anchor_head(env, log)
    record = anchoring.record
    if record is None:
        out.print(f"{OK} the chain already holds the log's head")
    else:
        per = anchoring.gas / anchoring.covered
        out.print(
            f"{OK} anchored size {record.size:,} at {record.contract} "
            f"(block {record.block_number}): {anchoring.gas:,} gas, {per:.2f} gas per decision"
        )
        summary.add("anchor contract", record.contract)
        summary.add("anchoring gas", f"{anchoring.gas:,} ({per:.2f} per decision)")
    check = receipts.verify_receipts(env, log, sample)
    out.print(
        f"{OK} {check.count} receipts proven and verified on chain "
        f"({1000 * check.seconds / max(check.count, 1):.1f} ms each)"
    )
    summary.add("receipts verified on chain", check.count)
    rejection = receipts.show_tampering(env, log)
    out.print(f"{OK} a receipt with a flipped decision is rejected: {rejection}")
    summary.add("tampered receipt", "rejected")
    out.print(f"{OK} a genuine receipt is not valid for a verifier who pinned no log")
    audited = receipts.audit_log(anchoring.anchorer, log)
    out.print(f"{OK} audit: {audited:,} records recomputed, anchored heads agree")
    summary.add("audit", "passed")


def _optimistic(env: Env, data_dir: Path, out: Console, summary: Summary) -> None:
    """The optimistic chapter: a dishonest operator caught and slashed by the watchtower."""
    artifact = screening.train_screening_model(data_dir, kind="lr", seed=0)  # stored: a lookup
    with out.status("a dishonest operator logs 20,000 decisions; a watchtower checks them"):
        result = watchtower.dishonest_operator(env, data_dir, artifact)
    report = result.report
    out.print(
        f"{OK} optimistic: operator bonded {result.bond_before / 1e18:g} ETH on ChallengeableLog "
        f"{result.log} and anchored {result.records:,} off-chain decisions, one score wrong "
        f"(record {result.wrong_index:,})"
    )
    out.print(
        f"{OK} watchtower re-verified {report.records:,} records (leaves, root, scores) at "
        f"{report.records_per_second:,.0f}/s and found {report.fault_count} wrong"
    )
    for fault in report.faults:
        challenge = fault["challenge"]
        if challenge.get("slashed"):
            out.print(
                f"{OK} fraud proof for record {fault['index']:,}: the contract re-executed the "
                f"approved model ({challenge['reason']}, {challenge['gas_used']:,} gas); "
                f"{challenge['reward_wei'] / 1e18:g} ETH of the bond paid to the challenger, "
                f"log halted: {result.halted}"
            )
        else:
            raise VerificationError(f"the watchtower's challenge was not accepted: {challenge}")
    if report.fault_count != 1 or not result.halted:
        raise VerificationError(
            f"the watchtower found {report.fault_count} wrong records, not the one planted"
        )
    summary.add("watchtower: wrong records caught", f"{report.fault_count} of {result.records:,}")
    summary.add("operator bond slashed", f"{(result.bond_before - result.bond_after) / 1e18:g} ETH")


def demo(
    ctx: typer.Context,
    offline: Annotated[
        bool, typer.Option("--offline", help="Use the payments simulator, not the ULB data.")
    ] = False,
    transfers: Annotated[
        int, typer.Option("--transfers", min=10, help="Payments to screen on chain.")
    ] = 1_500,
    stream: Annotated[
        int | None,
        typer.Option("--stream", min=1, help="Held-out records to score (default: all of them)."),
    ] = None,
    receipts_: Annotated[
        int,
        typer.Option("--receipts", min=1, help="How many receipts to verify on chain."),
    ] = 25,
    report: Annotated[
        Path | None,
        typer.Option("--report", help="Where to write the HTML report (default: in the data dir)."),
    ] = None,
) -> None:
    """Train, govern, run a model on chain, score through the service, anchor, verify, report."""
    settings = settings_of(ctx)
    data_dir = settings.data_dir
    out = console()
    summary = Summary()
    started = time.perf_counter()
    with connect(settings) as env:
        summary.add("chain", f"{env.backend.kind} (chain id {env.chain_id})")
        out.print(f"{OK} opened the {env.backend.kind} chain at {escape(env.backend.location)}")
        data = _data(data_dir, offline, out, summary)
        best, trained = _train(data_dir, data, out, summary)
        _approve(env, data_dir, best, out, summary)
        guard = _screen(data_dir, transfers, out, summary)
        held_out = time_split(data.dataset).test
        if stream is not None:
            held_out = held_out.take(slice(0, stream))
        result = _score(env, data_dir, held_out, out, summary)
        with DecisionLog.open(data_dir) as log:
            _check_log(env, log, receipts_, out, summary)
            _optimistic(env, data_dir, out, summary)
            summary.add("block number", env.block_number)
            summary.add("time", f"{time.perf_counter() - started:.0f} s")
            path = write_report(
                report or data_dir / "report.html", data_dir, env, log, trained, guard, result,
                summary.rows,
            )  # fmt: skip
    out.print(summary.table())
    out.print(f"{OK} report: {path}")

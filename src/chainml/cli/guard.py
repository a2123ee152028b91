"""The ``chainml guard`` command group: the guarded token that holds risky transfers."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from chainml.apps.guard import DEFAULT_TIMEOUT, GuardedToken, record_token, recorded_token
from chainml.chain import Env, connect
from chainml.cli import console, iso_utc, print_json, settings_of
from chainml.config import Settings
from chainml.errors import InvalidInputError, NotFoundError
from chainml.governance.deployments import deployment, governance

app = typer.Typer(
    help="Guarded token: deploy, simulate payments, list, release or refund held transfers.",
    no_args_is_help=True,
)

_JSON = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
_FROM = Annotated[
    str | None,
    typer.Option("--from", metavar="ADDR", help="Sign as this account (default: the first)."),
]
_ID = Annotated[int, typer.Argument(metavar="ID", min=1, help="The held transfer's id.")]


@contextmanager
def _progress() -> Iterator[Callable[[str, int], Callable[[int], None]]]:
    """A rich progress display on stderr; yields ``task(description, total) -> advance``."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True, highlight=False),
        transient=True,
    ) as progress:

        def task(description: str, total: int) -> Callable[[int], None]:
            task_id = progress.add_task(description, total=total)
            return lambda step: progress.advance(task_id, step)

        yield task


@app.command()
def deploy(
    ctx: typer.Context,
    model: Annotated[
        str | None,
        typer.Option("--model", metavar="MODEL_ID", help="Screen with this stored model."),
    ] = None,
    reviewer: Annotated[
        str | None, typer.Option(metavar="ADDR", help="Who releases and refunds (default: you).")
    ] = None,
    timeout: Annotated[
        int, typer.Option(metavar="SECONDS", min=1, help="Seconds until anyone may release.")
    ] = DEFAULT_TIMEOUT,
    supply: Annotated[
        int, typer.Option(metavar="CENTS", min=0, help="Mint this much to you (base units).")
    ] = 0,
) -> None:
    """Deploy the guarded token (once per chain); with --model, install it through governance.

    The model goes the governed path: its generated contract is deployed, registered and
    attached in the ModelRegistry, approved by a vote, and set on the token by a second vote
    (with the default governance, you are the only member and both votes pass at once).
    """
    settings = settings_of(ctx)
    artifact = _load(settings, model) if model is not None else None
    out = console()
    with connect(settings) as env:
        fresh = deployment(settings.data_dir, env.chain_id) is None
        governor, registry = governance(env, settings.data_dir)
        if fresh:
            out.print(f"deployed governance: Governor {governor.address}, ModelRegistry "
                      f"{registry.address}")  # fmt: skip
        token = _existing(env, settings.data_dir)
        if token is None:
            token = GuardedToken.deploy(
                env,
                governor=governor.address,
                registry=registry.address,
                reviewer=reviewer,
                timeout=timeout,
            )
            record_token(settings.data_dir, env.chain_id, token.address)
            out.print(f"deployed GuardedToken {token.address} (reviewer "
                      f"{reviewer or env.sender}, hold timeout {timeout} s)")  # fmt: skip
            if supply:
                token.mint({env.sender: supply})
                out.print(f"minted {supply} to {env.sender}")
        else:
            out.print(f"GuardedToken already deployed at {token.address}")
        if artifact is not None:
            from chainml.apps.guard_governance import install_model

            installed = install_model(env, token, artifact, governor, registry)
            out.print(
                f"screening with model {installed.model_id} (contract {installed.contract}, "
                f"{installed.code_size} bytes, threshold {installed.threshold}); proposals "
                f"{', '.join(str(p) for p in installed.proposals)} passed"
            )


def _existing(env: Env, data_dir: Path) -> GuardedToken | None:
    try:
        return recorded_token(env, data_dir)
    except NotFoundError:
        return None


def _load(settings: Settings, model_id: str) -> Any:
    from chainml.models.artifacts import load_model

    return load_model(settings.data_dir, model_id)


@app.command()
def simulate(
    ctx: typer.Context,
    transfers: Annotated[int, typer.Option("-n", min=1, help="Simulated transfers.")] = 1000,
    seed: Annotated[int, typer.Option(min=0, help="Simulation seed.")] = 0,
    model: Annotated[
        str | None,
        typer.Option("--model", metavar="MODEL_ID", help="Screen with this stored model."),
    ] = None,
    kind: Annotated[
        str, typer.Option(help="Without --model: train this kind (lr or lgbm).")
    ] = "lr",
    baseline: Annotated[
        bool, typer.Option(help="Replay the transfers through a plain ERC-20 for gas.")
    ] = True,
    check_features: Annotated[
        bool, typer.Option(help="Compare the on-chain features with the simulator's.")
    ] = True,
    as_json: _JSON = False,
) -> None:
    """Stream simulated payments through a guarded token and report what it held.

    The simulation moves the chain clock by weeks and creates an account per simulated
    customer, so it runs on a throw-away chain: a fresh embedded chain in a temporary
    directory, or with --rpc the development node given (anvil: it needs evm_increaseTime
    and a funded key, CHAINML_PRIVATE_KEY). Without --model, a model is trained on a separate
    simulated set and stored first.
    """
    from chainml.apps.demo.screening import simulate_guard, train_screening_model

    if kind not in ("lr", "lgbm"):
        raise InvalidInputError(f"--kind must be lr or lgbm, got {kind!r}")
    settings = settings_of(ctx)
    out = console() if not as_json else Console(stderr=True, highlight=False)
    if model is not None:
        artifact = _load(settings, model)
    else:
        out.print(f"no --model given: training a {kind} model on 20,000 simulated transfers "
                  f"(seed {seed + 1_000_000}, not the screened ones)")  # fmt: skip
        artifact = train_screening_model(settings.data_dir, kind=kind, seed=seed)
        out.print(f"stored model {artifact.model_id}")
    with _simulation_chain(settings) as env, _progress() as task:
        if settings.rpc is not None:
            out.print(f"simulating on the node at --rpc (chain {env.chain_id}): its clock moves "
                      "forward by the simulated period")  # fmt: skip
        run = simulate_guard(
            env,
            artifact,
            transfers=transfers,
            seed=seed,
            baseline=baseline,
            check_features=check_features,
            progress=task("screening transfers", transfers),
            baseline_progress=task("plain ERC-20 baseline", transfers) if baseline else None,
        )
    facts = run.report.facts() | {
        "model_id": run.installed.model_id,
        "model_kind": artifact.kind,
        "threshold": run.installed.threshold,
        "model_code_bytes": run.installed.code_size,
        "seed": seed,
    }
    if as_json:
        print_json(facts)
        return
    _print_report(facts)


@contextmanager
def _simulation_chain(settings: Settings) -> Iterator[Env]:
    """The node --rpc names, else a fresh embedded chain in a temporary directory."""
    if settings.rpc is not None:
        with connect(settings) as env:
            yield env
        return
    from chainml.chain.embedded import EmbeddedBackend

    with tempfile.TemporaryDirectory(prefix="chainml-guard-") as scratch:
        backend = EmbeddedBackend(Path(scratch) / "chain")
        # the compile cache stays in the data directory; the chain is thrown away
        with Env(backend, backend.signers, data_dir=settings.data_dir) as env:
            yield env


def _print_report(facts: dict[str, Any]) -> None:
    out = console()
    out.print(
        f"model {facts['model_id']} ({facts['model_kind']}, {facts['model_code_bytes']} bytes, "
        f"threshold {facts['threshold']}); {facts['transfers']} simulated transfers, seed "
        f"{facts['seed']}"
    )
    table = Table(title="screening", title_justify="left")
    table.add_column("what")
    table.add_column("held", justify="right")
    table.add_column("of", justify="right")
    table.add_column("share", justify="right")
    for pattern, counts in facts["frauds"].items():
        table.add_row(f"fraud: {pattern}", str(counts["held"]), str(counts["sent"]),
                      _share(counts["held"], counts["sent"]))  # fmt: skip
    table.add_row("fraud: all", str(facts["fraud_held"]), str(facts["fraud_sent"]),
                  _share(facts["fraud_held"], facts["fraud_sent"]))  # fmt: skip
    table.add_row("legitimate", str(facts["legit_held"]), str(facts["legit_sent"]),
                  _share(facts["legit_held"], facts["legit_sent"]))  # fmt: skip
    table.add_row("failed model calls", str(facts["model_failures"]), str(facts["sent"]), "")
    out.print(table)
    gas = Table(title="gas per transfer (receipt gasUsed)", title_justify="left")
    for column in ("token", "transfers", "mean", "p50", "p99"):
        gas.add_column(column, justify="left" if column == "token" else "right")
    for name, summary in facts["gas"].items():
        gas.add_row(name, str(summary["count"]), f"{summary['mean']:,.0f}",
                    f"{summary['p50']:,}", f"{summary['p99']:,}")  # fmt: skip
    out.print(gas)
    plain = facts["gas"]["plain ERC-20"]["mean"]
    if plain:
        ratio = facts["gas"]["guarded"]["mean"] / plain
        out.print(f"a guarded transfer costs {ratio:.2f}x a plain ERC-20 transfer on average")
    out.print(
        f"sent {facts['sent']}, skipped {facts['skipped']} (sender short: an incoming transfer "
        f"was held); on-chain features equal to the simulator's: {facts['features_equal']}/"
        f"{facts['features_checked']}; blocks off their simulated time: {facts['late']}; "
        f"{facts['seconds']:.1f} s ({facts['sent'] / max(facts['seconds'], 1e-9):.0f} "
        "transfers/s)"
    )


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


@contextmanager
def _token(ctx: typer.Context) -> Iterator[tuple[Env, GuardedToken]]:
    settings = settings_of(ctx)
    with connect(settings) as env:
        yield env, recorded_token(env, settings.data_dir)


@app.command()
def held(
    ctx: typer.Context,
    show_all: Annotated[bool, typer.Option("--all", help="Include settled transfers.")] = False,
    as_json: _JSON = False,
) -> None:
    """Held transfers still in escrow (or all, with --all)."""
    with _token(ctx) as (_, token):
        rows = [h.facts() for h in token.held(pending_only=not show_all)]
        escrowed = token.escrowed
    if as_json:
        print_json(rows)
        return
    out = console()
    if not rows:
        out.print(f"no held transfers{'' if show_all else ' in escrow'} ({token.address})")
        return
    table = Table(title=f"held transfers of {token.address} (escrow {escrowed})",
                  title_justify="left")  # fmt: skip
    for column in ("id", "status", "from", "to", "amount", "score", "reason", "deadline"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(str(row["id"]), row["status"], row["sender"], row["recipient"],
                      str(row["amount"]), str(row["score"]), str(row["reason"]),
                      iso_utc(row["deadline"]))  # fmt: skip
    out.print(table)


@app.command()
def release(
    ctx: typer.Context,
    hold_id: _ID,
    expired: Annotated[
        bool, typer.Option("--expired", help="Release after the deadline (anyone may).")
    ] = False,
    sender: _FROM = None,
) -> None:
    """Release a held transfer to its recipient (the reviewer; anyone once it expired)."""
    with _token(ctx) as (_, token):
        hold = token.held_transfer(hold_id)  # an unknown id is bad input, not a revert
        action = token.release_expired if expired else token.release
        receipt = action(hold_id, sender=sender)
    console().print(f"released held transfer {hold_id}: {hold.amount} to {hold.recipient} "
                    f"(tx 0x{receipt.tx_hash.hex()})")  # fmt: skip


@app.command()
def refund(ctx: typer.Context, hold_id: _ID, sender: _FROM = None) -> None:
    """Refund a held transfer to its sender (the reviewer only)."""
    with _token(ctx) as (_, token):
        hold = token.held_transfer(hold_id)
        receipt = token.refund(hold_id, sender=sender)
    console().print(f"refunded held transfer {hold_id}: {hold.amount} back to {hold.sender} "
                    f"(tx 0x{receipt.tx_hash.hex()})")  # fmt: skip

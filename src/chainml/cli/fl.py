"""The ``chainml fl`` command group: prepare, run and audit a federation (Flower, on chain)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from chainml.cli import console, print_json, settings_of
from chainml.errors import VerificationError

app = typer.Typer(
    help="Federated learning on Flower: participants train one model without sharing data; "
    "every round is committed on chain.",
    no_args_is_help=True,
)

_TASK = Annotated[str, typer.Option("--task", metavar="NAME", help="The federation's name.")]
_JSON = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


@app.command()
def init(
    ctx: typer.Context,
    task: _TASK,
    data: Annotated[
        str,
        typer.Option(
            "--data",
            metavar="SPEC",
            help="breast_cancer (bundled with scikit-learn), creditcard, simulated[:N], or a "
            "CSV path.",
        ),
    ],
    clients: Annotated[int, typer.Option("--clients", min=2, help="Participants.")] = 5,
    partition: Annotated[
        str,
        typer.Option(
            "--partition",
            metavar="iid|dirichlet:ALPHA|column:COL",
            help="How the training rows are divided among the participants.",
        ),
    ] = "iid",
    seed: Annotated[int, typer.Option("--seed", help="Split and partition seed.")] = 0,
    json_out: _JSON = False,
) -> None:
    """Prepare a federation: one data file per participant and federation.json."""
    from chainml.fl import init_federation

    settings = settings_of(ctx)
    federation = init_federation(
        settings.data_dir,
        task=task,
        data=data,
        clients=clients,
        partition_spec=partition,
        seed=seed,
    )
    if json_out:
        print_json({"path": str(federation.path), **federation.config})
        return
    table = Table("participant", "file", "rows", "positives", title=f"federation {task}")
    for p in federation.participants:
        table.add_row(
            str(p["index"]), str(federation.path / p["file"]), str(p["rows"]), str(p["positives"])
        )
    console().print(table)


@app.command()
def run(
    ctx: typer.Context,
    task: _TASK,
    rounds: Annotated[int, typer.Option("--rounds", min=1, help="Federated rounds.")] = 5,
    model: Annotated[str, typer.Option("--model", metavar="lr|mlp", help="Model kind.")] = "lr",
    strategy: Annotated[
        str,
        typer.Option(
            "--strategy",
            metavar="fedavg|fedmedian|trimmed|krum",
            help="How updates are merged (Flower's strategies).",
        ),
    ] = "fedavg",
    epochs: Annotated[int, typer.Option("--local-epochs", min=1, help="Local epochs.")] = 5,
    dp_epsilon: Annotated[
        float | None,
        typer.Option(
            "--dp-epsilon",
            metavar="EPS",
            help="Differential privacy: client-side clipping and Gaussian noise "
            "calibrated to this epsilon over all rounds (delta 1e-5).",
        ),
    ] = None,
    dp_clip: Annotated[float, typer.Option("--dp-clip", help="Update clipping norm.")] = 1.0,
    secagg: Annotated[
        bool, typer.Option("--secagg", help="Secure aggregation (Flower's SecAgg+).")
    ] = False,
    off_chain: Annotated[
        bool, typer.Option("--off-chain", help="No on-chain record (plain Flower).")
    ] = False,
    contract: Annotated[
        str | None,
        typer.Option(
            "--contract",
            metavar="ADDR",
            help="Use this FederatedRounds (its governor, e.g. a Governor vote, admitted the "
            "participants) instead of deploying one.",
        ),
    ] = None,
    actors: Annotated[
        int | None,
        typer.Option(
            "--actors", min=1, help="Simulation: participants training at once (default: all)."
        ),
    ] = None,
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            metavar="simulation|grpc",
            help="simulation: all participants here (Ray); grpc: serve on --address "
            "and wait for `chainml fl client` processes.",
        ),
    ] = "simulation",
    address: Annotated[
        str, typer.Option("--address", metavar="HOST:PORT", help="grpc engine: listen here.")
    ] = "127.0.0.1:9092",
    tls_dir: Annotated[
        str | None,
        typer.Option(
            "--tls-dir",
            metavar="DIR",
            help="grpc engine: TLS with DIR/ca.crt, server.crt, server.key.",
        ),
    ] = None,
    json_out: _JSON = False,
) -> None:
    """Run the federation (Flower's simulation engine, or grpc) and store the model."""
    from chainml.fl import RunOptions, run_federation
    from chainml.fl.local import LocalTraining

    settings = settings_of(ctx)
    options = RunOptions(
        rounds=rounds,
        kind=model,
        strategy=strategy,
        training=LocalTraining(epochs=epochs),
        dp_epsilon=dp_epsilon,
        dp_clip=dp_clip,
        secagg=secagg,
        on_chain=not off_chain,
        engine=engine,
        address=address,
        tls_dir=tls_dir,
        actors=actors,
        contract=contract,
    )
    result = run_federation(settings.data_dir, task, options, settings)
    summary = {
        "model_id": result.record.get("model_id"),
        "contract": (result.record.get("chain") or {}).get("contract"),
        "rounds": result.record["rounds"],
        "test_metrics": result.record["test_metrics"],
        "privacy": result.record["privacy"],
        "record": str(result.record_path),
    }
    if json_out:
        print_json(summary)
        return
    table = Table(
        "round",
        "global hash",
        "accepted",
        "rejected",
        "val accuracy",
        "seconds",
        title=f"federation {task}",
    )
    for entry in result.record["rounds"]:
        table.add_row(
            str(entry["round"]),
            entry["global_hash"][:18] + "…",
            str(len(entry["accepted"])),
            str(len(entry["rejected"])),
            f"{entry['validation'].get('accuracy', float('nan')):.3f}",
            f"{entry['seconds']:.2f}",
        )
    out = console()
    out.print(table)
    out.print(f"model {summary['model_id']}  contract {summary['contract']}")
    out.print(f"record {summary['record']}")


@app.command()
def server(
    ctx: typer.Context,
    task: _TASK,
    rounds: Annotated[int, typer.Option("--rounds", min=1, help="Federated rounds.")] = 5,
    model: Annotated[str, typer.Option("--model", metavar="lr|mlp", help="Model kind.")] = "lr",
    strategy: Annotated[
        str, typer.Option("--strategy", metavar="fedavg|fedmedian|trimmed|krum")
    ] = "fedavg",
    dp_epsilon: Annotated[float | None, typer.Option("--dp-epsilon", metavar="EPS")] = None,
    address: Annotated[
        str, typer.Option("--address", metavar="HOST:PORT", help="Listen here.")
    ] = "127.0.0.1:9092",
    tls_dir: Annotated[
        str | None,
        typer.Option("--tls-dir", metavar="DIR", help="TLS: DIR/ca.crt, server.crt, server.key."),
    ] = None,
    json_out: _JSON = False,
) -> None:
    """`fl run --engine grpc`: serve the rounds and wait for the `fl client` processes."""
    run(
        ctx,
        task,
        rounds=rounds,
        model=model,
        strategy=strategy,
        dp_epsilon=dp_epsilon,
        engine="grpc",
        address=address,
        tls_dir=tls_dir,
        json_out=json_out,
    )


@app.command()
def client(
    ctx: typer.Context,
    task: _TASK,
    index: Annotated[int, typer.Option("--index", min=0, help="This participant's index.")],
    server: Annotated[
        str, typer.Option("--server", metavar="HOST:PORT", help="The coordinator's address.")
    ] = "127.0.0.1:9092",
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            metavar="FILE",
            help="This participant's data file (default: the federation's p<index>).",
        ),
    ] = None,
    root_cert: Annotated[
        Path | None, typer.Option("--root-cert", metavar="PEM", help="TLS: the CA certificate.")
    ] = None,
) -> None:
    """Join a federation served with `fl run --engine grpc` as participant --index."""
    from chainml.fl import load_federation
    from chainml.fl.flower_env import configure_flower
    from chainml.fl.remote import run_client

    settings = settings_of(ctx)
    configure_flower(settings.data_dir)
    data_file = data or load_federation(settings.data_dir, task).participant_file(index)
    run_client(
        server, index, data_file, settings.data_dir, rpc=settings.rpc, root_certificates=root_cert
    )


@app.command()
def audit(
    ctx: typer.Context,
    model_id: Annotated[str, typer.Argument(metavar="MODEL_ID", help="The federated model.")],
    contract: Annotated[
        str | None,
        typer.Option(
            "--contract",
            metavar="ADDR",
            help="The FederatedRounds address you trust (default: the card's, which "
            "the report flags).",
        ),
    ] = None,
    json_out: _JSON = False,
) -> None:
    """Check the chain's record of a federation against the stored model (exit 3 on failure)."""
    from chainml.chain import connect
    from chainml.fl import audit_federation

    settings = settings_of(ctx)
    with connect(settings) as env:
        report = audit_federation(env, settings.data_dir, model_id, contract=contract)
    if json_out:
        print_json(report.to_dict())
    else:
        out = console()
        for check in report.checks:
            mark = "[green]ok[/green]" if check.ok else "[red]FAIL[/red]"
            out.print(f"{mark}  {check.name}: {check.detail}", highlight=False)
        if report.contract_source == "card":
            out.print("note: contract address taken from the model's card (pass --contract)")
    if not report.ok:
        failed = ", ".join(c.name for c in report.checks if not c.ok)
        raise VerificationError(f"federation audit failed: {failed}")

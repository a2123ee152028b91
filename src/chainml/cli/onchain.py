"""The ``chainml onchain`` command group: compile, deploy and check models inside the EVM."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from eth_utils import keccak
from rich.progress import Progress

from chainml.chain import connect
from chainml.cli import console, print_json, settings_of
from chainml.errors import InvalidInputError, NotFoundError, VerificationError

app = typer.Typer(
    help="On-chain inference: compile a model to Vyper, deploy it, check parity.",
    no_args_is_help=True,
)

_MODEL = Annotated[str, typer.Argument(metavar="MODEL_ID", help="Model id (or a unique prefix).")]
_JSON = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def _compiled(ctx: typer.Context, model_id: str) -> Any:
    from chainml.inference.onchain import compile_model
    from chainml.models.artifacts import load_model

    data_dir = settings_of(ctx).data_dir
    return compile_model(load_model(data_dir, model_id), data_dir / "cache" / "vyper")


@app.command("compile")
def compile_(
    ctx: typer.Context,
    model_id: _MODEL,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Also write the Vyper source here.")
    ] = None,
    as_json: _JSON = False,
) -> None:
    """Quantize a stored model and generate its Vyper contract (weights as code literals)."""
    compiled = _compiled(ctx, model_id)
    if output is not None:
        output.write_text(compiled.source)
    model = compiled.model
    facts = {
        "model_id": compiled.artifact.model_id,
        "kind": compiled.artifact.kind,
        "integer_model": type(model).__name__,
        "features": model.n_features,
        "input_scales": sorted({spec.scale for spec in model.inputs}),
        "score_scale": getattr(model, "score_scale", 1),
        "threshold": model.threshold,
        "overflow_bound_bits": model.max_magnitude().bit_length(),
        "code_bytes": compiled.code_size,
        "source": str(output) if output else None,
    }
    if as_json:
        print_json(facts)
        return
    for key, value in facts.items():
        console().print(f"{key:20} {value}")


@app.command()
def deploy(
    ctx: typer.Context,
    model_id: _MODEL,
    attach: Annotated[
        bool,
        typer.Option(
            "--attach/--no-attach",
            help="Record the contract and its code hash in the ModelRegistry (registrant only).",
        ),
    ] = True,
) -> None:
    """Deploy a model's contract (once per chain) and attach it to its registry entry."""
    from chainml.governance.deployments import deployment, governance
    from chainml.governance.registry import ModelStatus
    from chainml.inference.onchain import deploy_model

    compiled = _compiled(ctx, model_id)
    settings = settings_of(ctx)
    model_id = compiled.artifact.model_id
    with connect(settings) as env:
        contract = deploy_model(env, compiled, settings.data_dir)
        codehash = "0x" + keccak(env.backend.code(contract.address)).hex()
        out = console()
        out.print(f"model {model_id} runs at {contract.address} (code hash {codehash})")
        if not attach or deployment(settings.data_dir, env.chain_id) is None:
            return
        _, registry = governance(env, settings.data_dir, deploy=False)
        try:
            entry = registry.model(model_id)
        except NotFoundError:
            out.print("not registered: `chainml model register` it, then deploy again to attach")
            return
        if entry.contract is not None:
            same = entry.contract.lower() == contract.address.lower()
            out.print(
                f"registry: contract {entry.contract} attached" + ("" if same else " (other)")
            )
            return
        if entry.status != ModelStatus.REGISTERED:
            raise InvalidInputError(
                f"model {model_id} is {entry.status.name.lower()}; a contract can be attached "
                "only while it is registered (before approval)"
            )
        registry.attach_contract(model_id, contract.address)
        out.print(f"attached to its registry entry in ModelRegistry {registry.address}")


@app.command()
def check(
    ctx: typer.Context,
    model_id: _MODEL,
    rows: Annotated[int, typer.Option("--rows", min=1, help="How many rows to check.")] = 10_000,
    data: Annotated[
        str | None, typer.Option("--data", help="Dataset (default: the card's; its test split).")
    ] = None,
    as_json: _JSON = False,
) -> None:
    """Run rows through the deployed contract and the Python reference: exit 3 on any mismatch.

    Also reports how the integer model agrees with the float model on the same rows.
    """
    from chainml.inference.compile import agreement, encode_rows
    from chainml.inference.onchain import check_parity, model_contract
    from chainml.models.evaluate import held_out
    from chainml.models.sources import load_dataset

    compiled = _compiled(ctx, model_id)
    settings = settings_of(ctx)
    artifact = compiled.artifact
    spec = data or artifact.card["dataset"].get("spec")
    if spec is None:
        raise InvalidInputError("the card names no dataset spec; give --data")
    part, own_test = held_out(artifact, load_dataset(spec, settings.data_dir))
    part = part.take(slice(0, rows))
    encoded = encode_rows(compiled.model, part.features)
    with connect(settings) as env, Progress(console=console(), transient=True) as progress:
        contract = model_contract(env, compiled, settings.data_dir)
        task = progress.add_task("contract vs reference", total=len(encoded))
        report = check_parity(
            env, contract, compiled.model, encoded, lambda n: progress.advance(task, n)
        )
    float_twin = agreement(artifact, compiled.model, part.features, part.labels)
    result = {
        "model_id": artifact.model_id,
        "contract": contract.address,
        "rows": report.rows,
        "rows_from": f"{spec}: " + ("its test split" if own_test else "all rows"),
        "bit_exact": report.matches,
        "flagged": report.flagged,
        "mismatches": [list(m) for m in report.mismatches],
        "decision_agreement_with_float": float_twin.decision_agreement,
        "pr_auc_float": float_twin.pr_auc_float,
        "pr_auc_fixed": float_twin.pr_auc_fixed,
    }
    if as_json:
        print_json(result)
    else:
        console().print(
            f"{report.matches:,} of {report.rows:,} rows bit-exact on chain "
            f"({report.flagged:,} flagged); integer vs float decisions agree on "
            f"{float_twin.decision_agreement:.4%}; PR-AUC float {float_twin.pr_auc_float:.4f}, "
            f"integer {float_twin.pr_auc_fixed:.4f}"
        )
    if not report.exact:
        raise VerificationError(
            f"the contract differs from the reference on {report.rows - report.matches} rows, "
            f"first: {report.mismatches[:1]}"
        )

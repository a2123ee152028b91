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
from chainml.files import write_atomic

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
        write_atomic(output, compiled.source)
    model = compiled.model
    policy = compiled.artifact.policy
    facts = {
        "model_id": compiled.artifact.model_id,
        "kind": compiled.artifact.kind,
        "integer_model": type(model).__name__,
        "features": model.n_features,
        "input_scales": sorted({spec.scale for spec in model.inputs}),
        "score_scale": getattr(model, "score_scale", 1),
        "threshold": model.threshold,
        "threshold_neighbours": [policy.below, policy.above],
        "margin_logit": policy.margin / policy.score_scale,
        "error_bound_logit": policy.error_bound / policy.score_scale,
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

    On the model's own data it checks its validation rows (where the threshold was placed) and
    its test split; elsewhere every row. It also compares the integer decisions with the float
    model's: exit 3 too if they differ on a row whose float logit is farther from the threshold
    than the proven quantization error.
    """
    from chainml.inference.onchain import check_parts, model_contract
    from chainml.models.evaluate import checked_parts
    from chainml.models.importing import encoded_dataset
    from chainml.models.sources import load_dataset

    compiled = _compiled(ctx, model_id)
    settings = settings_of(ctx)
    artifact = compiled.artifact
    spec = data or artifact.card["dataset"].get("spec")
    if spec is None:
        raise InvalidInputError("the card names no dataset spec; give --data")
    dataset = encoded_dataset(artifact, spec, settings.data_dir) or load_dataset(
        spec, settings.data_dir
    )  # an imported pipeline encodes the CSV's raw columns itself
    parts = {
        name: (part.features[:rows], part.labels[:rows])
        for name, part in checked_parts(artifact, dataset).items()
    }
    with connect(settings) as env, Progress(console=console(), transient=True) as progress:
        contract = model_contract(env, compiled, settings.data_dir)
        task = progress.add_task(
            "contract vs reference", total=sum(len(p[1]) for p in parts.values())
        )
        checked = check_parts(
            env, contract, artifact, compiled.model, parts, lambda n: progress.advance(task, n)
        )
    policy = artifact.policy
    result = {
        "model_id": artifact.model_id,
        "contract": contract.address,
        "rows_from": spec,
        "threshold_int": policy.threshold,
        "error_bound_logit": policy.error_bound / policy.score_scale,
        "parts": checked,
    }
    if as_json:
        print_json(result)
    else:
        for name, r in checked.items():
            console().print(
                f"{name}: {r['bit_exact']:,} of {r['rows']:,} rows bit-exact on chain "
                f"({r['flagged']:,} flagged); integer vs float decisions agree on "
                f"{r['decision_agreement_with_float']:.4%} ({r['near_threshold_rows']} rows within "
                f"the proven error of the threshold; {r['agreement_outside_error']:.4%} of the "
                f"others); PR-AUC float {r['pr_auc_float']:.4f}, integer {r['pr_auc_fixed']:.4f}"
            )
    failed = {name: r for name, r in checked.items() if not r["passed"]}
    if failed:
        raise VerificationError(
            "check failed on "
            + "; ".join(
                f"{name}: {r['rows'] - r['bit_exact']} rows differ on chain, float disagreements "
                f"at rows {r['disagreeing_rows']}"
                for name, r in failed.items()
            )
        )

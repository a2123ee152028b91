"""``chainml model register|show|list``: stored models next to what the chain's registry says.

A local model is trusted only as far as its hashes agree with the registry: ``show`` fails
(exit 3) when the ONNX file, the parameters or the card differ from what was registered.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from chainml.chain import connect
from chainml.cli import console, print_json, settings_of
from chainml.errors import VerificationError
from chainml.governance.deployments import deployment, governance
from chainml.governance.match import registry_mismatches
from chainml.governance.registration import lookup
from chainml.governance.registry import DEFAULT_USE, RegisteredModel
from chainml.models.artifacts import ModelArtifact, list_models, load_model

_JSON = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
_MODEL = Annotated[str, typer.Argument(metavar="MODEL_ID", help="Model id (or a unique prefix).")]


def _artifact_hash(artifact: ModelArtifact) -> str:
    return str(artifact.card["artifact_hash"])


def register(
    ctx: typer.Context,
    model_id: _MODEL,
    uri: Annotated[
        str | None, typer.Option(help="Where the artifact can be fetched (default: its path).")
    ] = None,
) -> None:
    """Record a stored model (id, artifact hash, card hash, URI) in the on-chain registry.

    Deploys the governance contracts on first use. Registering is not approval: that takes a
    governance vote (`chainml gov propose approve`).
    """
    from chainml.api.model import Model

    settings = settings_of(ctx)
    model = Model.load(model_id, data_dir=settings.data_dir)  # verifies every local hash first
    artifact = model.artifact
    with connect(settings) as env:
        done = model.register(env, uri=uri)
        chain_id = env.chain_id
    if done.deployed_governance:
        console().print(f"deployed governance on chain {chain_id}")
    if not done.new:
        console().print(
            f"model {artifact.model_id} is already registered ({done.entry.status.name})"
        )
        return
    console().print(
        f"registered {artifact.model_id} in ModelRegistry {done.registry} "
        f"(block {done.block_number}, gas {done.gas_used})\n"
        f"next: chainml gov propose approve {artifact.model_id} --use "
        f"{artifact.use or DEFAULT_USE}"
    )


def _chain_entry(ctx: typer.Context, model_id: str) -> tuple[RegisteredModel | None, str]:
    """The registry entry (or None) and a line saying where it was looked up."""
    settings = settings_of(ctx)
    with connect(settings) as env:
        if deployment(settings.data_dir, env.chain_id) is None:
            return None, f"no registry on chain {env.chain_id}"
        _, registry = governance(env, settings.data_dir, deploy=False)
        return lookup(registry, model_id), f"ModelRegistry {registry.address}"


def _card_facts(artifact: ModelArtifact) -> dict[str, Any]:
    card = artifact.card
    test = card.get("metrics", {}).get("test", {})
    return {
        "kind": artifact.kind,
        "dataset": card.get("dataset", {}).get("name"),
        "dataset commitment": card.get("dataset", {}).get("commitment"),
        "features": len(artifact.feature_names),
        "PR-AUC (test)": test.get("pr_auc"),
        "ROC-AUC (test)": test.get("roc_auc"),
        "threshold": card.get("threshold", {}).get("probability"),
        "artifact hash": _artifact_hash(artifact),
        "card hash": artifact.card_hash,
        "chainml": card.get("versions", {}).get("chainml"),
    }


def _chain_facts(entry: RegisteredModel | None, where: str) -> dict[str, Any]:
    if entry is None:
        return {"status": "not registered", "registry": where}
    return {
        "status": entry.status.name.lower(),
        "use": entry.use,
        "registrant": entry.registrant,
        "registered in block": entry.registered_block,
        "artifact hash": entry.artifact_hash,
        "card hash": entry.card_hash,
        "uri": entry.uri,
        "contract": entry.contract,
        "contract code hash": entry.codehash,
        "registry": where,
    }


def show(
    ctx: typer.Context,
    model_id: _MODEL,
    offline: Annotated[bool, typer.Option(help="Show the local card only.")] = False,
    as_json: _JSON = False,
) -> None:
    """The model card next to its on-chain status; exit 3 if the local files don't match it."""
    artifact = load_model(settings_of(ctx).data_dir, model_id)
    entry, where = (
        (None, "not checked (--offline)") if offline else _chain_entry(ctx, artifact.model_id)
    )
    local, chain = _card_facts(artifact), _chain_facts(entry, where)
    problems = registry_mismatches(artifact, entry) if entry is not None else []
    if as_json:
        print_json({"model_id": artifact.model_id, "card": local, "chain": chain})
    else:
        table = Table(title=f"model {artifact.model_id}")
        table.add_column("card (local)")
        table.add_column("")
        table.add_column("registry (chain)")
        table.add_column("")
        rows = max(len(local), len(chain))
        left, right = list(local.items()), list(chain.items())
        for i in range(rows):
            lk, lv = left[i] if i < len(left) else ("", "")
            rk, rv = right[i] if i < len(right) else ("", "")
            table.add_row(lk, str(lv), rk, str(rv))
        console().print(table)
        console().print(f"card: {Path(artifact.path) / 'card.md'}")
    if problems:
        raise VerificationError(
            f"local model {artifact.model_id} does not match the registry: " + "; ".join(problems)
        )


def list_(
    ctx: typer.Context,
    offline: Annotated[bool, typer.Option(help="Local models only.")] = False,
    as_json: _JSON = False,
) -> None:
    """Stored models with their test PR-AUC and, unless --offline, their on-chain status."""
    settings = settings_of(ctx)
    models = list_models(settings.data_dir)
    status: dict[str, str] = {}
    if not offline and models:
        with connect(settings) as env:
            if deployment(settings.data_dir, env.chain_id) is not None:
                _, registry = governance(env, settings.data_dir, deploy=False)
                for summary in models:
                    entry = lookup(registry, summary.model_id)
                    status[summary.model_id] = (
                        "not registered" if entry is None else entry.status.name.lower()
                    )
    rows = [
        {
            "model_id": m.model_id,
            "kind": m.kind,
            "preset": m.preset,
            "dataset": m.dataset,
            "trained_at": m.trained_at,
            "use": m.use,
            "pr_auc": m.pr_auc,
            "status": status.get(m.model_id, "unknown" if not offline else "-"),
        }
        for m in models
    ]
    if as_json:
        print_json(rows)
        return
    if not rows:
        console().print(f"no models in {settings.data_dir}; train one with `chainml model train`")
        return
    table = Table()
    for column in ("model id", "kind", "preset", "dataset", "trained (UTC)", "PR-AUC", "status"):
        table.add_column(column)
    for row in rows:
        pr_auc = "?" if row["pr_auc"] is None else f"{row['pr_auc']:.3f}"
        table.add_row(
            str(row["model_id"]), str(row["kind"]), str(row["preset"] or "-"),
            str(row["dataset"]), str(row["trained_at"] or "?").replace("T", " ").rstrip("Z"),
            pr_auc, str(row["status"]),
        )  # fmt: skip
    console().print(table)

"""The ``chainml zk`` command group: zero-knowledge proofs of logged decisions (EZKL)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from chainml.chain import connect
from chainml.cli import console, print_json, settings_of
from chainml.errors import InvalidInputError, NotFoundError
from chainml.files import write_atomic

app = typer.Typer(
    help="Zero-knowledge proofs of inference (EZKL): set up a model's circuit, deploy its "
    "verifier, prove a logged decision, verify the proof on chain.",
    no_args_is_help=True,
)

_MODEL = Annotated[str, typer.Argument(metavar="MODEL_ID", help="Model id (or a unique prefix).")]
_JSON = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def _err() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def _progress(text: str) -> None:
    _err().print(f"[dim]zk:[/dim] {text}")


def _insecure_warning(note: str, insecure: bool) -> None:
    if insecure:
        _err().print(f"[bold yellow]{note}[/bold yellow]")


@app.command()
def setup(
    ctx: typer.Context,
    model_id: _MODEL,
    inputs: Annotated[
        str,
        typer.Option("--inputs", help="Input visibility: public, hashed or private."),
    ] = "public",
    srs: Annotated[
        Path | None,
        typer.Option(
            "--srs",
            metavar="PATH",
            help="Structured reference string file (e.g. from a public ceremony). Without "
            "one, a local SRS is generated: INSECURE FOR PRODUCTION. Never downloaded.",
        ),
    ] = None,
    max_logrows: Annotated[
        int, typer.Option("--max-logrows", min=6, max=26, help="Refuse circuits above 2**N rows.")
    ] = 17,
    dataset: Annotated[
        str | None,
        typer.Option("--dataset", help="Calibration rows (default: the model card's dataset)."),
    ] = None,
    rows: Annotated[int, typer.Option("--rows", min=1, help="Calibration rows to use.")] = 256,
    as_json: _JSON = False,
) -> None:
    """Circuit, keys and Solidity verifier of a stored model (cached by settings and SRS)."""
    from chainml.inference.zk.setup import setup_circuit
    from chainml.models.artifacts import load_model
    from chainml.models.sources import load_dataset

    data_dir = settings_of(ctx).data_dir
    artifact = load_model(data_dir, model_id)
    spec = dataset or artifact.card.get("dataset", {}).get("spec")
    if not spec:
        raise InvalidInputError(
            "the model card names no dataset spec: pass --dataset with the model's data"
        )
    data = load_dataset(spec, data_dir, fetch=False)
    circuit, new = setup_circuit(
        artifact, data_dir, data.features, inputs=inputs, srs=srs, max_logrows=max_logrows,
        limit=rows, progress=_progress,
    )  # fmt: skip
    facts = {"new": new, "path": str(circuit.path), **circuit.manifest}
    if as_json:
        print_json(facts)
    else:
        out = console()
        state = "set up" if new else "already set up (cached)"
        out.print(f"zk circuit of model {circuit.model_id} {state}: {circuit.path}")
        for key in ("key", "inputs", "logrows", "features", "vk_sha256", "settings_sha256"):
            out.print(f"  {key:16} {circuit.manifest[key]}")
        out.print(f"  {'verifier':16} {circuit.manifest['verifier']['runtime_bytes']} bytes")
        out.print(f"  {'srs':16} {circuit.srs_note}")
    _insecure_warning(circuit.srs_note, circuit.insecure)


@app.command()
def deploy(
    ctx: typer.Context,
    model_id: _MODEL,
    key: Annotated[str | None, typer.Option("--circuit", help="Circuit key (prefix).")] = None,
    as_json: _JSON = False,
) -> None:
    """Deploy a model's verifier and record it, through governance, in the ZkVerifierRegistry.

    On a development chain where this process holds the members' keys the proposal passes at
    once; otherwise the other members vote (`chainml gov vote ID for`) and anyone executes it.
    """
    from chainml.inference.zk.setup import load_circuit
    from chainml.inference.zk.verifiers import (
        code_hash,
        deploy_verifier,
        recorded_verifier,
        register_verifier,
    )
    from chainml.models.artifacts import load_model

    settings = settings_of(ctx)
    circuit = load_circuit(load_model(settings.data_dir, model_id), key)
    with connect(settings) as env:
        existing = recorded_verifier(env, settings.data_dir, circuit)
        if existing is not None:
            console().print(
                f"model {circuit.model_id} already has this circuit's verifier at "
                f"{existing.verifier} (recorded at block {existing.set_block}); nothing to do"
            )
            _insecure_warning(circuit.srs_note, circuit.insecure)
            return
        verifier = deploy_verifier(env, circuit)
        deployment = verifier.deployment
        registry, proposal = register_verifier(env, settings.data_dir, circuit, verifier.address)
        facts = {
            "model_id": circuit.model_id,
            "verifier": verifier.address,
            "codehash": "0x" + code_hash(env, verifier.address).hex(),
            "vk_sha256": "0x" + circuit.vk_hash.hex(),
            "deploy_gas": deployment.gas_used if deployment else None,
            "zk_registry": registry.address,
            "proposal": proposal,
            "srs": circuit.srs_note,
        }
    if as_json:
        print_json(facts)
    else:
        out = console()
        out.print(
            f"verifier of model {circuit.model_id} at {facts['verifier']} "
            f"({facts['deploy_gas']:,} gas); recorded in ZkVerifierRegistry "
            f"{registry.address} by proposal {proposal}"
        )
    _insecure_warning(circuit.srs_note, circuit.insecure)


def _features(path: Path | None) -> list[int] | None:
    if path is None:
        return None
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise InvalidInputError(f"--features {path}: {err}") from err
    if not isinstance(values, list) or not all(
        isinstance(v, int | str) and not isinstance(v, bool) for v in values
    ):
        raise InvalidInputError(f"--features {path}: a JSON list of integers is expected")
    try:
        return [int(v) for v in values]
    except ValueError as err:
        raise InvalidInputError(f"--features {path}: {err}") from err


@app.command()
def prove(
    ctx: typer.Context,
    receipt_file: Annotated[
        Path | None, typer.Argument(metavar="[RECEIPT]", help="A receipt JSON file.")
    ] = None,
    request_id: Annotated[
        str | None, typer.Option("--request-id", help="Prove the logged decision with this id.")
    ] = None,
    features: Annotated[
        Path | None,
        typer.Option(
            "--features",
            help="JSON list of the fixed-point features, for a record logged without them.",
        ),
    ] = None,
    key: Annotated[str | None, typer.Option("--circuit", help="Circuit key (prefix).")] = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write the proved receipt here.")
    ] = None,
) -> None:
    """Prove a logged decision with its model's circuit; writes a chainml.receipt/2."""
    from chainml.cli.log import open_log
    from chainml.inference.zk.proof import prove_decision
    from chainml.log.receipt import build_receipt
    from chainml.log.receipt_format import read_receipt
    from chainml.log.record import request_id_from

    if (receipt_file is None) == (request_id is None):
        raise InvalidInputError("give exactly one of RECEIPT or --request-id")
    document: Any
    if request_id is not None:
        with open_log(ctx) as log:
            document = build_receipt(log, log.index_of(request_id_from(request_id)))
    else:
        assert receipt_file is not None
        document = read_receipt(receipt_file)
    proved, run = prove_decision(
        document, settings_of(ctx).data_dir, features=_features(features), circuit_key=key,
        progress=_progress,
    )  # fmt: skip
    text = json.dumps(proved, indent=2)
    if output is None:
        typer.echo(text)
    else:
        write_atomic(output, text + "\n")
        console().print(
            f"proof of decision {proved['leaf_index']} ({run.proof_bytes} bytes, proved in "
            f"{run.prove_seconds:.1f} s, peak {run.peak_rss_bytes / 2**20:.0f} MiB) "
            f"attached to {output}"
        )
    _insecure_warning(proved["zk"]["srs"]["note"], proved["zk"]["srs"]["insecure"])


@app.command()
def verify(
    ctx: typer.Context,
    receipt_file: Annotated[Path, typer.Argument(metavar="RECEIPT", help="A proved receipt.")],
    logs: Annotated[
        list[str] | None,
        typer.Option(
            "--log",
            metavar="[CHAIN_ID:]ADDRESS[:CODEHASH]",
            help="A decision log you trust (repeatable; adds to the trusted_logs setting).",
        ),
    ] = None,
    zk_registry: Annotated[
        str | None,
        typer.Option(
            "--zk-registry",
            metavar="ADDRESS",
            help="The ZkVerifierRegistry you trust (default: the data directory's).",
        ),
    ] = None,
    local_only: Annotated[
        bool, typer.Option("--local", help="Verify with EZKL only (the chain is NOT asked).")
    ] = False,
    as_json: _JSON = False,
) -> None:
    """Verify a receipt's zk proof locally (EZKL) and on chain (the registry's verifier).

    Exit 0: the verifier recorded for the record's model accepts the proof on chain (and the
    anchor, with --log, is in a log you trust). Exit 3: not verified. Exit 2: not a receipt.
    """
    from chainml.inference.zk.setup import load_circuit
    from chainml.inference.zk.verifiers import ZkVerifierRegistry
    from chainml.inference.zk.verifiers import zk_registry as find_registry
    from chainml.inference.zk.verify import read_attachment, summary, verify_decision
    from chainml.log.receipt_format import read_receipt
    from chainml.log.trust import trust_roots
    from chainml.models.artifacts import load_model

    settings = settings_of(ctx)
    document = read_receipt(receipt_file)
    check, _ = read_attachment(document)
    circuit = None
    try:
        artifact = load_model(settings.data_dir, "0x" + check.record.model_id.hex())
        circuit = load_circuit(artifact)
    except NotFoundError:
        if local_only:
            raise
    if local_only:
        result = verify_decision(document, circuit=circuit)
    else:
        trusted = trust_roots([*settings.trusted_logs, *(logs or [])])
        with connect(settings) as env:
            registry = (
                ZkVerifierRegistry.at(env, zk_registry)
                if zk_registry
                else find_registry(env, settings.data_dir, deploy=False)
            )
            result = verify_decision(
                document, env=env, registry=registry, circuit=circuit, trusted=trusted
            )
    facts = summary(result)
    if as_json:
        print_json(facts)
    else:
        out = console()
        where = [w for w, done in (("locally (EZKL)", result.local),
                                   ("on chain", result.on_chain)) if done]  # fmt: skip
        out.print(
            f"[green]proof valid[/green] {' and '.join(where)}: model {facts['model_id']} gives "
            f"score {facts['score']} on the record's "
            + ("features" if facts["inputs"] == "public" else f"{facts['inputs']} inputs")
            + (f" (verifier {result.verifier})" if result.verifier else "")
        )
        if local_only:
            out.print("--local: the chain was NOT asked (no registry, no anchor checked)")
        elif not result.receipt.verified:
            out.print("the receipt's anchor was not checked against a trusted log (--log)")
    _insecure_warning(result.attachment.srs_note, result.attachment.insecure_srs)
    if not local_only and not result.verified:
        raise typer.Exit(3)

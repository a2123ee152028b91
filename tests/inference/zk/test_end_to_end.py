"""zk end to end on the embedded chain: setup -> deploy -> log -> prove -> verify, and rejections.

One module-scoped run through the real CLI (EZKL in child processes, solcjs, the embedded
chain of the data directory); the tests then check the proofs and tamper with them. Two LR
models: A with public inputs (its decision logged with its features), B with hashed inputs
(its decision logged with the input commitment only, proved from the features the prover
holds), so that a proof of one can also be presented as the other's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chainml.chain import connect
from chainml.config import Settings
from chainml.errors import ContractRevertError, VerificationError
from chainml.governance.deployments import governance
from chainml.governance.passing import pass_proposal
from chainml.inference.zk.setup import load_circuit, setup_circuit
from chainml.inference.zk.verifiers import zk_registry
from chainml.inference.zk.verify import verify_decision
from chainml.log.record import commit_features
from chainml.models.artifacts import ModelArtifact, save_model
from chainml.models.simulator import simulate_payments
from chainml.models.train import train_model
from tests.cli.test_cli import flat, isolated, run  # noqa: F401  (isolated is an autouse fixture)

pytestmark = pytest.mark.slow


def _decision(artifact: ModelArtifact, row: Any, request_id: str) -> dict[str, Any]:
    from chainml.inference.policy import encode

    model = artifact.policy.model
    features = [int(v) for v in encode(model.inputs, [row])[0]]
    score, flagged = model.decide(features)
    return {"request_id": request_id, "model_id": artifact.model_id, "score": score,
            "label": int(flagged), "features": features}  # fmt: skip


INPUTS = ("public", "hashed")  # model A, model B


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two registered LR models with deployed verifiers, two logged decisions, one proof each."""
    data_dir = tmp_path_factory.mktemp("zk") / "data"
    models = []
    for seed, inputs in zip((1, 2), INPUTS, strict=True):  # two datasets: two models
        dataset = simulate_payments(3000, seed=seed).dataset()
        trained = train_model(dataset, "lr", seed=1, resamples=10)
        artifact, _ = save_model(data_dir, trained, dataset_spec=f"simulated:3000:{seed}")
        setup_circuit(artifact, data_dir, dataset.features, inputs=inputs, limit=64)  # cached
        models.append(artifact)
    lines = [_decision(m, dataset.features[7 + i], f"zk-{i}") for i, m in enumerate(models)]
    hidden = lines[1].pop("features")  # B's decision is logged without its features
    lines[1]["input_commitment"] = "0x" + commit_features(hidden).hex()
    (data_dir / "features-1.json").write_text(json.dumps(hidden))
    (data_dir / "decisions.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return {"data_dir": data_dir, "models": models, "dataset": dataset}


def _cli(capsys: pytest.CaptureFixture[str], data_dir: Path, *args: str) -> tuple[int, str, str]:
    return run(capsys, "--data-dir", str(data_dir), *args)


@pytest.fixture(scope="module")
def proved(world: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The CLI path: register, zk setup (cached), zk deploy, log, anchor, zk prove."""
    from chainml.cli.main import main

    data_dir: Path = world["data_dir"]
    outputs: dict[str, Any] = {}

    def cli(*args: str) -> str:
        import contextlib
        import io

        out, err = io.StringIO(), io.StringIO()
        with (
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
            pytest.raises(SystemExit) as exited,
        ):
            main(["--data-dir", str(data_dir), *args])
        assert exited.value.code == 0, (args, out.getvalue(), err.getvalue())
        return out.getvalue() + err.getvalue()

    for artifact, inputs in zip(world["models"], INPUTS, strict=True):
        cli("model", "register", artifact.model_id)
        outputs.setdefault("setup", []).append(
            cli("zk", "setup", artifact.model_id, "--inputs", inputs)
        )
        outputs.setdefault("deploy", []).append(cli("zk", "deploy", artifact.model_id))
    outputs["redeploy"] = cli("zk", "deploy", world["models"][0].model_id)
    cli("log", "append", str(data_dir / "decisions.jsonl"))
    cli("log", "anchor")
    identity = json.loads(cli("log", "identity", "--json"))
    outputs["trust_root"] = identity["trust_root"]
    receipts = tmp_path_factory.mktemp("receipts")
    for i in range(2):
        path = receipts / f"zk-{i}.json"
        held = ["--features", str(data_dir / "features-1.json")] if i == 1 else []
        outputs.setdefault("prove", []).append(
            cli("zk", "prove", "--request-id", f"zk-{i}", "-o", str(path), *held)
        )
        outputs.setdefault("receipts", []).append(json.loads(path.read_text()))
    outputs["paths"] = [receipts / f"zk-{i}.json" for i in range(2)]
    return outputs


def _call(data_dir: Path, function: str, *args: Any) -> Any:
    with connect(Settings(data_dir=data_dir)) as env:
        registry = zk_registry(env, data_dir, deploy=False)
        return registry.contract.call(function, *args)


def _public_args(receipt: dict[str, Any]) -> list[Any]:
    record = receipt["record"]
    return [
        bytes.fromhex(record["model_id"][2:]),
        bytes.fromhex(receipt["zk"]["proof"][2:]),
        [int(f) for f in record["features"]],
        int(record["score"]),
        record["label"],
        bytes.fromhex(record["input_commitment"][2:]),
    ]


def _hidden_args(receipt: dict[str, Any]) -> list[Any]:
    record = receipt["record"]
    return [
        bytes.fromhex(record["model_id"][2:]),
        bytes.fromhex(receipt["zk"]["proof"][2:]),
        [int(h, 16) for h in receipt["zk"]["input_hashes"]],
        int(record["score"]),
        record["label"],
        bytes.fromhex(record["input_commitment"][2:]),
    ]


def test_the_cli_proves_a_logged_decision_and_says_the_srs_is_insecure(world, proved) -> None:
    assert all("INSECURE FOR PRODUCTION" in text for text in proved["setup"] + proved["deploy"])
    assert all("INSECURE FOR PRODUCTION" in text for text in proved["prove"])
    assert "already has this circuit's verifier" in flat(proved["redeploy"])  # idempotent
    for receipt, artifact in zip(proved["receipts"], world["models"], strict=True):
        assert receipt["format"] == "chainml.receipt/2"
        assert receipt["anchor"] is not None
        assert receipt["zk"]["model_id"] == artifact.model_id
        assert receipt["zk"]["srs"]["insecure"] is True
        assert "INSECURE FOR PRODUCTION" in receipt["zk"]["srs"]["note"]
        circuit = load_circuit(artifact)
        assert circuit.manifest["logrows"] <= 17 and circuit.insecure
        assert circuit.inputs == receipt["zk"]["inputs"]
        # the proved output is the logged score: scale 0 on both sides
        assert circuit.manifest["scales"].startswith("EZKL input_scale = param_scale = 0")


def test_verify_accepts_it_locally_and_on_chain(world, proved, capsys) -> None:
    code, out, err = _cli(capsys, world["data_dir"], "zk", "verify", str(proved["paths"][0]),
                          "--log", proved["trust_root"])  # fmt: skip
    assert code == 0, err
    assert "proof valid locally (EZKL) and on chain" in flat(out)
    assert "INSECURE FOR PRODUCTION" in err
    assert _call(world["data_dir"], "verify_public", *_public_args(proved["receipts"][0])) is True


def test_a_proof_for_a_different_model_is_rejected(world, proved) -> None:
    first, second = proved["receipts"]
    model_b, proof_a = _hidden_args(second), bytes.fromhex(first["zk"]["proof"][2:])
    with pytest.raises(ContractRevertError, match="proof rejected"):  # B's verifier, A's proof
        _call(world["data_dir"], "verify_hidden", model_b[0], proof_a, *model_b[2:])
    args = _public_args(first)
    args[0] = model_b[0]  # A's proof as B's: B's circuit takes hashed inputs
    with pytest.raises(ContractRevertError, match="another input visibility"):
        _call(world["data_dir"], "verify_public", *args)
    relabelled = json.loads(json.dumps(first))
    relabelled["zk"]["model_id"] = second["record"]["model_id"]
    with pytest.raises(VerificationError, match="the proof is for model"):
        verify_decision(relabelled)


def test_a_tampered_output_label_or_proof_is_rejected_on_chain(world, proved) -> None:
    args = _public_args(proved["receipts"][0])
    args[3] += 1  # the score one unit higher
    with pytest.raises(ContractRevertError, match="proof rejected"):
        _call(world["data_dir"], "verify_public", *args)
    args = _public_args(proved["receipts"][0])
    args[4] = 1 - args[4]  # the other decision for the same, proven score
    with pytest.raises(ContractRevertError, match="label is not the threshold's verdict"):
        _call(world["data_dir"], "verify_public", *args)
    args = _public_args(proved["receipts"][0])
    proof = bytearray(args[1])
    proof[100] ^= 0x01  # one bit of the proof
    args[1] = bytes(proof)
    with pytest.raises(ContractRevertError, match="proof rejected"):
        _call(world["data_dir"], "verify_public", *args)


def test_a_tampered_input_commitment_is_rejected_on_chain(world, proved) -> None:
    from chainml.log.record import commit_features

    args = _public_args(proved["receipts"][0])
    commitment = bytearray(args[5])
    commitment[0] ^= 0x80
    args[5] = bytes(commitment)
    with pytest.raises(ContractRevertError, match="features do not match the input commitment"):
        _call(world["data_dir"], "verify_public", *args)
    args = _public_args(proved["receipts"][0])
    args[2][0] += 1  # other features, committed honestly: the proof no longer fits them
    args[5] = commit_features(args[2])
    with pytest.raises(ContractRevertError, match="proof rejected"):
        _call(world["data_dir"], "verify_public", *args)


def test_a_hashed_input_proof_reveals_no_feature_and_verifies(world, proved, capsys) -> None:
    receipt = proved["receipts"][1]
    assert receipt["zk"]["inputs"] == "hashed"
    assert receipt["record"]["features"] == []  # logged without them; proved from held ones
    held = json.loads((world["data_dir"] / "features-1.json").read_text())
    text = json.dumps(receipt)
    assert not any(f'"{value}"' in text for value in held if abs(value) > 1000)
    [digest] = receipt["zk"]["input_hashes"]  # the Poseidon hash the proof publishes
    assert int(digest, 16) != 0
    code, out, err = _cli(capsys, world["data_dir"], "zk", "verify", str(proved["paths"][1]),
                          "--log", proved["trust_root"])  # fmt: skip
    assert code == 0, err
    assert "hashed inputs" in flat(out)
    code, out, err = _cli(capsys, world["data_dir"], "zk", "verify", str(proved["paths"][1]),
                          "--local")  # fmt: skip
    assert code == 0, err
    assert "proof valid locally (EZKL):" in flat(out) and "NOT asked" in flat(out)
    args = _hidden_args(receipt)
    args[2] = [args[2][0] ^ 1]  # another input hash
    with pytest.raises(ContractRevertError, match="proof rejected"):
        _call(world["data_dir"], "verify_hidden", *args)


@pytest.mark.integration
def test_the_proof_verifies_on_anvil_too(world, proved, anvil_env) -> None:
    """The same verifier and registry deployed on anvil (RPC backend) accept the same proof."""
    from chainml.inference.zk.verifiers import deploy_verifier, register_verifier

    data_dir, artifact = world["data_dir"], world["models"][0]
    with anvil_env.snapshot():
        _, registry = governance(anvil_env, data_dir)
        registry.register(
            artifact.model_id, artifact.card["artifact_hash"], artifact.card_hash, "file://a"
        )
        circuit = load_circuit(artifact)
        verifier = deploy_verifier(anvil_env, circuit)
        zk, _ = register_verifier(anvil_env, data_dir, circuit, verifier.address)
        args = _public_args(proved["receipts"][0])
        assert zk.contract.call("verify_public", *args) is True
        args[3] += 1
        with pytest.raises(ContractRevertError, match="proof rejected"):
            zk.contract.call("verify_public", *args)
        result = verify_decision(proved["receipts"][0], env=anvil_env, registry=zk)
        assert result.verified and result.verifier == verifier.address
    deployments = json.loads((data_dir / "deployments.json").read_text())
    del deployments["chains"][str(anvil_env.chain_id)]  # reverted with the snapshot
    (data_dir / "deployments.json").write_text(json.dumps(deployments))


def test_setup_refuses_a_circuit_above_max_logrows(world, capsys) -> None:
    artifact = world["models"][1]  # hashed inputs: Poseidon needs 2**9 rows here
    code, _, err = _cli(capsys, world["data_dir"], "zk", "setup", artifact.model_id,
                        "--inputs", "hashed", "--max-logrows", "7")  # fmt: skip
    assert code == 2
    assert "above --max-logrows 7" in flat(err)


def test_setup_never_downloads_an_srs(world, capsys) -> None:
    artifact = world["models"][0]
    code, _, err = _cli(capsys, world["data_dir"], "zk", "setup", artifact.model_id,
                        "--srs", str(world["data_dir"] / "missing.srs"))  # fmt: skip
    assert code == 2
    assert "never downloads" in flat(err)


def test_zz_a_retired_models_verifier_rejects(world, proved, capsys) -> None:
    """Last: it retires model B for good."""
    data_dir = world["data_dir"]
    second = proved["receipts"][1]
    with connect(Settings(data_dir=data_dir)) as env:
        governor, registry = governance(env, data_dir, deploy=False)
        model_id = second["record"]["model_id"]
        pass_proposal(governor, registry.address, registry.retire_calldata(model_id), "retire")
    with pytest.raises(ContractRevertError, match="model is retired"):
        _call(data_dir, "verify_hidden", *_hidden_args(second))
    code, _, err = _cli(capsys, data_dir, "zk", "verify", str(proved["paths"][1]),
                        "--log", proved["trust_root"])  # fmt: skip
    assert code == 3
    assert "model is retired" in flat(err)

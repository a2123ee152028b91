"""``chainml log challengeable / status / challenge`` end to end on the embedded chain."""

from __future__ import annotations

import json
from pathlib import Path

from chainml.chain import connect
from chainml.config import Settings
from chainml.log.record import commit_features
from tests.cli.test_cli import flat, isolated, run  # noqa: F401  (isolated is an autouse fixture)
from tests.inference.optimistic.conftest import build_world

X = [10, -20, 30, 4]


def test_from_receipt_to_fraud_proof(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "data"
    with connect(Settings(data_dir=data)) as env:
        world = build_world(env)
        address, model = world.log.address, world.model_id
        score, label = world.model.decide(X)
    features = {"features": X}
    hidden = {"input_commitment": "0x" + commit_features(X).hex()}  # the features kept private
    lines = [
        {"request_id": "honest", "score": score, "label": int(label)} | features,
        {"request_id": "lie", "score": score + 7, "label": int(label)} | features,
        {"request_id": "hidden lie", "score": score - 1, "label": int(label)} | hidden,
    ]
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text(
        "".join(json.dumps(item | {"model_id": "0x" + model.hex()}) + "\n" for item in lines)
    )
    base = ("--data-dir", str(data), "log")
    code, out, err = run(capsys, *base, "challengeable", "--address", address)
    assert code == 0, err
    assert run(capsys, *base, "append", str(jsonl))[0] == 0
    code, out, err = run(capsys, *base, "anchor")
    assert code == 0 and "anchored size 3" in flat(out), err
    code, out, _ = run(capsys, *base, "status", "--json")
    status = json.loads(out)
    assert status["kind"] == "ChallengeableLog" and not status["halted"]
    assert [(h["size"], h["state"]) for h in status["heads"]] == [(3, "open")]

    for index in (0, 1, 2):
        receipt = tmp_path / f"r{index}.json"
        assert run(capsys, *base, "prove", str(index), "-o", str(receipt))[0] == 0
    # a verifier pins the log by address alone: chainml's own ChallengeableLog code is accepted
    code, out, err = run(capsys, *base, "verify", str(tmp_path / "r0.json"), "--log", address)
    assert code == 0, err
    code, _, err = run(capsys, *base, "challenge", str(tmp_path / "r0.json"))
    assert code == 3 and "the record is correct" in flat(err)
    hidden_receipt = str(tmp_path / "r2.json")
    code, _, err = run(capsys, *base, "challenge", hidden_receipt)
    assert code == 2 and "supply its features" in flat(err)
    code, _, err = run(capsys, *base, "challenge", hidden_receipt, "--features", "1,2,3,4")
    assert code == 2 and "do not match" in flat(err)
    right = ",".join(map(str, X))
    code, out, _ = run(capsys, *base, "challenge", hidden_receipt, "--features", right, "--dry-run")
    assert code == 0 and "would prove wrong score" in flat(out)
    code, out, err = run(capsys, *base, "challenge", str(tmp_path / "r1.json"), "--json")
    assert code == 0, err
    outcome = json.loads(out)
    assert (outcome["reason"], outcome["index"], outcome["size"]) == ("wrong_score", 1, 3)
    code, out, _ = run(capsys, *base, "status")
    assert code == 0 and "HALTED" in out and "faulty" in out
    code, _, err = run(capsys, *base, "challenge", str(tmp_path / "r1.json"))
    assert code == 5 and "already proven faulty" in flat(err)


def test_only_chainml_log_code_passes_as_a_log_build(tmp_path: Path) -> None:
    from chainml.log.trust import LOG_CONTRACT, is_chainml_build

    with connect(Settings(data_dir=tmp_path)) as env:
        world = build_world(env)
        code = bytes(env.backend.code(world.log.address))
        registry = bytes(env.backend.code(world.registry.address))
        assert is_chainml_build(env, code, LOG_CONTRACT)
        flipped = bytearray(code)
        flipped[len(code) // 2] ^= 0x01  # one bit of the code itself, not of the immutables
        assert not is_chainml_build(env, bytes(flipped), LOG_CONTRACT)
        assert not is_chainml_build(env, code + b"\x00", LOG_CONTRACT)  # longer immutables
        assert not is_chainml_build(env, code[:-1], LOG_CONTRACT)
        assert not is_chainml_build(env, registry, LOG_CONTRACT)  # another chainml contract
        assert not is_chainml_build(env, code, "ModelRegistry")

"""The run-time trained model: its inputs key, its cache, the train command, the fixture."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from chainml.errors import NotFoundError
from chainml.scan.trained import TrainingInputs, model_file, smartbugs_dir, trained_model
from tests.cli.test_cli import isolated, run  # noqa: F401  (isolated is an autouse fixture)
from tests.scan.contracts import BANK_04
from tests.scan.make_fixture_model import FIXTURE, fixture_bytes

SMARTBUGS = os.environ.get("CHAINML_SMARTBUGS_DIR")  # read before `isolated` clears CHAINML_*


def _corpus(root: Path) -> Path:
    """A one-file corpus in SmartBugs Curated's layout (enough to hash, not to train)."""
    (root / "dataset" / "reentrancy").mkdir(parents=True)
    (root / "dataset" / "reentrancy" / "Bank.sol").write_text(BANK_04)
    entry = {
        "name": "Bank.sol",
        "path": "dataset/reentrancy/Bank.sol",
        "vulnerabilities": [{"lines": [12], "category": "reentrancy"}],
    }
    (root / "vulnerabilities.json").write_text(json.dumps([entry]))
    return root


def test_the_key_covers_corpus_bytes_openzeppelin_and_parameters(tmp_path: Path) -> None:
    root = _corpus(tmp_path / "sb")
    modules = tmp_path / "node_modules"
    (modules / "oz-4" / "token").mkdir(parents=True)
    (modules / "oz-4" / "token" / "ERC20.sol").write_text("contract ERC20 {}")
    inputs = TrainingInputs(root, modules)
    key = inputs.key()
    assert key == TrainingInputs(root, modules).key() and len(key) == 64
    assert TrainingInputs(root, None).key() != key
    assert TrainingInputs(root, modules, trees=61).key() != key
    assert TrainingInputs(root, modules, seed=1).key() != key
    (modules / "oz-4" / "token" / "ERC20.sol").write_text("contract ERC20 { }")
    assert inputs.key() != key
    key = inputs.key()
    bank = root / "dataset" / "reentrancy" / "Bank.sol"
    bank.write_bytes(bank.read_bytes().replace(b"amount", b"amounT"))
    assert inputs.key() != key


def test_smartbugs_is_found_by_setting_or_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(NotFoundError, match="CHAINML_SMARTBUGS_DIR"):
        smartbugs_dir(tmp_path / "data")
    root = _corpus(tmp_path / "sb")
    monkeypatch.setenv("CHAINML_SMARTBUGS_DIR", str(root))
    assert smartbugs_dir(tmp_path / "data") == root
    assert smartbugs_dir(tmp_path / "data", tmp_path / "sb") == root
    shutil.copytree(root, tmp_path / "data" / "smartbugs-curated")
    monkeypatch.delenv("CHAINML_SMARTBUGS_DIR")
    assert smartbugs_dir(tmp_path / "data") == tmp_path / "data" / "smartbugs-curated"


def test_a_model_cached_under_the_inputs_key_is_used_without_training(tmp_path: Path) -> None:
    inputs = TrainingInputs(_corpus(tmp_path / "sb"), None)
    cached = model_file(tmp_path / "data", inputs.key())
    cached.parent.mkdir(parents=True)
    shutil.copyfile(FIXTURE, cached)
    found = trained_model(tmp_path / "data", inputs)
    assert found.cached and found.path == cached
    assert found.model.model_id == hashlib.sha256(FIXTURE.read_bytes()).digest()


def test_cli_train_and_scan_use_the_cached_model_or_say_what_is_missing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    target = tmp_path / "Bank.sol"
    target.write_text(BANK_04)
    code, _, err = run(capsys, "--data-dir", str(data), "contracts", "scan", str(target))
    assert code == 2 and "CHAINML_SMARTBUGS_DIR" in err
    root = _corpus(data / "smartbugs-curated")
    from chainml.scan.solc import node_modules

    cached = model_file(data, TrainingInputs(root, node_modules()).key())
    cached.parent.mkdir(parents=True)
    shutil.copyfile(FIXTURE, cached)
    code, out, _ = run(capsys, "--data-dir", str(data), "contracts", "train")
    summary = json.loads(out)
    assert code == 0 and summary["cached"] and summary["path"] == str(cached)
    assert summary["model_id"] == "0x" + hashlib.sha256(FIXTURE.read_bytes()).hexdigest()
    code, out, _ = run(
        capsys, "--data-dir", str(data), "contracts", "scan", str(target), "--json", "--no-log"
    )
    assert code == 0 and json.loads(out)["model_id"] == summary["model_id"]


@pytest.mark.skipif(SMARTBUGS is None, reason="needs SmartBugs Curated (CHAINML_SMARTBUGS_DIR)")
def test_the_fixture_is_what_its_script_trains() -> None:
    """Training is deterministic: the script reproduces the committed bytes (about 20 s)."""
    assert fixture_bytes(Path(str(SMARTBUGS))) == FIXTURE.read_bytes()

"""``chainml fl`` on the command line: init writes the federation; mistakes exit 2 or 3."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_cli import run


def test_init_writes_one_file_per_participant(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys, "--data-dir", str(tmp_path), "fl", "init", "--task", "h", "--data",
        "breast_cancer", "--clients", "4", "--partition", "dirichlet:1", "--json",
    )  # fmt: skip
    assert code == 0
    config = json.loads(out)
    assert len(config["participants"]) == 4
    assert sum(p["rows"] for p in config["participants"]) == config["split"]["parts"]["fit"]["rows"]
    for p in config["participants"]:
        assert (tmp_path / "fl" / "h" / p["file"]).is_file()
    code, _, err = run(
        capsys, "--data-dir", str(tmp_path), "fl", "init", "--task", "h", "--data",
        "breast_cancer",
    )  # fmt: skip
    assert code == 2 and "already exists" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fl", "init", "--task", "x", "--data", "breast_cancer", "--partition", "zipf"],
         "--partition"),
        (["fl", "init", "--task", "../x", "--data", "breast_cancer"], "--task"),
        (["fl", "run", "--task", "missing"], "no federation"),
    ],
)  # fmt: skip
def test_mistakes_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, _, err = run(capsys, "--data-dir", str(tmp_path), *args)
    assert code == 2
    assert message in err


def test_audit_of_a_model_without_a_federation_exits_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from chainml.fl.data import load_task_dataset
    from chainml.models.artifacts import save_model
    from chainml.models.train import train_model

    trained = train_model(load_task_dataset("breast_cancer", tmp_path), "lr", resamples=20)
    model, _ = save_model(tmp_path, trained)
    code, _, err = run(capsys, "--data-dir", str(tmp_path), "fl", "audit", model.model_id)
    assert code == 3
    assert "contract" in err

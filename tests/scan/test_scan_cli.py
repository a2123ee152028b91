"""``chainml contracts scan`` on a file: JSON report with a logged, checkable receipt."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chainml.scan import check_file_receipt
from tests.cli.test_cli import isolated, run  # noqa: F401  (isolated is an autouse fixture)
from tests.scan.contracts import BANK_04
from tests.scan.make_fixture_model import FIXTURE


def test_cli_scan_prints_findings_and_logs_them(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "Bank.sol"
    target.write_text(BANK_04)
    code, out, _ = run(
        capsys, "--data-dir", str(tmp_path / "data"), "contracts", "scan", str(target), "--json",
        "--model", str(FIXTURE),
    )  # fmt: skip
    assert code == 0
    report = json.loads(out)
    entry = report["files"][0]
    assert "reentrancy" in {f["category"] for f in entry["findings"]}
    check_file_receipt(entry)
    code, _, err = run(
        capsys, "contracts", "scan", str(tmp_path / "missing.sol"), "--model", str(FIXTURE)
    )
    assert code == 2 and "missing.sol" in err

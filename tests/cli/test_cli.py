"""The chainml CLI: global options, exit codes, chain info/accounts and the demo."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

import chainml
from chainml.apps.demo import receipts as demo_receipts
from chainml.chain.devnode import ANVIL_DEV_KEY
from chainml.cli import chain as chain_cli
from chainml.cli.main import main
from chainml.errors import EXIT_CODES


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No CHAINML_* variable or chainml.toml of the developer leaks into a test."""
    for name in list(os.environ):
        if name.startswith("CHAINML_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.chdir(tmp_path)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Call ``main()`` as the console script does; return (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    out, err = capsys.readouterr()
    code = exited.value.code
    assert isinstance(code, int)
    return code, out, err


def flat(text: str) -> str:
    return " ".join(text.split())


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CHAINML_")}


# -- root command -----------------------------------------------------------------------


def test_version_from_the_console_script_module(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "chainml.cli.main", "--version"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=clean_env(),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"chainml {chainml.__version__}\n"


def test_help_lists_every_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    text = flat(out)
    assert "Exit codes" in text
    for number, meaning in EXIT_CODES.items():
        assert f"{number} {meaning}" in text


def test_malformed_rpc_url_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--rpc", "not-a-url", "chain", "info")
    assert code == 2
    assert "--rpc" in err and "not-a-url" in err
    assert out == ""


def test_unexpected_exception_is_reported_as_a_bug(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def broken(env: object) -> dict[str, object]:
        raise RuntimeError("boom in chain_info")

    monkeypatch.setattr(chain_cli, "chain_info", broken)
    data_dir = str(tmp_path / "chain")
    code, _, err = run(capsys, "--data-dir", data_dir, "chain", "info")
    assert code == 1
    assert "bug" in err and "boom in chain_info" in err
    assert "Traceback" not in err

    monkeypatch.setenv("CHAINML_DEBUG", "1")
    code, _, err = run(capsys, "--data-dir", data_dir, "chain", "info")
    assert code == 1
    assert "Traceback" in err and "broken" in err


# -- chain info / accounts --------------------------------------------------------------


def test_chain_info_json_on_a_fresh_data_dir(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data_dir = tmp_path / "chain"
    code, out, _ = run(capsys, "--data-dir", str(data_dir), "chain", "info", "--json")
    assert code == 0
    info = json.loads(out)
    assert info["backend"] == "embedded"
    assert info["chain_id"] == 1337
    assert isinstance(info["block_number"], int) and info["block_number"] >= 0
    assert datetime.fromisoformat(info["block_timestamp"]).utcoffset() is not None
    assert info["data_dir"] == str(data_dir.resolve())
    assert info["balance_wei"] == str(10_000 * 10**18) and info["balance_eth"] == "10000"
    assert info["disk_usage_bytes"] > 0
    assert (data_dir / "chain.sqlite").is_file()


def test_chain_info_table_and_data_dir_precedence(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CHAINML_DATA_DIR", str(tmp_path / "from-env"))
    code, out, _ = run(capsys, "chain", "info")
    assert code == 0
    assert "embedded" in out and "1337" in out and "10000 ETH" in out
    assert (tmp_path / "from-env" / "chain.sqlite").is_file()

    code, out, _ = run(capsys, "--data-dir", str(tmp_path / "flag"), "chain", "info", "--json")
    assert code == 0
    assert json.loads(out)["data_dir"] == str((tmp_path / "flag").resolve())


def test_accounts_lists_ten_distinct_funded_addresses(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data_dir = str(tmp_path / "chain")
    code, out, _ = run(capsys, "--data-dir", data_dir, "chain", "accounts", "--json")
    assert code == 0
    rows = json.loads(out)
    addresses = [row["address"] for row in rows]
    assert len(addresses) == 10 and len(set(addresses)) == 10
    assert [row["index"] for row in rows] == list(range(10))
    assert all(row["balance_eth"] == "10000" for row in rows)

    code, out, _ = run(capsys, "--data-dir", data_dir, "chain", "accounts")
    assert code == 0
    assert all(address in out for address in addresses)
    info_code, info_out, _ = run(capsys, "--data-dir", data_dir, "chain", "info", "--json")
    assert info_code == 0 and json.loads(info_out)["default_account"] == addresses[0]


# -- errors mapped to exit codes --------------------------------------------------------


def test_data_dir_with_missing_parent_exits_6(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data_dir = tmp_path / "no-such-parent" / "chain"
    code, out, err = run(capsys, "--data-dir", str(data_dir), "chain", "info")
    assert code == 6
    assert err.startswith("error: ") and str(data_dir) in err
    assert out == ""
    assert not data_dir.parent.exists()


def test_corrupted_database_exits_6_and_is_left_untouched(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data_dir = tmp_path / "chain"
    assert run(capsys, "--data-dir", str(data_dir), "chain", "info")[0] == 0  # mnemonic
    database = data_dir / "chain.sqlite"
    for leftover in data_dir.glob("chain.sqlite-*"):
        leftover.unlink()
    garbage = os.urandom(8192)
    database.write_bytes(garbage)
    before = sorted(p.name for p in data_dir.iterdir())

    code, _, err = run(capsys, "--data-dir", str(data_dir), "chain", "info")
    assert code == 6
    assert "corrupted" in err and str(data_dir) in err
    assert database.read_bytes() == garbage
    assert sorted(p.name for p in data_dir.iterdir()) == before


def test_unreachable_node_exits_4_naming_the_url(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CHAINML_PRIVATE_KEY", ANVIL_DEV_KEY)
    url = f"http://127.0.0.1:{closed_port()}"
    data_dir = str(tmp_path / "d")
    code, out, err = run(capsys, "--data-dir", data_dir, "--rpc", url, "chain", "info")
    assert code == 4
    assert url in err
    assert ANVIL_DEV_KEY[2:] not in out + err

    code, out, err = run(
        capsys, "--data-dir", data_dir, "--rpc", f"http://me:hunter2@{url[7:]}/?key=XYZ", "demo"
    )
    assert code == 4
    assert url in err
    assert "hunter2" not in out + err and "XYZ" not in out + err


def test_bad_rpc_url_from_the_environment_exits_2_without_credentials(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAINML_RPC", "ftp://me:hunter2@example.org/?key=XYZ")
    monkeypatch.setenv("CHAINML_PRIVATE_KEY", ANVIL_DEV_KEY)
    code, out, err = run(capsys, "chain", "info")
    assert code == 2
    assert "ftp://example.org" in err
    assert "hunter2" not in out + err and "XYZ" not in out + err


# -- demo -------------------------------------------------------------------------------


@pytest.mark.slow
def test_demo_tells_the_whole_story_offline(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    args = ("--data-dir", str(tmp_path / "d"), "demo", "--offline", "--transfers", "40")
    args += ("--stream", "3000", "--receipts", "3", "--report", str(tmp_path / "r.html"))
    code, out, err = run(capsys, *args)
    assert code == 0, err
    text = flat(out)
    assert "data: simulated-60000-seed0, 60,000 rows" in text
    assert "lr: test PR-AUC" in text and "mlp: test PR-AUC" in text
    assert "governance: proposal 1 voted" in text and "approved for 'fraud-screening'" in text
    assert "approved and installed by proposals" in text
    assert "payments screened on chain" in text and "for a plain ERC-20" in text
    assert "3,000 held-out records scored and logged durably" in text
    assert "3 receipts proven and verified on chain" in text
    assert "a receipt with a flipped decision is rejected" in text
    assert "audit: 3,000 records recomputed" in text
    assert "watchtower re-verified 20,000 records" in text and "found 1 wrong" in text
    assert "fraud proof for record" in text and "log halted: True" in text
    page = (tmp_path / "r.html").read_text()
    assert page.count("data:image/png;base64,") == 3 and "Example receipts" in page

    code, out, err = run(capsys, *args)  # a second run reuses what the first one stored
    assert code == 0, err
    text = flat(out)
    assert text.count("already stored") == 2 and "is already approved" in text
    assert "audit: 6,000 records recomputed" in text


def test_demo_exits_3_when_a_receipt_does_not_verify(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A receipt whose record was altered must stop the demo with exit code 3."""
    build = demo_receipts.build_receipt

    def altered(log: object, index: int) -> dict[str, object]:
        receipt = build(log, index)  # type: ignore[arg-type]
        receipt["record"]["label"] = 1 - receipt["record"]["label"]  # type: ignore[index]
        return receipt

    monkeypatch.setattr(demo_receipts, "build_receipt", altered)
    args = ("--data-dir", str(tmp_path / "d"), "demo", "--offline", "--transfers", "10")
    code, _, err = run(capsys, *args, "--stream", "500", "--receipts", "2")
    assert code == 3
    assert "does not match" in flat(err)


def test_printed_ids_stay_on_one_line_when_piped(capsys) -> None:
    """Piped output is 80 columns wide: a model id and its path used to be cut in two."""
    from chainml.cli import console

    line = f"lr: model 0x{'ab' * 32} stored in /data/models/0x{'ab' * 32}"
    console().print(line)
    assert capsys.readouterr().out == line + "\n"

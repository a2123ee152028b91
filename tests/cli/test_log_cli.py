"""``chainml log``: append, head, anchor, prove, verify and audit, end to end on the CLI."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.cli.test_cli import flat, isolated, run  # noqa: F401  (isolated is an autouse fixture)

MODEL = "0x" + "ab" * 32


def line(i: int, **changes: object) -> str:
    """Decision ``i`` as a JSON line of ``chainml log append``, with ``changes`` applied."""
    item: dict[str, object] = {
        "request_id": f"order-{i}",
        "model_id": MODEL,
        "score": -1000 + i,
        "label": i % 2,
        "features": [i, 2 * i, -3],
        "metadata": {"merchant": f"m{i % 3}"},
    }
    item.update(changes)
    return json.dumps(item)


def write_jsonl(path: Path, count: int, start: int = 0) -> Path:
    path.write_text("".join(line(i) + "\n" for i in range(start, start + count)))
    return path


@pytest.fixture
def data(tmp_path: Path) -> str:
    return str(tmp_path / "data")


def test_append_anchor_prove_verify_audit(capsys, tmp_path: Path, data: str) -> None:
    code, out, _ = run(
        capsys, "--data-dir", data, "log", "append", str(write_jsonl(tmp_path / "a.jsonl", 30))
    )
    assert code == 0 and "appended 30 decisions" in out
    code, out, _ = run(capsys, "--data-dir", data, "log", "head", "--json")
    head = json.loads(out)
    assert (head["size"], head["anchored_size"], head["pending"]) == (30, 0, 30)

    code, out, _ = run(capsys, "--data-dir", data, "log", "anchor")
    assert code == 0 and "anchored size 30" in flat(out)
    code, out, _ = run(capsys, "--data-dir", data, "log", "anchor")
    assert code == 0 and "nothing to anchor" in flat(out)

    receipt = tmp_path / "r.json"
    code, out, _ = run(
        capsys, "--data-dir", data, "log", "prove", "--request-id", "order-7", "-o", str(receipt)
    )
    assert code == 0 and "anchored" in out
    document = json.loads(receipt.read_text())
    assert document["leaf_index"] == 7 and document["record"]["score"] == str(-993)
    pin = ("--log", document["anchor"]["contract"])  # the verifier pins the operator's log
    code, out, _ = run(capsys, "--data-dir", data, "log", "verify", str(receipt), *pin)
    assert code == 0 and "the contract holds that root" in flat(out)

    code, out, _ = run(capsys, "--data-dir", data, "log", "audit")
    assert code == 0 and "audit passed" in out and "1 checked on chain" in flat(out)


def test_tampered_receipt_exits_3_with_the_reason(capsys, tmp_path: Path, data: str) -> None:
    run(capsys, "--data-dir", data, "log", "append", str(write_jsonl(tmp_path / "a.jsonl", 5)))
    run(capsys, "--data-dir", data, "log", "anchor")
    receipt = tmp_path / "r.json"
    run(capsys, "--data-dir", data, "log", "prove", "2", "-o", str(receipt))
    document = json.loads(receipt.read_text())
    document["record"]["label"] = 1 - document["record"]["label"]  # the decision, rewritten
    receipt.write_text(json.dumps(document))
    code, _, err = run(capsys, "--data-dir", data, "log", "verify", str(receipt))
    assert code == 3 and "does not match the leaf data" in flat(err)


def test_pending_receipt_checks_offline_but_never_verifies(
    capsys, tmp_path: Path, data: str
) -> None:
    run(capsys, "--data-dir", data, "log", "append", str(write_jsonl(tmp_path / "a.jsonl", 3)))
    code, out, _ = run(capsys, "--data-dir", data, "log", "prove", "1")
    assert json.loads(out)["anchor"] is None
    (tmp_path / "r.json").write_text(out)
    verify = ("--data-dir", data, "log", "verify", str(tmp_path / "r.json"))
    code, out, _ = run(capsys, *verify, "--offline")
    assert code == 0 and "hashes check out" in out and "NOT verified" in flat(out)
    code, _, err = run(capsys, *verify)
    assert code == 3 and "pending" in err


def test_bad_line_appends_nothing(capsys, tmp_path: Path, data: str) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", 4)
    path.write_text(path.read_text() + '{"request_id": "x", "score": "high", "label": 0}\n')
    code, _, err = run(capsys, "--data-dir", data, "log", "append", str(path), "--model-id", MODEL)
    assert code == 2 and "line 5" in err and "score" in err
    code, out, _ = run(capsys, "--data-dir", data, "log", "head", "--json")
    assert json.loads(out)["size"] == 0


def test_duplicate_request_ids_are_refused(capsys, tmp_path: Path, data: str) -> None:
    run(capsys, "--data-dir", data, "log", "append", str(write_jsonl(tmp_path / "a.jsonl", 3)))
    code, _, err = run(
        capsys, "--data-dir", data, "log", "append", str(write_jsonl(tmp_path / "b.jsonl", 3, 2))
    )
    assert code == 2 and "line 1" in err and "already logged" in err


def test_audit_names_the_tampered_index(capsys, tmp_path: Path, data: str) -> None:
    run(capsys, "--data-dir", data, "log", "append", str(write_jsonl(tmp_path / "a.jsonl", 20)))
    with sqlite3.connect(Path(data) / "decisions.sqlite") as db:
        table, column, key = _leaf_table(db)
        (blob,) = db.execute(f"SELECT {column} FROM {table} WHERE {key} = 11").fetchone()
        tampered = bytearray(blob)
        tampered[-1] ^= 0x01  # one bit of decision 11's last feature
        db.execute(f"UPDATE {table} SET {column} = ? WHERE {key} = 11", (bytes(tampered),))
    code, _, err = run(capsys, "--data-dir", data, "log", "audit", "--offline")
    assert code == 3 and "11" in err


def _leaf_table(db: sqlite3.Connection) -> tuple[str, str, str]:
    """Find the table holding leaf data (the store's schema is its own business)."""
    for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
        columns = [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
        if "data" in columns:
            key = next(c for c in columns if c in ("idx", "index", "leaf_index", "seq", "i"))
            return table, "data", key
    raise AssertionError("no leaf table found")


@pytest.mark.integration
def test_receipts_from_the_cli_verify_on_anvil(
    capsys, tmp_path: Path, data: str, anvil_node, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chainml.chain.devnode import ANVIL_DEV_KEY

    monkeypatch.setenv("CHAINML_PRIVATE_KEY", ANVIL_DEV_KEY)
    node = ("--data-dir", data, "--rpc", anvil_node.url)
    run(capsys, *node, "log", "append", str(write_jsonl(tmp_path / "a.jsonl", 12)))
    code, out, _ = run(capsys, *node, "log", "anchor")
    assert code == 0 and "chain 31337" in flat(out)
    receipt = tmp_path / "r.json"
    assert run(capsys, *node, "log", "prove", "9", "-o", str(receipt))[0] == 0
    assert json.loads(receipt.read_text())["anchor"]["chain_id"] == 31337
    monkeypatch.delenv("CHAINML_PRIVATE_KEY")  # an auditor needs no key
    pin = ("--log", "31337:" + json.loads(receipt.read_text())["anchor"]["contract"])
    code, out, _ = run(capsys, *node, "log", "verify", str(receipt), *pin)
    assert code == 0 and "the contract holds that root" in flat(out)
    code, _, err = run(capsys, "--data-dir", data, "log", "verify", str(receipt), *pin)
    assert code == 3 and "pass --rpc" in flat(err)  # the embedded chain is another chain
    # the option may also follow the command, as docs/receipts.md writes it
    code, out, _ = run(
        capsys, "--data-dir", data, "log", "verify", str(receipt), *pin, "--rpc", anvil_node.url
    )
    assert code == 0 and "the contract holds that root" in flat(out)

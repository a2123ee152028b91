"""``chainml log verify`` and ``log identity``: receipts verify only against a log one chose.

Exit codes: 0 verified against a trusted log; 3 not verified (bad hashes, pending, unpinned,
untrusted, wrong code or chain); 2 not a receipt (malformed, oversized, too deep).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainml import contracts
from chainml.chain import connect
from chainml.chain.devnode import ANVIL_DEV_KEY
from chainml.cli.main import main
from chainml.config import Settings
from chainml.governance.registry import ModelRegistry
from chainml.log.anchor import Anchorer
from chainml.log.decision_log import Decision, DecisionLog
from chainml.log.receipt import build_receipt
from tests.cli.test_cli import flat, isolated, run  # noqa: F401  (isolated is an autouse fixture)
from tests.cli.test_log_cli import write_jsonl
from tests.conftest import ANVIL_SECOND_KEY


def _quiet(*args: str) -> int:
    """Run the CLI in-process, outside any capsys (for module-scoped fixtures and fuzzing)."""
    try:
        main(list(args))
    except SystemExit as exited:
        return int(exited.code or 0)
    return 0


def _flipped_line(path: Path, request_id: str) -> Path:
    """The outsider's line: the operator's request id with the opposite decision."""
    (line,) = [
        json.loads(text)
        for text in (path.parent / "a.jsonl").read_text().splitlines()
        if json.loads(text)["request_id"] == request_id
    ]
    line["label"] = 1 - line["label"]
    path.write_text(json.dumps(line) + "\n")
    return path


@pytest.fixture(scope="module")
def operator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, Any], str]]:
    """An embedded-chain operator: 12 decisions logged and anchored; the receipt of order-7."""
    root = tmp_path_factory.mktemp("operator")
    data = str(root / "data")
    jsonl = write_jsonl(root / "a.jsonl", 12)
    assert _quiet("--data-dir", data, "log", "append", str(jsonl)) == 0
    assert _quiet("--data-dir", data, "log", "anchor") == 0
    receipt = root / "r.json"
    assert (
        _quiet("--data-dir", data, "log", "prove", "--request-id", "order-7", "-o", str(receipt))
        == 0
    )
    document = json.loads(receipt.read_text())
    yield data, document, document["anchor"]["contract"]


def _verify(capsys, data: str, receipt: Any, path: Path, *options: str) -> tuple[int, str]:
    path.write_text(receipt if isinstance(receipt, str) else json.dumps(receipt))
    code, out, err = run(capsys, "--data-dir", data, "log", "verify", str(path), *options)
    return code, flat(out + err)


def test_the_genuine_receipt_verifies_only_when_its_log_is_pinned(
    capsys, tmp_path: Path, operator, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, receipt, contract = operator
    path = tmp_path / "r.json"
    code, text = _verify(capsys, data, receipt, path)
    assert code == 3 and "anchor is unpinned" in text and "valid" not in text.split(":")[0]
    code, text = _verify(capsys, data, receipt, path, "--log", contract)
    assert code == 0 and "valid" in text and "the contract holds that root" in text
    code, text = _verify(capsys, data, receipt, path, "--log", f"1337:{contract}")
    assert code == 0
    monkeypatch.setenv("CHAINML_TRUSTED_LOGS", f"5:0x{'12' * 20}, 1337:{contract}")
    code, text = _verify(capsys, data, receipt, path)
    assert code == 0 and f"trusted log 1337:{contract}" in text


def test_log_identity_publishes_what_verifiers_pin(capsys, tmp_path: Path, operator) -> None:
    data, receipt, contract = operator
    code, out, _ = run(capsys, "--data-dir", data, "log", "identity", "--json")
    identity = json.loads(out)
    assert code == 0 and identity["contract"] == contract and identity["chain_id"] == 1337
    assert identity["chainml_build"] is True
    assert identity["trust_root"] == f"1337:{contract}:{identity['code_hash']}"
    code, out, _ = run(capsys, "--data-dir", data, "log", "identity")
    assert code == 0 and f"--log {identity['trust_root']}" in out
    code, text = _verify(
        capsys, data, receipt, tmp_path / "r.json", "--log", identity["trust_root"]
    )
    assert code == 0
    wrong_hash = f"1337:{contract}:0x{'00' * 32}"
    code, text = _verify(capsys, data, receipt, tmp_path / "r.json", "--log", wrong_hash)
    assert code == 3 and "not the DecisionLog you trust" in text


def test_the_services_answer_verifies_as_saved(capsys, tmp_path: Path, operator) -> None:
    """``curl .../v1/decisions/ID > r.json`` then ``log verify r.json``: the receipt inside
    is what is checked; the answer's own status is not trusted."""
    data, receipt, contract = operator
    answer = {"status": "anchored", "leaf_index": receipt["leaf_index"], "receipt": receipt}
    code, text = _verify(capsys, data, answer, tmp_path / "r.json", "--log", contract)
    assert code == 0 and "valid" in text
    flipped = copy.deepcopy(answer)
    flipped["receipt"]["record"]["label"] = 1 - flipped["receipt"]["record"]["label"]
    code, text = _verify(capsys, data, flipped, tmp_path / "r.json", "--log", contract)
    assert code == 3 and "does not match the leaf data" in text
    extra = {**answer, "note": "x"}  # anything else is still refused as not a receipt
    code, text = _verify(capsys, data, extra, tmp_path / "r.json", "--log", contract)
    assert code == 2


def test_pending_receipts_are_never_valid_online(capsys, tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    run(capsys, "--data-dir", data, "log", "append", str(write_jsonl(tmp_path / "a.jsonl", 3)))
    _, out, _ = run(capsys, "--data-dir", data, "log", "prove", "1")
    assert json.loads(out)["anchor"] is None
    path = tmp_path / "r.json"
    code, text = _verify(capsys, data, out, path, "--log", f"1337:0x{'12' * 20}")
    assert code == 3 and "pending" in text
    code, text = _verify(capsys, data, out, path)
    assert code == 3 and "pending" in text
    code, text = _verify(capsys, data, out, path, "--offline")
    assert code == 0 and "hashes check out" in text and "NOT verified" in text
    assert "valid" not in text


def test_offline_never_says_valid(capsys, tmp_path: Path, operator) -> None:
    data, receipt, _ = operator
    code, text = _verify(capsys, data, receipt, tmp_path / "r.json", "--offline")
    assert code == 0 and "hashes check out" in text and "NOT verified" in text
    assert "valid" not in text


def test_a_forged_receipt_on_the_embedded_chain(capsys, tmp_path: Path, operator) -> None:
    """An outsider with its own key anchors a flipped decision in its own DecisionLog."""
    data, genuine, contract = operator
    with connect(Settings(data_dir=Path(data))) as env:
        outsider = env.accounts[1]
        env.sender = outsider
        with DecisionLog.open(tmp_path / "outsider", durability="normal") as log:
            own = env.deploy(env.compile(contracts.source_path("DecisionLog")))
            record = genuine["record"]
            log.append(
                [
                    Decision(
                        model_id=bytes.fromhex(record["model_id"][2:]),
                        score=int(record["score"]),
                        label=1 - record["label"],
                        request_id=bytes.fromhex(record["request_id"][2:]),
                        features=tuple(int(f) for f in record["features"]),
                    )
                ]
            )
            Anchorer(log, own).anchor()
            forged = build_receipt(log, 0)
    assert forged["record"]["request_id"] == genuine["record"]["request_id"]
    assert forged["anchor"]["contract"] != contract
    path = tmp_path / "r.json"
    code, text = _verify(capsys, data, forged, path, "--log", contract)
    assert code == 3 and "not a log you trust" in text
    code, text = _verify(capsys, data, forged, path)
    assert code == 3 and "unpinned" in text
    code, text = _verify(capsys, data, genuine, path, "--log", contract)
    assert code == 0


@pytest.mark.integration
def test_a_forged_receipt_on_anvil_with_two_keys(
    capsys, tmp_path: Path, anvil_node, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 1 as reported: the outsider's receipt said "valid", exit 0."""
    operator_dir, outsider_dir = str(tmp_path / "operator"), str(tmp_path / "outsider")
    node = ("--rpc", anvil_node.url)
    jsonl = write_jsonl(tmp_path / "a.jsonl", 12)

    monkeypatch.setenv("CHAINML_PRIVATE_KEY", ANVIL_DEV_KEY)
    assert run(capsys, "--data-dir", operator_dir, *node, "log", "append", str(jsonl))[0] == 0
    assert run(capsys, "--data-dir", operator_dir, *node, "log", "anchor")[0] == 0
    genuine = tmp_path / "genuine.json"
    prove = ("log", "prove", "--request-id", "order-7", "-o")
    assert run(capsys, "--data-dir", operator_dir, *node, *prove, str(genuine))[0] == 0
    _, out, _ = run(capsys, "--data-dir", operator_dir, *node, "log", "identity", "--json")
    trust_root = json.loads(out)["trust_root"]

    monkeypatch.setenv("CHAINML_PRIVATE_KEY", ANVIL_SECOND_KEY)  # the outsider's own key
    flipped = _flipped_line(tmp_path / "flipped.jsonl", "order-7")
    assert run(capsys, "--data-dir", outsider_dir, *node, "log", "append", str(flipped))[0] == 0
    assert run(capsys, "--data-dir", outsider_dir, *node, "log", "anchor")[0] == 0
    forged = tmp_path / "forged.json"
    assert run(capsys, "--data-dir", outsider_dir, *node, *prove, str(forged))[0] == 0
    monkeypatch.delenv("CHAINML_PRIVATE_KEY")  # the auditor needs no key

    auditor = ("--data-dir", str(tmp_path / "auditor"), *node, "log", "verify")
    forged_doc = json.loads(forged.read_text())
    assert (
        forged_doc["record"]["request_id"]
        == json.loads(genuine.read_text())["record"]["request_id"]
    )
    code, out, err = run(capsys, *auditor, str(forged), "--log", trust_root)
    assert code == 3 and "not a log you trust" in flat(err)
    code, out, err = run(capsys, *auditor, str(forged))
    assert code == 3 and "unpinned" in flat(err) and "valid" not in out
    code, out, _ = run(capsys, *auditor, str(genuine), "--log", trust_root)
    assert code == 0 and "valid" in out
    # the receipt is on anvil's chain 31337; the embedded chain of the auditor is 1337
    embedded = ("--data-dir", str(tmp_path / "auditor"), "log", "verify", str(genuine))
    code, _, err = run(capsys, *embedded, "--log", trust_root)
    assert code == 3 and "node serves chain 1337" in flat(err) and "pass --rpc" in flat(err)


# -- strict parsing: bad input is exit 2 naming the field; a tampered record is exit 3 ---------


def _edit(change: Callable[[dict[str, Any]], object]) -> Callable[[str], str]:
    def edit(text: str) -> str:
        document = json.loads(text)
        change(document)
        return json.dumps(document)

    return edit


MALFORMED: dict[str, tuple[Callable[[str], str], str]] = {
    "leaf_index a string": (
        lambda t: t.replace('"leaf_index": 7', '"leaf_index": "7"'),
        "leaf_index",
    ),
    "leaf_index a float": (
        lambda t: t.replace('"leaf_index": 7', '"leaf_index": 7.5'),
        "leaf_index",
    ),
    "request_id null": (_edit(lambda r: r["record"].update(request_id=None)), "request_id"),
    "features a string": (_edit(lambda r: r["record"].update(features="123")), "features"),
    "a field missing": (_edit(lambda r: r.pop("tree_root")), "tree_root"),
    "5,000-digit integer": (
        lambda t: t.replace('"leaf_index": 7', '"leaf_index": ' + "9" * 5000),
        "digits",
    ),
    "1e400": (lambda t: t.replace('"leaf_index": 7', '"leaf_index": 1e400'), "overflows"),
    "lone surrogate": (lambda t: t.replace('"format": "', '"format": "\\ud800'), "surrogate"),
    "nested 100,000 deep": (lambda t: "[" * 100_000 + "]" * 100_000, "nested"),
    "over 4 MB": (lambda t: t[:-1] + ', "pad": "' + "x" * 5_000_000 + '"}', "over the limit"),
    "not JSON": (lambda t: t[:-2], "not JSON"),
}


@pytest.mark.parametrize("case", MALFORMED, ids=list(MALFORMED))
def test_malformed_receipts_exit_2_naming_the_problem(
    capsys, tmp_path: Path, operator, case: str
) -> None:
    data, receipt, contract = operator
    change, named = MALFORMED[case]
    text = change(json.dumps(receipt))
    code, shown = _verify(capsys, data, text, tmp_path / "r.json", "--log", contract)
    assert code == 2 and named in shown


def test_tampered_record_fields_exit_3(capsys, tmp_path: Path, operator) -> None:
    data, receipt, contract = operator
    features = copy.deepcopy(receipt)
    features["record"]["features"][0] = str(int(features["record"]["features"][0]) + 1)
    code, text = _verify(capsys, data, features, tmp_path / "r.json", "--log", contract)
    assert code == 3 and "does not match the leaf data" in text
    leaf = copy.deepcopy(receipt)
    leaf["leaf_data"] = leaf["leaf_data"][:-1] + ("1" if leaf["leaf_data"][-1] == "0" else "0")
    code, text = _verify(capsys, data, leaf, tmp_path / "r.json", "--log", contract)
    assert code == 3


# -- fuzzing: any mutation is exit 2 or 3; only the untouched receipt is 0 ----------------------


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = [prefix]
    if isinstance(value, dict):
        for key, inner in value.items():
            out.extend(_paths(inner, (*prefix, key)))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            out.extend(_paths(inner, (*prefix, index)))
    return out


def _flip_hex(value: Any, bit: int) -> Any:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) < 4:
        return value
    data = bytearray(bytes.fromhex(value[2:]))
    data[bit // 8 % len(data)] ^= 1 << (bit % 8)
    return "0x" + data.hex()


REPLACEMENTS = [None, True, 0, 1, -1, 1.5, "", "150", "0x", [], {}, 2**70, ["0x" + "00" * 32]]


@st.composite
def mutations(draw: st.DrawFn, receipt: dict[str, Any]) -> dict[str, Any]:
    mutated = copy.deepcopy(receipt)
    path = draw(st.sampled_from(_paths(receipt)[1:]))
    parent = mutated
    for step in path[:-1]:
        parent = parent[step]
    key = path[-1]
    action = draw(st.sampled_from(["flip", "replace", "drop", "nest", "bump"]))
    if action == "flip":
        parent[key] = _flip_hex(parent[key], draw(st.integers(0, 8 * 4096)))
    elif action == "replace":
        parent[key] = draw(st.sampled_from(REPLACEMENTS))
    elif action == "drop":
        del parent[key]
    elif action == "nest":
        nested: Any = parent[key]
        for _ in range(draw(st.integers(1, 40))):
            nested = [nested]
        parent[key] = nested
    elif isinstance(parent[key], int) and not isinstance(parent[key], bool):
        parent[key] += draw(st.sampled_from([-1, 1, 2**32]))
    return mutated


def test_fuzzed_receipts_exit_only_0_2_or_3(tmp_path: Path, operator) -> None:
    data, receipt, contract = operator
    path = tmp_path / "r.json"

    @settings(
        max_examples=120,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(mutations(receipt))
    def check(mutated: dict[str, Any]) -> None:
        path.write_text(json.dumps(mutated))
        code = _quiet("--data-dir", data, "log", "verify", str(path), "--log", contract)
        if json.dumps(mutated, sort_keys=True) == json.dumps(receipt, sort_keys=True):
            assert code == 0
        else:
            assert code in (2, 3), (code, mutated)

    check()


def test_require_approved_checks_the_pinned_registry(capsys, tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    model = "0x" + "ab" * 32  # the model id of write_jsonl's lines
    run(capsys, "--data-dir", data, "log", "append", str(write_jsonl(tmp_path / "a.jsonl", 4)))
    run(capsys, "--data-dir", data, "log", "anchor")  # before the approval
    early = tmp_path / "early.json"
    run(capsys, "--data-dir", data, "log", "prove", "1", "-o", str(early))
    with connect(Settings(data_dir=Path(data))) as env:
        registry = ModelRegistry.deploy(env, governor=env.sender)
        registry.register(model, b"\x22" * 32, b"\x33" * 32, "file://model.onnx")
        # as the governor's call pins it: nothing replaced, registered by us, no contract
        terms = (bytes(32), env.sender, "0x" + "00" * 20)
        registry.contract.transact("approve", bytes.fromhex(model[2:]), "fraud-screening", *terms)
    more = write_jsonl(tmp_path / "b.jsonl", 2, start=4)
    run(capsys, "--data-dir", data, "log", "append", str(more))
    run(capsys, "--data-dir", data, "log", "anchor")  # after it
    late = tmp_path / "late.json"
    run(capsys, "--data-dir", data, "log", "prove", "5", "-o", str(late))
    pin = ("--log", json.loads(late.read_text())["anchor"]["contract"])
    verify = ("--data-dir", data, "log", "verify", *pin)
    approved = ("--require-approved", "fraud-screening", "--registry", registry.address)

    code, out, _ = run(capsys, *verify, str(late), *approved)
    assert code == 0 and "was the approved model for 'fraud-screening'" in flat(out)
    code, out, err = run(capsys, *verify, str(early), *approved)  # approved only later
    assert code == 3 and "not the approved model" in flat(err)
    code, _, err = run(
        capsys, *verify, str(late), "--require-approved", "other", "--registry", registry.address
    )
    assert code == 3 and "not the approved model for 'other'" in flat(err)
    code, _, err = run(capsys, *verify, str(late), "--require-approved", "fraud-screening")
    assert code == 2 and "--registry" in flat(err)  # no registry pinned: refused, not assumed
    not_a_registry = ("--require-approved", "fraud-screening", "--registry", pin[1])
    code, _, err = run(capsys, *verify, str(late), *not_a_registry)
    assert code == 3 and "not the ModelRegistry you trust" in flat(err)

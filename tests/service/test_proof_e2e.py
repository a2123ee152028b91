"""``chainml serve`` proves a logged decision end to end: score, POST the proof, GET the receipt.

A real EZKL run (setup once for the module, then one proof in the job thread's child process);
the proved ``chainml.receipt/2`` verifies locally, and the same proof with one bit flipped does
not.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from chainml.errors import ChainMLError
from chainml.inference.zk.setup import ZkCircuit, setup_circuit
from chainml.inference.zk.verify import verify_decision
from chainml.models.simulator import simulate_payments
from tests.service.conftest import HEADERS, make_app, train_into

pytestmark = pytest.mark.slow
pytest.importorskip("ezkl")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, ZkCircuit]]:
    """A service pinned to a model whose circuit is set up (public inputs)."""
    data_dir = tmp_path_factory.mktemp("serve-zk") / "data"
    artifact = train_into(data_dir, 1)
    features = simulate_payments(3000, seed=1).dataset().features
    circuit, _ = setup_circuit(artifact, data_dir, features, inputs="public", limit=64)
    with TestClient(make_app(data_dir, artifact.model_id)) as client:
        yield client, circuit


def _wait_done(client: TestClient, request_id: str, seconds: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        answer = client.get(f"/v1/decisions/{request_id}/proof")
        if answer.status_code == 200:
            return dict(answer.json())
        assert answer.status_code == 202 and answer.json()["status"] in ("pending", "running")
        time.sleep(0.5)
    raise AssertionError(f"no proof of {request_id} within {seconds} s")


def test_a_served_decision_is_proved_and_its_receipt_verifies(served) -> None:
    client, circuit = served
    width = int(circuit.manifest["features"])
    scored = client.post(
        "/v1/score", headers=HEADERS, json={"request_id": "zk-served", "features": [1.0] * width}
    )
    assert scored.status_code == 200, scored.text
    assert client.get("/v1/decisions/zk-served").json()["proof"] is None
    asked = client.post("/v1/decisions/zk-served/proof", headers=HEADERS)
    assert asked.status_code == 202 and asked.json()["status"] in ("pending", "running")
    again = client.post("/v1/decisions/zk-served/proof", headers=HEADERS)
    assert again.json()["submitted"] == asked.json()["submitted"]  # the same job
    job = _wait_done(client, "zk-served")
    assert job["status"] == "done", job["error"]
    assert client.get("/v1/decisions/zk-served").json()["proof"] == "done"
    receipt = job["receipt"]
    assert receipt["format"] == "chainml.receipt/2"
    assert receipt["leaf_index"] == scored.json()["log_index"]
    check = verify_decision(receipt, circuit=circuit)
    assert check.local and check.record.request_id.hex() == scored.json()["request_hash"][2:]
    proof = bytearray.fromhex(receipt["zk"]["proof"][2:])
    proof[len(proof) // 2] ^= 0x01
    tampered = receipt | {"zk": receipt["zk"] | {"proof": "0x" + proof.hex()}}
    with pytest.raises(ChainMLError):
        verify_decision(tampered, circuit=circuit)
    done = client.post("/v1/decisions/zk-served/proof", headers=HEADERS, params={"wait": 1})
    assert done.status_code == 200 and done.json()["receipt"] == receipt  # kept, not re-proved

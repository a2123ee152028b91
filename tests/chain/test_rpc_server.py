"""The embedded chain served as JSON-RPC: bounded input, loopback only, usable from web3.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from eth_account import Account
from eth_utils import keccak
from web3 import Web3

from chainml import contracts
from chainml.chain import Env
from chainml.chain.embedded import DEV_BALANCE, EmbeddedBackend
from chainml.chain.rpc_server import MAX_BATCH, MAX_BODY_BYTES

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def served(fresh_dir: Path) -> Iterator[tuple[EmbeddedBackend, str]]:
    backend = EmbeddedBackend(fresh_dir)
    try:
        yield backend, backend.serve()
    finally:
        backend.close()


def _call(url: str, method: str, *params: Any) -> dict[str, Any]:
    payload = {"jsonrpc": "2.0", "id": 7, "method": method, "params": list(params)}
    answer: dict[str, Any] = requests.post(url, json=payload, timeout=30).json()
    return answer


def test_input_is_bounded_and_the_server_stays_up(served: tuple[EmbeddedBackend, str]) -> None:
    _, url = served
    deep = b"[" * 100_000 + b"]" * 100_000  # overflowed the C stack of the stdlib parser
    answer = requests.post(url, data=deep, headers=JSON, timeout=30).json()
    assert answer["error"]["code"] == -32700 and "deep" in answer["error"]["message"]
    huge = requests.post(url, data=b" " * (MAX_BODY_BYTES + 1), headers=JSON, timeout=30)
    assert huge.status_code == 413
    plain = requests.post(url, data=b"{}", headers={"Content-Type": "text/plain"}, timeout=30)
    assert plain.status_code == 415  # a web page cannot post JSON without a CORS preflight
    rebound = requests.post(url, data=b"{}", headers=JSON | {"Host": "evil.example"}, timeout=30)
    assert rebound.status_code == 403  # nor reach it through a rebound DNS name
    batch = [{"jsonrpc": "2.0", "id": i, "method": "eth_chainId"} for i in range(MAX_BATCH + 1)]
    too_many = requests.post(url, json=batch, timeout=30).json()
    assert too_many["error"]["code"] == -32600
    answers = requests.post(url, json=batch[:2], timeout=30).json()
    assert [a["result"] for a in answers] == ["0x539", "0x539"]
    assert _call(url, "eth_noSuchMethod")["error"]["code"] == -32601
    assert _call(url, "eth_getBalance", "0x12", "latest")["error"]["code"] == -32602
    assert _call(url, "eth_getBalance", {"deep": [[[1]]]}, "latest")["error"]["code"] == -32602
    assert _call(url, "eth_chainId")["result"] == "0x539"  # still serving


def test_a_revert_is_code_3_with_its_reason_in_the_data(
    served: tuple[EmbeddedBackend, str],
) -> None:
    backend, url = served
    env = Env(backend, backend.signers, data_dir=backend.data_dir)
    counter = env.deploy(contracts.load("Counter", backend.data_dir / "cache"), 1)
    add_zero = keccak(text="add(uint256)")[:4] + bytes(32)
    call = {"from": env.sender, "to": counter.address, "data": "0x" + add_zero.hex()}
    for method, params in (("eth_call", [call, "latest"]), ("eth_estimateGas", [call])):
        error = _call(url, method, *params)["error"]
        assert error["code"] == 3 and "amount must be positive" in error["message"]
        assert error["data"].startswith("0x08c379a0")  # Error(string), for any client to decode


def test_web3_py_deploys_transacts_and_reads(served: tuple[EmbeddedBackend, str]) -> None:
    backend, url = served
    w3 = Web3(Web3.HTTPProvider(url))
    assert w3.is_connected() and w3.eth.chain_id == 1337
    Account.enable_unaudited_hdwallet_features()
    mnemonic = (backend.data_dir / "mnemonic").read_text().strip()
    account = Account.from_mnemonic(mnemonic, account_path="m/44'/60'/0'/0/0")
    assert w3.eth.get_balance(account.address) == DEV_BALANCE

    compiled = contracts.load("Counter", backend.data_dir / "cache")
    factory = w3.eth.contract(abi=compiled.abi, bytecode=compiled.bytecode)

    def send(tx: Any) -> Any:
        tx = dict(tx, nonce=w3.eth.get_transaction_count(account.address), chainId=1337)
        tx.setdefault("from", account.address)
        tx["gas"] = w3.eth.estimate_gas(tx)
        signed = account.sign_transaction(tx)
        tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
        return w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10)

    created = send(factory.constructor(41).build_transaction({"from": account.address}))
    assert created.status == 1 and created.contractAddress
    counter = w3.eth.contract(address=created.contractAddress, abi=compiled.abi)
    bumped = send(counter.functions.increment().build_transaction({"from": account.address}))
    assert bumped.status == 1 and bumped.gasUsed == 27_822
    assert counter.functions.count().call() == 42

    block = w3.eth.get_block(bumped.blockNumber, full_transactions=True)
    assert (
        block.hash == bumped.blockHash and block.transactions[0]["hash"] == bumped.transactionHash
    )
    assert w3.eth.get_transaction(bumped.transactionHash)["from"] == account.address
    (event,) = counter.events.Incremented().get_logs(from_block=0)
    assert event.args.count == 42 and event.transactionHash == bumped.transactionHash
    assert w3.eth.get_code(counter.address) == compiled.runtime_bytecode
    assert w3.eth.fee_history(2, "latest", [50])["baseFeePerGas"]
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    send(counter.functions.increment().build_transaction({"from": account.address}))
    assert w3.provider.make_request("evm_revert", [snapshot])["result"] is True  # type: ignore[arg-type]
    assert counter.functions.count().call() == 42
    assert json.loads(json.dumps(w3.eth.get_block("latest")["number"])) == block.number


def test_lookups_by_hash_storage_and_unknowns(served: tuple[EmbeddedBackend, str]) -> None:
    backend, url = served
    env = Env(backend, backend.signers, data_dir=backend.data_dir)
    counter = env.deploy(contracts.load("Counter", backend.data_dir / "cache"), 5)
    receipt = counter.increment()
    block = _call(url, "eth_getBlockByNumber", hex(receipt.block_number), True)["result"]
    by_hash = _call(url, "eth_getBlockByHash", block["hash"], True)["result"]
    assert by_hash == block and block["transactions"][-1]["hash"] == "0x" + receipt.tx_hash.hex()
    (log,) = _call(url, "eth_getLogs", {"blockHash": block["hash"]})["result"]
    assert (
        log["transactionHash"] == "0x" + receipt.tx_hash.hex() and log["blockHash"] == block["hash"]
    )
    count = _call(url, "eth_getStorageAt", counter.address, "0x0", {"blockHash": block["hash"]})
    assert int(count["result"], 16) == 6
    at_genesis = _call(url, "eth_getCode", counter.address, "earliest")["result"]
    assert at_genesis == "0x"
    unknown = "0x" + "11" * 32
    assert _call(url, "eth_getTransactionReceipt", unknown)["result"] is None
    assert _call(url, "eth_getTransactionByHash", unknown)["result"] is None
    assert _call(url, "eth_getBlockByHash", unknown, False)["result"] is None
    assert _call(url, "eth_getBlockByNumber", "0xffff", False)["result"] is None

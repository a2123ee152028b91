"""Several RPC URLs of one chain: failover, back-off, stale and foreign nodes refused.

The nodes are the scripted JSON-RPC servers of test_rpc_retry (loopback HTTP, each request
answered as the test says and recorded); the end-to-end case is in tests/log/test_anchor.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from eth_utils import keccak

from chainml.chain.endpoints import EndpointChainIdError, split_urls
from chainml.chain.rpc import RpcBackend
from chainml.errors import ChainUnavailableError, InvalidInputError, WrongChainIdError
from tests.chain.test_rpc_retry import (
    Answer,
    Script,
    _ScriptedNode,
    _serve,
    _signed,
    busy,
    ok,
)

Start = Callable[[Script], _ScriptedNode]


@pytest.fixture
def scripted() -> Iterator[Start]:
    """Start scripted nodes; all are shut down after the test."""
    nodes: list[Iterator[_ScriptedNode]] = []

    def start(script: Script) -> _ScriptedNode:
        nodes.append(_serve(script))
        return next(nodes[-1])

    yield start
    for serving in nodes:
        next(serving, None)


def node(chain_id: int = 1, head: int = 100, **answers: Any) -> Script:
    """A healthy node of ``chain_id`` at block ``head``; ``answers`` override methods."""

    def script(request: dict[str, Any]) -> Answer:
        method = request["method"]
        if method in answers:
            answer = answers[method]
            return answer(request) if callable(answer) else answer  # type: ignore[no-any-return]
        if method == "eth_chainId":
            return ok(hex(chain_id))
        if method == "eth_blockNumber":
            return ok(hex(head))
        return ok("0x2a")

    return script


def down(_: dict[str, Any]) -> Answer:
    return busy(503, retry_after=None)


def test_a_failing_url_is_skipped_and_rests(scripted: Start) -> None:
    failing = scripted(node(eth_getBalance=down))
    healthy = scripted(node())
    backend = RpcBackend(f"{failing.url},{healthy.url}", timeout=5)
    for _ in range(3):
        assert backend.request("eth_getBalance", []) == "0x2a"
    # asked once, then resting: the next requests go straight to the healthy node
    assert failing.methods().count("eth_getBalance") == 1
    assert healthy.methods().count("eth_getBalance") == 3
    first, second = backend.endpoints.health()
    assert first["failures"] == 1 and first["resting_seconds"] > 0
    assert second["failures"] == 0


def test_retry_after_sets_how_long_a_url_rests(scripted: Start) -> None:
    limited = scripted(node(eth_getBalance=busy(429, "30")))
    healthy = scripted(node())
    backend = RpcBackend(f"{limited.url},{healthy.url}", timeout=5)
    assert backend.request("eth_getBalance", []) == "0x2a"
    assert backend.endpoints.health()[0]["resting_seconds"] > 25  # what it asked, not 0.5 s


def test_a_rate_limit_in_the_json_body_fails_over(scripted: Start) -> None:
    limit = 200, {}, {"error": {"code": -32005, "message": "daily request count exceeded"}}
    limited = scripted(node(eth_getBalance=limit))
    healthy = scripted(node())
    backend = RpcBackend(f"{limited.url},{healthy.url}", timeout=5)
    assert backend.request("eth_getBalance", []) == "0x2a"


def test_when_every_url_fails_the_error_is_typed_and_redacted(scripted: Start) -> None:
    one, two = scripted(node(eth_getBalance=down)), scripted(node(eth_getBalance=down))
    secret = two.url.replace("http://", "http://user:hunter2@") + "/?apikey=s3cret"
    backend = RpcBackend(f"{one.url},{secret}", timeout=5)
    with pytest.raises(ChainUnavailableError) as info:
        backend.request("eth_getBalance", [])
    assert "hunter2" not in str(info.value) and "s3cret" not in str(info.value)
    assert "hunter2" not in repr(backend) and "s3cret" not in backend.location
    assert one.methods().count("eth_getBalance") >= 2  # swept again after backing off


def test_a_url_of_another_chain_is_refused_by_name(scripted: Start) -> None:
    main, other = scripted(node(chain_id=1)), scripted(node(chain_id=5))
    with pytest.raises(EndpointChainIdError) as info:
        RpcBackend(f"{main.url},{other.url}", timeout=5)
    assert (info.value.expected, info.value.actual, info.value.url) == (1, 5, other.url)
    assert other.url in str(info.value) and isinstance(info.value, WrongChainIdError)
    assert info.value.exit_code == 5


def test_a_url_that_comes_back_on_another_chain_is_never_used(scripted: Start) -> None:
    answers = iter([busy(503, retry_after=None)])

    def late_chain_id(_: dict[str, Any]) -> Answer:
        return next(answers, ok("0x5"))  # down at start, then up serving chain 5

    late = scripted(node(chain_id=5, eth_chainId=late_chain_id))
    main = scripted(node(chain_id=1))
    backend = RpcBackend(f"{late.url},{main.url}", timeout=5, health_interval=0.1)
    assert backend.chain_id == 1
    backend.endpoints.endpoints[0].rest_until = 0.0  # its back-off is over
    for _ in range(3):
        assert backend.request("eth_getBalance", []) == "0x2a"
    assert "eth_getBalance" not in late.methods()
    assert backend.endpoints.health()[0]["refused"] is not None


def test_a_stale_node_is_not_used(scripted: Start) -> None:
    behind = scripted(node(head=100))
    best = scripted(node(head=140))
    backend = RpcBackend(f"{behind.url},{best.url}", timeout=5, max_lag_blocks=16)
    assert backend.request("eth_getBalance", []) == "0x2a"
    assert "eth_getBalance" not in behind.methods()  # 40 blocks behind: skipped
    assert [e["behind"] for e in backend.endpoints.health()] == [40, 0]
    labels = ((("url", behind.url),), (("url", best.url),))
    assert backend.endpoints.samples("up") == list(zip(labels, [0.0, 1.0], strict=True))
    assert backend.endpoints.samples("behind") == list(zip(labels, [40.0, 0.0], strict=True))


def test_a_node_within_the_lag_stays_the_primary(scripted: Start) -> None:
    primary, other = scripted(node(head=130)), scripted(node(head=140))
    backend = RpcBackend(f"{primary.url},{other.url}", timeout=5, max_lag_blocks=16)
    backend.request("eth_getBalance", [])
    assert primary.methods().count("eth_getBalance") == 1
    assert "eth_getBalance" not in other.methods()


class _LosingNode:
    """Accepts a transaction and loses the answer; its twin then already knows the hash."""

    def __init__(self, known: set[str]) -> None:
        self.known = known

    def __call__(self, request: dict[str, Any]) -> Answer:
        if request["method"] == "eth_sendRawTransaction":
            self.known.add("0x" + keccak(hexstr=request["params"][0]).hex())
            return busy(503, retry_after=None)
        return node()(request)


def test_a_transaction_failed_over_to_another_url_is_the_same_transaction(
    scripted: Start,
) -> None:
    known: set[str] = set()  # the one mempool both nodes gossip into

    def twin(request: dict[str, Any]) -> Answer:
        if request["method"] == "eth_sendRawTransaction":
            return 200, {}, {"error": {"code": -32000, "message": "already known"}}
        if request["method"] == "eth_getTransactionByHash":
            return ok({"hash": request["params"][0]} if request["params"][0] in known else None)
        return node()(request)

    first, second = scripted(_LosingNode(known)), scripted(twin)
    raw = _signed()
    tx_hash = RpcBackend(f"{first.url},{second.url}", timeout=5).send_raw_transaction(raw)
    assert tx_hash == keccak(raw) and known == {"0x" + tx_hash.hex()}


def test_url_lists_are_checked() -> None:
    assert split_urls(" http://a:1 , https://b/x ,") == ["http://a:1", "https://b/x"]
    with pytest.raises(InvalidInputError, match="http"):
        split_urls("http://a:1,ws://b:2")
    with pytest.raises(InvalidInputError, match="no RPC URL"):
        split_urls(" , ")


def test_an_expected_chain_id_does_not_stand_in_for_an_answer(scripted: Start) -> None:
    one, two = scripted(node(eth_chainId=down)), scripted(node(eth_chainId=down))
    with pytest.raises(ChainUnavailableError):
        RpcBackend(f"{one.url},{two.url}", expected_chain_id=1, timeout=2)


def test_a_malformed_chain_id_makes_the_node_unusable_not_a_crash(scripted: Start) -> None:
    odd, fine = scripted(node(eth_chainId=ok({"id": 1}))), scripted(node())
    backend = RpcBackend(f"{odd.url},{fine.url}", timeout=5)
    assert backend.chain_id == 1 and backend.request("eth_getBalance", []) == "0x2a"
    first = backend.endpoints.health()[0]
    assert first["chain_id"] is None and first["failures"] >= 1  # never trusted, never used
    assert "eth_getBalance" not in odd.methods()

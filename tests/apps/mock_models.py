"""Stand-in model contracts for the guarded-token tests (same interface as generated models)."""

from __future__ import annotations

from pathlib import Path

from chainml.chain import CompiledContract
from chainml.chain.compiler import compile_source

_HEADER = """# pragma version ~=0.4.3
N_FEATURES: public(constant(uint256)) = 11
"""

SOURCES = {
    # score = x[INDEX]: with INDEX 0 the amount, so holds follow the threshold exactly
    "SelectModel": _HEADER
    + """
INDEX: public(immutable(uint256))

@deploy
def __init__(index: uint256):
    INDEX = index

@external
@view
def score(x: int256[11]) -> int256:
    return x[INDEX]
""",
    "RevertingModel": _HEADER
    + """
@external
@view
def score(x: int256[11]) -> int256:
    raise "model exploded"
""",
    # burns all the gas it is given
    "GasHogModel": _HEADER
    + """
@external
@view
def score(x: int256[11]) -> int256:
    acc: uint256 = 0
    for i: uint256 in range(10**9):
        acc = unsafe_add(acc, i)
    return convert(acc % 2, int256)
""",
    # returns no data at all
    "SilentModel": _HEADER
    + """
@external
@view
def score(x: int256[11]):
    pass
""",
    # returns two words instead of one
    "LongReturnModel": _HEADER
    + """
@external
@view
def score(x: int256[11]) -> (int256, int256):
    return 1, 2
""",
    # tries to move the token's money from inside score (a state change under STATICCALL)
    "ReentrantModel": _HEADER
    + """
interface Token:
    def transfer(receiver: address, amount: uint256) -> bool: nonpayable

TOKEN: public(immutable(address))

@deploy
def __init__(token: address):
    TOKEN = token

@external
def score(x: int256[11]) -> int256:
    extcall Token(TOKEN).transfer(msg.sender, 1)
    return 0
""",
    # a registry that answers whatever it was told: for code-hash mismatches
    "FakeRegistry": """# pragma version ~=0.4.3
struct Model:
    artifact_hash: bytes32
    card_hash: bytes32
    uri: String[256]
    registrant: address
    registered_block: uint256
    status: uint8
    use: String[64]
    target: address
    codehash: bytes32

entry: Model

@external
def set(status: uint8, use: String[64], target: address, codehash: bytes32):
    self.entry = Model(artifact_hash=empty(bytes32), card_hash=empty(bytes32), uri="",
                       registrant=msg.sender, registered_block=block.number, status=status,
                       use=use, target=target, codehash=codehash)

@external
@view
def model(model_id: bytes32) -> Model:
    return self.entry
""",
}


def compile_mock(name: str, cache_dir: Path | None = None) -> CompiledContract:
    """Compile one of :data:`SOURCES`."""
    return compile_source(SOURCES[name], name, cache_dir)

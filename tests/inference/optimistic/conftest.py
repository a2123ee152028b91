"""A small optimistic world: a registry with an approved model contract, a bonded log, heads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from chainml.chain import Contract, Env
from chainml.chain.compiler import compile_source
from chainml.governance.registry import ModelRegistry
from chainml.inference.codegen import generate_vyper
from chainml.inference.fixedpoint import InputSpec, LinearModel
from chainml.inference.optimistic import deploy_log, top_up_bond
from chainml.log import merkle
from chainml.log.record import DecisionRecord, commit_features

USE = "fraud-screening"
WINDOW = 20
BOND = 10**15
ZERO_ADDRESS = "0x" + "00" * 20


def linear_model(bias: int = 7) -> LinearModel:
    inputs = tuple(InputSpec(f"f{i}", 1, -1000, 1000) for i in range(4))
    return LinearModel(inputs, (3, -2, 5, 1), bias, threshold=100, score_scale=1)


def model_id(n: int) -> bytes:
    return bytes([n]) * 32


@dataclass
class World:
    """The operator's log (leaf list, anchored on chain) and the governed registry."""

    env: Env
    registry: ModelRegistry
    log: Contract
    model: LinearModel
    model_id: bytes
    model_contract: str
    leaves: list[bytes] = field(default_factory=list)  # leaf data, in log order
    size: int = 0  # anchored size
    made: int = 0  # records made so far: the next one's sequence

    def record(
        self,
        features: Sequence[int],
        *,
        score: int | None = None,
        label: int | None = None,
        model: bytes | None = None,
        carry_features: bool = True,
        sequence: int | None = None,
    ) -> DecisionRecord:
        """The next record in log order (honest unless score/label are given)."""
        honest_score, honest_label = self.model.decide(list(features))
        if sequence is None:
            sequence, self.made = self.made, self.made + 1
        return DecisionRecord(
            sequence=sequence,
            timestamp_ms=1_700_000_000_000 + sequence,
            model_id=model or self.model_id,
            input_commitment=commit_features(features),
            score=honest_score if score is None else score,
            label=int(honest_label) if label is None else label,
            request_id=sequence.to_bytes(32, "big"),
            features=tuple(features) if carry_features else (),
        )

    def append(self, *data: bytes) -> list[int]:
        start = len(self.leaves)
        self.leaves.extend(data)
        return list(range(start, len(self.leaves)))

    def anchor(self) -> int:
        """Anchor every leaf appended so far; returns the new size."""
        hashes = [merkle.leaf_hash(d) for d in self.leaves]
        proof = merkle.consistency_proof(self.size, hashes) if self.size else []
        self.log.anchor(len(hashes), merkle.root(hashes), proof)
        self.size = len(hashes)
        return self.size

    def proof(self, index: int, size: int | None = None) -> list[bytes]:
        hashes = [merkle.leaf_hash(d) for d in self.leaves[: size or self.size]]
        return merkle.inclusion_proof(index, hashes)

    def deploy_model(self, model: LinearModel, ident: bytes) -> str:
        source = generate_vyper(model, "0x" + ident.hex())
        cache = self.env.data_dir / "cache" / "vyper" if self.env.data_dir else None
        compiled = compile_source(source, f"Model_{ident[:4].hex()}", cache)
        return self.env.deploy(compiled).address

    def register(self, ident: bytes, target: str | None) -> None:
        self.registry.register(ident, ident, bytes(32), "test://model")
        if target is not None:
            self.registry.attach_contract(ident, target)

    def approve(self, ident: bytes, use: str = USE) -> None:
        replaces = self.registry.approved(use)
        entry = self.registry.model(ident)
        self.registry.contract.transact(
            "approve",
            ident,
            use,
            bytes.fromhex(replaces[2:]) if replaces else bytes(32),
            entry.registrant,
            entry.contract or ZERO_ADDRESS,
        )

    def retire(self, ident: bytes) -> None:
        self.registry.contract.transact("retire", ident)


def build_world(env: Env, *, window: int = WINDOW, bond: int = BOND) -> World:
    registry = ModelRegistry.deploy(env, env.sender)  # the test account governs directly
    model = linear_model()
    ident = model_id(1)
    world = World(env, registry, None, model, ident, "")  # type: ignore[arg-type]
    world.model_contract = world.deploy_model(model, ident)
    world.register(ident, world.model_contract)
    world.approve(ident)
    world.log = deploy_log(env, registry.address, use=USE, window=window, required_bond=bond)
    top_up_bond(env, world.log.address)
    return world


@pytest.fixture
def world(env: Env) -> World:
    return build_world(env)

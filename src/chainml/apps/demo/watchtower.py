"""The demo's optimistic chapter: a dishonest operator, a watchtower, a fraud proof, a slashed bond.

The operator scores off chain with an approved model and anchors its log on a bonded
``ChallengeableLog``; one decision in ``count`` is deliberately wrong (its score nudged). A
watchtower with nothing but the chain, the model artifact and the operator's published records
re-verifies the anchored batch, finds the wrong record, and proves it in one transaction: the
contract re-executes the approved model, pays the challenger out of the bond and halts the log.

The world is small and real: a ModelRegistry governed directly by the demo account (the vote
itself is shown earlier in the demo), the model's generated contract attached and approved, a
log contract with a one-day window, records encoded by the service's own encoder.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from chainml.chain import Contract, Env
from chainml.governance.registry import DEFAULT_USE, ModelRegistry
from chainml.inference.optimistic import deploy_log, top_up_bond
from chainml.inference.optimistic.watch_setup import open_watchtower
from chainml.inference.optimistic.watch_sources import LogDirSource
from chainml.inference.optimistic.watchtower import WatchReport
from chainml.log import merkle
from chainml.log.decision_log import DecisionLog
from chainml.log.trust import TrustRoot
from chainml.models.artifacts import ModelArtifact
from chainml.service.encoding import PreparedRecords

USE = DEFAULT_USE
BOND = 10**17  # 0.1 ETH
WINDOW = 7_200  # blocks: a day of 12-second blocks
ZERO_ADDRESS = "0x" + "00" * 20


@dataclass
class OptimisticWorld:
    """A registry with the model approved and its contract attached, and a bonded log."""

    env: Env
    artifact: ModelArtifact
    registry: ModelRegistry
    model_contract: str
    log: Contract
    operator_dir: Path  # the operator's log (what it publishes)

    @property
    def trust_root(self) -> TrustRoot:
        """The log as a verifier pins it."""
        return TrustRoot(self.env.chain_id, self.log.address)


def set_up(env: Env, data_dir: Path, artifact: ModelArtifact, *, window: int = WINDOW,
           bond: int = BOND) -> OptimisticWorld:  # fmt: skip
    """Deploy the model's contract, a registry approving it, and a bonded ChallengeableLog."""
    from chainml.inference.onchain import compile_model

    compiled = compile_model(artifact, env.data_dir)
    target = env.deploy(compiled.compiled).address
    registry = ModelRegistry.deploy(env, env.sender)
    registry.register(artifact.model_id, str(artifact.card["artifact_hash"]), artifact.card_hash,
                      artifact.path.resolve().as_uri())  # fmt: skip
    registry.attach_contract(artifact.model_id, target)
    model_id = bytes.fromhex(artifact.model_id[2:])
    registry.contract.transact("approve", model_id, USE, bytes(32), env.sender, target)
    log = deploy_log(env, registry.address, use=USE, window=window, required_bond=bond)
    top_up_bond(env, log.address)
    operator_dir = data_dir / "optimistic-demo" / log.address.lower()
    shutil.rmtree(operator_dir, ignore_errors=True)
    operator_dir.mkdir(parents=True)
    return OptimisticWorld(env, artifact, registry, target, log, operator_dir)


def operate(world: OptimisticWorld, count: int, *, wrong_at: int | None, seed: int = 0) -> int:
    """Score ``count`` decisions off chain, log them, anchor the head; returns its size.

    With ``wrong_at``, that decision's score is off by one: the operator's cheat.
    """
    model = world.artifact.policy.model
    rng = np.random.default_rng(seed)
    scales = np.array([s.scale for s in model.inputs], dtype=np.int64)
    features = (rng.normal(0.0, 1.0, (count, model.n_features)) * scales).astype(np.int64)
    from chainml.inference.optimistic.watch_scoring import BatchScorer

    scores = [int(s) for s in BatchScorer(model).scores(features)]
    if wrong_at is not None:
        scores[wrong_at] += 1
    labels = [int(s >= model.threshold) for s in scores]
    model_id = bytes.fromhex(world.artifact.model_id[2:])
    with DecisionLog.open(world.operator_dir) as log:
        first = log.store.size
        ids = [(first + i).to_bytes(32, "big") for i in range(count)]
        prepared = PreparedRecords(model_id, features, scores, labels, ids, [bytes(32)] * count)
        log.store.append(prepared.leaves(first, int(time.time() * 1000)))
        hashes = [log.store.leaf_hash(i) for i in range(log.store.size)]
        anchored = int(world.log.size())
        proof = merkle.consistency_proof(anchored, hashes) if anchored else []
        world.log.anchor(len(hashes), merkle.root(hashes), proof)
        return len(hashes)


def watch(world: OptimisticWorld, data_dir: Path, challenger: str | None) -> WatchReport:
    """One pass of a watchtower over the world's log, challenging as ``challenger``."""
    source = LogDirSource(world.operator_dir)
    try:
        tower = open_watchtower(world.env, world.trust_root, source, data_dir,
                                models_dir=data_dir, challenge=True)  # fmt: skip
        if challenger is not None:
            from chainml.inference.optimistic.watch_setup import contract_challenger

            tower.challenger = contract_challenger(world.env, world.log.address, challenger)
        return tower.run_once()
    finally:
        source.close()


@dataclass(frozen=True)
class ChapterResult:
    """What the chapter showed."""

    log: str
    records: int
    wrong_index: int
    report: WatchReport
    bond_before: int
    bond_after: int
    halted: bool
    seconds: float


def dishonest_operator(env: Env, data_dir: Path, artifact: ModelArtifact,
                       count: int = 20_000) -> ChapterResult:  # fmt: skip
    """The whole chapter: set up, cheat once in ``count``, watch, slash."""
    started = time.perf_counter()
    world = set_up(env, data_dir, artifact)
    wrong = int(np.random.default_rng(count).integers(count))
    size = operate(world, count, wrong_at=wrong)
    bond = int(world.log.bond())
    accounts = env.accounts
    report = watch(world, data_dir, accounts[1] if len(accounts) > 1 else None)
    return ChapterResult(
        world.log.address, size, wrong, report, bond, int(world.log.bond()),
        bool(world.log.halted()), time.perf_counter() - started,
    )  # fmt: skip

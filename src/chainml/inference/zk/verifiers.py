"""The ``ZkVerifierRegistry`` contract from Python: which verifier proves which model, on chain.

Entries are set only through governance (:func:`register_verifier` proposes the call, and on
a development chain where this process holds the members' keys, passes it); the contract is
recorded in ``deployments.json`` next to the Governor and the ModelRegistry it serves.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any

from eth_utils import keccak

from chainml import contracts
from chainml.chain import Contract, Env
from chainml.chain.compiler import CompiledContract
from chainml.errors import InvalidInputError, NotFoundError
from chainml.governance.deployments import deployment, governance, save_deployment
from chainml.governance.passing import pass_proposal
from chainml.governance.registry import ModelStatus, model_id_bytes
from chainml.inference.zk.setup import ZkCircuit

CONTRACT_NAME = "ZkVerifierRegistry"
ZERO_ADDRESS = "0x" + "00" * 20


class Inputs(IntEnum):
    """Input visibility as the contract numbers it."""

    PUBLIC = 1
    HASHED = 2
    PRIVATE = 3


@dataclass(frozen=True)
class VerifierEntry:
    """What the registry holds for one model."""

    model_id: str
    verifier: str
    codehash: bytes
    vk_hash: bytes
    inputs: Inputs
    features: int
    threshold: int
    set_block: int


def code_hash(env: Env, address: str) -> bytes:
    """keccak256 of the code at ``address`` (what ``address.codehash`` gives on chain)."""
    return bytes(keccak(env.backend.code(address)))


class ZkVerifierRegistry:
    """A handle on one deployed ZkVerifierRegistry."""

    def __init__(self, contract: Contract) -> None:
        self.contract = contract

    @staticmethod
    def compiled(env: Env) -> CompiledContract:
        """The compiled contract (cached by the Env)."""
        return env.compile(contracts.source_path(CONTRACT_NAME))

    @classmethod
    def deploy(cls, env: Env, governor: str, registry: str) -> ZkVerifierRegistry:
        """Deploy one whose entries only ``governor`` sets, for the models of ``registry``."""
        return cls(env.deploy(cls.compiled(env), governor, registry))

    @classmethod
    def at(cls, env: Env, address: str) -> ZkVerifierRegistry:
        """The one deployed at ``address`` (NotFoundError if there is no code)."""
        return cls(env.at(address, cls.compiled(env)))

    @property
    def address(self) -> str:
        """The contract's address."""
        return self.contract.address

    def set_verifier_calldata(self, model_id: str, verifier: str, circuit: ZkCircuit) -> bytes:
        """The call a governor proposal executes to record ``verifier`` for ``model_id``."""
        env = self.contract.env
        return self.contract.function("set_verifier", 7).encode_call(
            (
                model_id_bytes(model_id),
                verifier,
                code_hash(env, verifier),
                circuit.vk_hash,
                int(Inputs[circuit.inputs.upper()]),
                int(circuit.manifest["features"]),
                int(circuit.manifest["threshold_int"]),
            )
        )

    def entry(self, model_id: str, block: int | None = None) -> VerifierEntry:
        """The entry of ``model_id`` (at ``block``); NotFoundError when there is none."""
        raw: tuple[Any, ...] = self.contract.call("entries", model_id_bytes(model_id), block=block)
        verifier, codehash, vk_hash, inputs, features, threshold, set_block = raw
        if verifier == ZERO_ADDRESS or int(verifier, 16) == 0:
            at = f" at block {block}" if block is not None else ""
            raise NotFoundError(f"no zk verifier recorded for model {model_id}{at}")
        return VerifierEntry(
            model_id, str(verifier), bytes(codehash), bytes(vk_hash), Inputs(inputs),
            int(features), int(threshold), int(set_block),
        )  # fmt: skip


def zk_registry(env: Env, data_dir: Path, *, deploy: bool = True) -> ZkVerifierRegistry:
    """The chain's ZkVerifierRegistry, deployed (governed by the chain's Governor) on first use."""
    governor, registry = governance(env, data_dir, deploy=deploy)
    recorded = deployment(data_dir, env.chain_id) or {}
    if CONTRACT_NAME in recorded:
        return ZkVerifierRegistry.at(env, recorded[CONTRACT_NAME])
    if not deploy:
        raise NotFoundError(
            f"no {CONTRACT_NAME} on chain {env.chain_id}: run `chainml zk deploy MODEL_ID`"
        )
    zk = ZkVerifierRegistry.deploy(env, governor.address, registry.address)
    save_deployment(data_dir, env.chain_id, {**recorded, CONTRACT_NAME: zk.address})
    return zk


def recorded_verifier(env: Env, data_dir: Path, circuit: ZkCircuit) -> VerifierEntry | None:
    """The registry's entry for the circuit's model when it already records this circuit."""
    try:
        entry = zk_registry(env, data_dir, deploy=False).entry(circuit.model_id)
    except NotFoundError:
        return None
    same = entry.vk_hash == circuit.vk_hash and code_hash(env, entry.verifier) == entry.codehash
    return entry if same else None


def deploy_verifier(env: Env, circuit: ZkCircuit) -> Contract:
    """Deploy the circuit's Solidity verifier (compiled with solcjs at setup)."""
    document = json.loads(circuit.file("bytecode").read_text(encoding="utf-8"))
    compiled = CompiledContract(
        name=str(document["contract"]),
        abi=document["abi"],
        bytecode=bytes.fromhex(document["bytecode"][2:]),
        runtime_bytecode=bytes.fromhex(document["runtime_bytecode"][2:]),
        source_hash=str(circuit.manifest["verifier"]["source_sha256"]),
        compiler_version=str(document["compiler"]),
    )
    return env.deploy(compiled)


def register_verifier(
    env: Env, data_dir: Path, circuit: ZkCircuit, verifier: str
) -> tuple[ZkVerifierRegistry, int]:
    """Propose (and on a development chain pass) recording ``verifier`` for the circuit's model.

    Returns the registry and the proposal id; ProposalNotPassedError when other members must
    still vote.
    """
    governor, models = governance(env, data_dir, deploy=False)
    status = models.model(circuit.model_id).status  # NotFoundError: register it first
    if status not in (ModelStatus.REGISTERED, ModelStatus.APPROVED):
        raise InvalidInputError(
            f"model {circuit.model_id} is {status.name.lower()}: only a registered or approved "
            "model gets a zk verifier"
        )
    zk = zk_registry(env, data_dir)
    calldata = zk.set_verifier_calldata(circuit.model_id, verifier, circuit)
    description = (
        f"zk verifier {verifier} (verifying key sha256 0x{circuit.vk_hash.hex()}, inputs "
        f"{circuit.inputs}) for model {circuit.model_id}"
    )
    proposal = pass_proposal(governor, zk.address, calldata, description)
    return zk, proposal

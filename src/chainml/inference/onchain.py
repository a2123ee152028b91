"""Model contracts on a chain: compile, deploy (remembered per chain), and check bit-exactness.

The parity check sends rows through the deployed contract in batches (one ``eth_call`` to
``BatchCaller.vy`` per batch) and compares every ``(score, decision)`` with the Python
reference; a single differing row fails the check.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from chainml import contracts
from chainml.chain import CompiledContract, Contract, Env
from chainml.chain.compiler import compile_source
from chainml.errors import DataDirectoryError, InvalidInputError, NotFoundError
from chainml.governance.deployments import write_json_atomic
from chainml.inference.compile import agreement, contract_source, encode_rows, fixed_point_model
from chainml.inference.fixedpoint import FixedPointModel, MLPModel, TreeEnsembleModel
from chainml.inference.policy import require_proven
from chainml.models.artifacts import ModelArtifact

EIP170_LIMIT = 24_576
BATCH = 250
#: Contract bytes per tree node, per feature (its load and range check) and per weight of a
#: linear or MLP model (the weight's PUSH, MUL, ADD/SUB): estimates within about 30% of the
#: generated contracts measured (11-13 a node; 28-33 a feature of an LR); the compiler has
#: the last word.
BYTES_PER_NODE = 12
BYTES_PER_FEATURE = 8
BYTES_PER_WEIGHT = 21


def estimated_code_bytes(model: FixedPointModel) -> int:
    """About how many bytes of code the model's contract takes (before compiling it)."""
    if isinstance(model, TreeEnsembleModel):
        return sum(len(tree) for tree in model.trees) * BYTES_PER_NODE
    weights = model.n_features
    if isinstance(model, MLPModel):
        weights = sum(len(row) for layer in model.layers for row in layer.weights)
    return model.n_features * BYTES_PER_FEATURE + weights * BYTES_PER_WEIGHT


def smaller_model_hint(model: FixedPointModel) -> str:
    """What makes this kind of model's contract smaller."""
    if isinstance(model, TreeEnsembleModel):
        return "use fewer or shallower trees (e.g. `--preset compact`)"
    return (
        f"use fewer features than {model.n_features:,} (each one-hot category is a weight: make "
        "a text column with many values ordinal in the schema, or leave it out)"
    )


@dataclass(frozen=True)
class CompiledModel:
    """A stored model's integer twin, its generated source and its bytecode."""

    artifact: ModelArtifact
    model: FixedPointModel
    source: str
    compiled: CompiledContract

    @property
    def code_size(self) -> int:
        """Runtime bytecode size in bytes (Ethereum refuses more than 24,576)."""
        return len(self.compiled.runtime_bytecode)


def compile_contract(
    source: str, name: str, cache_dir: Path | None, hint: str = "use fewer or shallower trees"
) -> CompiledContract:
    """Compile generated Vyper; refuse code too large for Ethereum (EIP-170) before deploying."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # vyper warns about the size; we raise instead
        compiled = compile_source(source, name, cache_dir)
    size = len(compiled.runtime_bytecode)
    if size > EIP170_LIMIT:
        raise InvalidInputError(
            f"the contract {name} would be {size:,} bytes, over the {EIP170_LIMIT:,}-byte "
            f"limit (EIP-170); {hint}"
        )
    return compiled


def compile_model(artifact: ModelArtifact, cache_dir: Path | None) -> CompiledModel:
    """Generate and compile a stored model's integer model of record.

    Refused when its decision policy is not proven (margin <= 2 x the quantization error).
    """
    require_proven(artifact.policy, artifact.model_id)
    model = fixed_point_model(artifact)
    # refused before compiling when far over: the compiler takes minutes on such a contract
    # (a 1,075-feature LR: 2 minutes), and breaks on trees (64 KiB jumps)
    estimate = estimated_code_bytes(model)
    if estimate > 2 * EIP170_LIMIT:
        raise InvalidInputError(
            f"model {artifact.model_id}'s contract would take about {estimate:,} bytes of code, "
            f"over the {EIP170_LIMIT:,}-byte limit (EIP-170); {smaller_model_hint(model)}"
        )
    source = contract_source(artifact, model)
    name = f"Model_{artifact.model_id[2:14]}"
    compiled = compile_contract(source, name, cache_dir, smaller_model_hint(model))
    return CompiledModel(artifact, model, source, compiled)


def _registry_file(data_dir: Path, chain_id: int) -> Path:
    return data_dir / "onchain" / f"{chain_id}.json"


def recorded_contracts(data_dir: Path, chain_id: int) -> dict[str, str]:
    """Model id -> contract address of the model contracts deployed on ``chain_id``."""
    path = _registry_file(data_dir, chain_id)
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        raise DataDirectoryError(str(path.parent), f"{path.name} is unreadable: {err}") from err
    if not isinstance(document, dict):
        raise DataDirectoryError(str(path.parent), f"{path.name} is not a JSON object")
    return {str(k): str(v) for k, v in document.items()}


def _record(data_dir: Path, chain_id: int, model_id: str, address: str) -> None:
    document = recorded_contracts(data_dir, chain_id) | {model_id: address}
    write_json_atomic(_registry_file(data_dir, chain_id), document)


def deploy_model(env: Env, compiled: CompiledModel, data_dir: Path) -> Contract:
    """The model's contract on ``env``'s chain: the recorded one if its code matches, else new."""
    model_id = compiled.artifact.model_id
    address = recorded_contracts(data_dir, env.chain_id).get(model_id)
    if address is not None:
        try:
            contract = env.at(address, compiled.compiled)
        except NotFoundError:
            contract = None  # the chain was reset: deploy again
        if contract is not None and env.backend.code(address) == compiled.compiled.runtime_bytecode:
            return contract
    contract = env.deploy(compiled.compiled)
    _record(data_dir, env.chain_id, model_id, contract.address)
    return contract


def model_contract(env: Env, compiled: CompiledModel, data_dir: Path) -> Contract:
    """The recorded contract of a model; NotFoundError when it was never deployed here."""
    model_id = compiled.artifact.model_id
    address = recorded_contracts(data_dir, env.chain_id).get(model_id)
    if address is None:
        raise NotFoundError(
            f"model {model_id} has no contract on chain {env.chain_id}; "
            "run `chainml onchain deploy` first"
        )
    return env.at(address, compiled.compiled)


@dataclass
class ParityReport:
    """Contract outputs against the Python reference, row by row."""

    rows: int = 0
    matches: int = 0
    flagged: int = 0
    mismatches: list[tuple[int, tuple[int, bool], tuple[object, ...]]] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        """True when every row matched bit for bit."""
        return self.rows > 0 and self.matches == self.rows


def check_parity(
    env: Env,
    contract: Contract,
    model: FixedPointModel,
    rows: Sequence[Sequence[int]],
    progress: Callable[[int], None] | None = None,
) -> ParityReport:
    """Score ``rows`` on chain and in Python; keep the first few mismatches."""
    decide = contract.function("decide", 1)
    # one eth_call per batch through BatchCaller; a read-only Env cannot deploy it: row by row
    caller = None if env.read_only else env.deploy(contracts.load("BatchCaller", _cache(env)))
    report = ParityReport()
    for start in range(0, len(rows), BATCH):
        batch = [list(row) for row in rows[start : start + BATCH]]
        if caller is not None:
            raw = caller.call_many(contract.address, [decide.encode_call((r,)) for r in batch])
            results = [tuple(decide.decode_result(data)) for data in raw]
        else:
            results = [tuple(contract.decide(r)) for r in batch]
        for offset, (row, on_chain) in enumerate(zip(batch, results, strict=True)):
            expected = model.decide(row)
            report.rows += 1
            report.flagged += int(expected[1])
            if on_chain == expected:
                report.matches += 1
            elif len(report.mismatches) < 5:
                report.mismatches.append((start + offset, expected, on_chain))
        if progress is not None:
            progress(len(batch))
    return report


def _cache(env: Env) -> Path | None:
    return env.data_dir / "cache" / "vyper" if env.data_dir else None


def check_parts(
    env: Env,
    contract: Contract,
    artifact: ModelArtifact,
    model: FixedPointModel,
    parts: dict[str, tuple[npt.NDArray[np.float64], npt.NDArray[np.int8]]],
    progress: Callable[[int], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Per named part (features, labels): contract vs reference, and integer vs float decisions.

    A part passes when every row is bit-exact on chain and the integer and float decisions
    agree on every row whose float logit is farther from the threshold than the proven error.
    """
    results: dict[str, dict[str, Any]] = {}
    for name, (features, labels) in parts.items():
        parity = check_parity(env, contract, model, encode_rows(model, features), progress)
        twin = agreement(artifact, model, features, labels)
        results[name] = {
            "rows": parity.rows,
            "bit_exact": parity.matches,
            "flagged": parity.flagged,
            "mismatches": [list(m) for m in parity.mismatches],
            "decision_agreement_with_float": twin.decision_agreement,
            "near_threshold_rows": twin.near_threshold,
            "agreement_outside_error": twin.outside_agreement,
            "disagreeing_rows": list(twin.disagreements),
            "pr_auc_float": twin.pr_auc_float,
            "pr_auc_fixed": twin.pr_auc_fixed,
            "passed": parity.exact and twin.outside_agreement == 1.0,
        }
    return results

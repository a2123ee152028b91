"""Benchmark: gas of generated on-chain models, side by side with naive storage-reading contracts.

For logistic regressions (8/16/30/64 features), ReLU MLPs (30-8-1, 30-16-1, 30-32-1, 30-16-8-1)
and LightGBM ensembles (10/50/100 trees of depth 3 and 4, ``num_leaves = 2**depth``), all
trained on a seeded synthetic dataset and quantized at input scale 2**20, it compiles the
contract chainml generates (``chainml.inference.codegen``) and a naive contract that keeps the
parameters in storage and loops with checked arithmetic (``benchmarks/contracts/Naive*.vy``),
deploys both and sends real ``decide`` transactions with rows of the data. Every number comes
from a receipt, never from an estimate:

* ``gasUsed`` of the transaction = 21,000 intrinsic + calldata (4 per zero byte, 16 per other
  byte) + execution, or the EIP-7623 calldata floor ``21000 + 10 * (zeros + 4 * nonzeros)``
  when that is larger; then ``gasUsed`` equals the floor and hides the execution gas;
* so execution gas is also metered: ``GasMeter.vy`` brackets a static call to the model with
  ``msg.gas`` and logs the difference, and the same call to a trivial target (code ``STOP``)
  with identical calldata gives the meter's own overhead, which is subtracted. Where the floor
  does not bind, ``gasUsed - 21000 - calldata`` must equal the metered gas (checked per row).

Every output (transaction and call) is compared with the Python reference ``model.decide``.
Quality: on the real ULB credit-card data (time-ordered split, test = last 20%) it trains LR,
MLP and LightGBM ``compact``, stores them, builds their fixed-point twins and reports decision
agreement and PR-AUC loss on the test split. ``--anvil`` repeats the gas runs on anvil and
requires identical ``gasUsed`` for every transaction.

Decision agreement (issue 22): ``--sweep`` trains LR, MLP and LightGBM compact on simulated
payments for several seeds under two threshold rules (``f1``, ``fpr:0.01``), and compares the
integer model's decisions (the decision of record, as in the contract) with the float model's on
every validation and test row, the threshold's two neighbouring validation rows included. The
issue's bar is 100% agreement on validation rows, and on every row whose float logit is farther
from the threshold than the proven quantization error.

Run: ``.venv/bin/python benchmarks/onchain_inference.py [--rows N] [--anvil] [--skip-quality]
[--sweep] [--sweep-seeds 4-9] [--data-dir DIR] [--json PATH]``; ``--quick`` measures three small
models on two rows and a one-seed sweep (the smoke test uses it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from chainml.chain import CompiledContract, Contract, Env, connect
from chainml.chain.abi import Function
from chainml.chain.compiler import compile_file, compile_source
from chainml.chain.costs import STATED_PRICES, signed_size
from chainml.chain.devnode import ANVIL_DEV_KEY, AnvilNode
from chainml.config import Secret, Settings
from chainml.inference.codegen import generate_vyper
from chainml.inference.compile import encode_rows
from chainml.inference.fixedpoint import FixedPointModel, LinearModel, MLPModel, TreeEnsembleModel
from chainml.inference.quantize import (
    default_inputs,
    lightgbm_trees,
    quantize_linear,
    quantize_mlp,
    quantize_trees,
)

CONTRACTS = Path(__file__).parent / "contracts"
DEFAULT_JSON = Path(__file__).parent / "results" / "onchain_inference.json"
MODEL_ID = "0x" + "c4" * 32
SCALE = 2**20  # input scale of every real-valued feature
FEATURES = 30  # of the MLPs and tree ensembles
INTRINSIC = 21_000
EIP170_LIMIT = 24_576
SETUP_GAS = 15_000_000  # explicit limits: no transaction here is estimated
CALL_GAS = 10_000_000
CHUNK = 512  # NaiveMLP.load_* takes at most this many numbers per transaction
EZKL_VERIFY_GAS = 550_000
EZKL_SOURCE = "about 550,000 gas per proof, as measured by the project (issue #5)"
SEED = 0

LR_SIZES = (8, 16, 30, 64)
MLP_HIDDEN: tuple[tuple[int, ...], ...] = ((8,), (16,), (32,), (16, 8))
TREE_SHAPES = ((10, 3), (50, 3), (100, 3), (10, 4), (50, 4), (100, 4))  # (trees, depth)
QUICK = {"lr": (30,), "mlp": ((8,),), "trees": ((10, 3),)}
#: execution-gas targets of issue #5
TARGETS = {"LR 30": 3_000, "MLP 30-16-1": 40_000, "trees 50x4": 30_000}
#: (name, kind, train_model params) of the quality check on real data
QUALITY_MODELS: list[tuple[str, str, dict[str, Any]]] = [
    ("logistic regression", "lr", {}),
    ("MLP, 16 ReLU units", "mlp", {}),
    ("LightGBM compact", "lgbm", {"preset": "compact"}),
]
QUICK_QUALITY_PARAMS: dict[str, dict[str, Any]] = {"mlp": {"max_epochs": 5}}
#: the issue-22 sweep: model kinds (with train_model params) and threshold rules
SWEEP_KINDS: dict[str, dict[str, Any]] = {"lr": {}, "mlp": {}, "lgbm": {"preset": "compact"}}
SWEEP_RULES = ("f1", "fpr:0.01")
SWEEP_ROWS = 20_000  # simulated payments per seed (validation = 8%: 1,600 rows)
QUICK_SWEEP = {"seeds": [4], "rows": 6000}
MIN_AGREEMENT = 0.999
MAX_PR_AUC_LOSS = 0.005
console = Console(width=max(Console().width, 170))


# -- models ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One model of the gas table and the encoded rows it is measured on."""

    name: str
    family: str  # "linear", "mlp" or "trees"
    model: FixedPointModel
    rows: list[list[int]]
    detail: str


def synthetic(rows: int, features: int, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """Seeded normal features; about 5% positives from a non-linear signal of the first five."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, features))
    signal = x[:, 0] - x[:, 1] + 0.8 * x[:, 2] * x[:, 3] + 0.5 * np.abs(x[:, 4])
    signal += 0.7 * rng.normal(size=rows)
    return x, (signal > np.quantile(signal, 0.95)).astype(np.int8)


def _threshold(logits: np.ndarray) -> float:
    return float(np.quantile(logits, 0.9))  # a tenth of the rows decide True


def linear_case(x: np.ndarray, y: np.ndarray, n: int, sample: np.ndarray) -> Case:
    from sklearn.linear_model import LogisticRegression

    mean, std = x[:, :n].mean(axis=0), x[:, :n].std(axis=0)
    standard = (x[:, :n] - mean) / std
    fitted = LogisticRegression(max_iter=1000).fit(standard, y)
    model = quantize_linear(
        fitted.coef_[0].tolist(), float(fitted.intercept_[0]), mean.tolist(), std.tolist(),
        default_inputs([f"f{i}" for i in range(n)], SCALE),
        _threshold(fitted.decision_function(standard)),
    )  # fmt: skip
    detail = f"{n} weights"
    return Case(f"LR {n}", "linear", model, encode_rows(model, sample[:, :n]), detail)


def mlp_case(x: np.ndarray, y: np.ndarray, hidden: tuple[int, ...], sample: np.ndarray) -> Case:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    x = x[:, :FEATURES]
    mean, std = x.mean(axis=0), x.std(axis=0)
    standard = (x - mean) / std
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted = MLPClassifier(hidden, max_iter=60, random_state=SEED).fit(standard, y)
    values = standard
    for depth, (w, b) in enumerate(zip(fitted.coefs_, fitted.intercepts_, strict=True)):
        values = values @ w + b
        if depth < len(hidden):
            values = np.maximum(values, 0)
    layers = [
        (w.T.tolist(), b.tolist()) for w, b in zip(fitted.coefs_, fitted.intercepts_, strict=True)
    ]
    model = quantize_mlp(
        layers, mean.tolist(), std.tolist(),
        default_inputs([f"f{i}" for i in range(FEATURES)], SCALE), _threshold(values[:, 0]),
    )  # fmt: skip
    name = "MLP " + "-".join(str(w) for w in (FEATURES, *hidden, 1))
    weights = sum(w.size for w in fitted.coefs_)
    return Case(name, "mlp", model, encode_rows(model, sample[:, :FEATURES]), f"{weights} weights")


def trees_case(x: np.ndarray, y: np.ndarray, trees: int, depth: int, sample: np.ndarray) -> Case:
    import lightgbm

    x = x[:, :FEATURES]
    params = {
        "objective": "binary", "num_leaves": 2**depth, "max_depth": depth, "learning_rate": 0.1,
        "num_threads": 1, "seed": SEED, "deterministic": True, "verbosity": -1,
    }  # fmt: skip
    booster = lightgbm.train(params, lightgbm.Dataset(x, y), trees)
    model = quantize_trees(
        lightgbm_trees(booster.dump_model()), 0.0,
        default_inputs([f"f{i}" for i in range(FEATURES)], SCALE),
        _threshold(booster.predict(x, raw_score=True)),
    )  # fmt: skip
    leaves = statistics.mean(sum(node.feature < 0 for node in tree) for tree in model.trees)
    detail = f"{leaves:.1f}/{2**depth} leaves"
    return Case(
        f"trees {trees}x{depth}", "trees", model, encode_rows(model, sample[:, :FEATURES]), detail
    )


def build_cases(quick: bool, rows: int) -> list[Case]:
    """Train and quantize every model of the gas table; rows come from held-out data."""
    x, y = synthetic(4_000 if quick else 20_000, max(LR_SIZES))
    cut = len(x) * 4 // 5
    rng = np.random.default_rng(SEED + 1)
    sample = x[cut:][rng.choice(len(x) - cut, size=rows, replace=False)]
    train_x, train_y = x[:cut], y[:cut]
    shapes = QUICK if quick else {"lr": LR_SIZES, "mlp": MLP_HIDDEN, "trees": TREE_SHAPES}
    return [
        *(linear_case(train_x, train_y, n, sample) for n in shapes["lr"]),
        *(mlp_case(train_x, train_y, h, sample) for h in shapes["mlp"]),
        *(trees_case(train_x, train_y, t, d, sample) for t, d in shapes["trees"]),
    ]


# -- contracts -------------------------------------------------------------------------------


def _compile(source: str, name: str, cache: Path) -> CompiledContract:
    with warnings.catch_warnings():  # an oversized contract is reported in the table instead
        warnings.filterwarnings("ignore", message=".*contract size limit")
        return compile_source(source, name, cache)


def naive_source(family: str, n_features: int) -> str:
    """A naive contract's source with the model's number of features."""
    file = {"linear": "NaiveLinear", "mlp": "NaiveMLP", "trees": "NaiveTrees"}[family]
    source = (CONTRACTS / f"{file}.vy").read_text()
    line = re.compile(r"^(N_FEATURES: public\(constant\(uint256\)\) = )\d+$", re.MULTILINE)
    source, count = line.subn(rf"\g<1>{n_features}", source)
    assert count == 1, f"{file}.vy must declare N_FEATURES once"
    return source


def stop_contract() -> CompiledContract:
    """The meter's trivial target: runtime code ``STOP`` (``PUSH1 1 PUSH1 0 RETURN`` deploys it)."""
    init = bytes.fromhex("60016000f3")
    return CompiledContract("Stop", [], init, b"\x00", "trivial", "none")


def deploy_naive(
    env: Env, compiled: CompiledContract, model: FixedPointModel
) -> tuple[Contract, list[int]]:
    """Deploy and load a naive contract; also return the gasUsed of every transaction it took."""
    if isinstance(model, LinearModel):
        contract = env.deploy(
            compiled, list(model.weights), model.bias, model.threshold, gas=SETUP_GAS
        )
        return contract, [_deploy_gas(contract)]
    if isinstance(model, MLPModel):
        widths = [len(layer.bias) for layer in model.layers]
        contract = env.deploy(compiled, widths, model.threshold, gas=SETUP_GAS)
        gas = [_deploy_gas(contract)]
        weights = [w for layer in model.layers for row in layer.weights for w in row]
        biases = [b for layer in model.layers for b in layer.bias]
        for name, values in (("load_weights", weights), ("load_biases", biases)):
            for at in range(0, len(values), CHUNK):
                receipt = contract.transact(name, at, values[at : at + CHUNK], gas=SETUP_GAS)
                gas.append(receipt.gas_used)
        return contract, gas
    assert isinstance(model, TreeEnsembleModel)
    contract = env.deploy(compiled, model.bias, model.threshold, gas=SETUP_GAS)
    gas = [_deploy_gas(contract)]
    for tree in model.trees:
        columns = zip(
            *((n.feature, n.threshold, n.left, n.right, n.value) for n in tree), strict=True
        )
        receipt = contract.transact("add_tree", *(list(c) for c in columns), gas=SETUP_GAS)
        gas.append(receipt.gas_used)
    return contract, gas


def _deploy_gas(contract: Contract) -> int:
    assert contract.deployment is not None
    return contract.deployment.gas_used


# -- measuring -------------------------------------------------------------------------------


def calldata_costs(data: bytes) -> tuple[int, int]:
    """(standard calldata gas, EIP-7623 floor of the whole transaction)."""
    zeros = data.count(0)
    nonzero = len(data) - zeros
    return 4 * zeros + 16 * nonzero, INTRINSIC + 10 * (zeros + 4 * nonzero)


@dataclass
class Chain:
    """An Env with the meter and its trivial target deployed."""

    env: Env
    meter: Contract
    stop: Contract
    #: gasUsed of every deployment, setup and decide transaction, in order, and the metered
    #: execution gas of every row: compared across backends
    trace: list[int]

    def transact(self, to: str, data: bytes) -> int:
        receipt = self.env.transact(to, data, gas=CALL_GAS)
        self.trace.append(receipt.gas_used)
        return receipt.gas_used

    def metered(self, target: str, data: bytes) -> tuple[int, bytes]:
        """(gas of a static call to ``target`` measured inside a transaction, its output).

        The meter's own gasUsed is not traced: its calldata holds the target's address, which
        differs between backends.
        """
        receipt = self.meter.transact("measure", target, data, gas=CALL_GAS)
        [event] = self.meter.decode_receipt(receipt, "Measured")
        return int(event["gas"]), bytes(event["output"])


def open_chain(env: Env, cache: Path) -> Chain:
    meter = env.deploy(compile_file(CONTRACTS / "GasMeter.vy", cache), gas=SETUP_GAS)
    stop = env.deploy(stop_contract(), gas=SETUP_GAS)
    return Chain(env, meter, stop, [_deploy_gas(meter), _deploy_gas(stop)])


def measure_rows(chain: Chain, contract: Contract, case: Case) -> dict[str, Any]:
    """Send ``decide`` for every row and meter it; check every output against the reference."""
    fn: Function = contract.function("decide", 1)
    per_row = []
    for row in case.rows:
        data = fn.encode_call((row,))
        gas_used = chain.transact(contract.address, data)
        gross, output = chain.metered(contract.address, data)
        overhead, _ = chain.metered(chain.stop.address, data)
        calldata, floor = calldata_costs(data)
        execution = gross - overhead
        chain.trace.append(execution)
        expected = max(floor, INTRINSIC + calldata + execution)
        reference = case.model.decide(row)
        per_row.append(
            {
                "gas_used": gas_used,
                "calldata": calldata,
                "calldata_bytes": len(data),
                "floor": floor,
                "floor_binds": INTRINSIC + calldata + execution < floor,
                "execution_receipt": gas_used - INTRINSIC - calldata,
                "execution_metered": execution,
                "meter_overhead": overhead,
                "receipt_minus_expected": gas_used - expected,
                "outputs_match": fn.decode_result(output) == reference
                and contract.call("decide", row) == reference,
            }
        )
    return summarize(per_row)


def summarize(per_row: list[dict[str, Any]]) -> dict[str, Any]:
    def mean(key: str, rows: Sequence[dict[str, Any]]) -> float | None:
        return statistics.mean(r[key] for r in rows) if rows else None

    open_rows = [r for r in per_row if not r["floor_binds"]]
    diffs = [r["execution_receipt"] - r["execution_metered"] for r in open_rows]
    return {
        "rows": len(per_row),
        "gas_used": mean("gas_used", per_row),
        "calldata": mean("calldata", per_row),
        "floor": mean("floor", per_row),
        "floor_binds": len(per_row) - len(open_rows),
        "execution_metered": mean("execution_metered", per_row),
        "execution_metered_max": max(r["execution_metered"] for r in per_row),
        # only where the floor does not bind does the receipt show the execution gas
        "execution_receipt": mean("execution_receipt", open_rows),
        "receipt_minus_metered_max": max((abs(d) for d in diffs), default=None),
        "receipt_minus_expected_max": max(abs(r["receipt_minus_expected"]) for r in per_row),
        "outputs_match": all(r["outputs_match"] for r in per_row),
        "per_row": per_row,
    }


def measure_case(chain: Chain, case: Case, cache: Path) -> dict[str, Any]:
    """Generated and naive contract of one model: sizes, deployment, per-row gas."""
    n = case.model.n_features
    slug = case.name.replace(" ", "_").replace("-", "_")
    generated = _compile(generate_vyper(case.model, MODEL_ID, case.name), f"gen_{slug}", cache)
    naive = _compile(naive_source(case.family, n), f"Naive_{case.family}_{n}", cache)
    result: dict[str, Any] = {"model": case.name, "family": case.family, "detail": case.detail}
    size = len(generated.runtime_bytecode)
    gen: dict[str, Any] = {"code_bytes": size, "exceeds_eip170": size > EIP170_LIMIT}
    if not gen["exceeds_eip170"]:
        contract = chain.env.deploy(generated, gas=SETUP_GAS)
        gen["deploy_gas"] = _deploy_gas(contract)
        chain.trace.append(gen["deploy_gas"])
        gen["deployed_code_bytes"] = len(chain.env.backend.code(contract.address))
        gen.update(measure_rows(chain, contract, case))
    contract, setup = deploy_naive(chain.env, naive, case.model)
    chain.trace.extend(setup)
    naive_result: dict[str, Any] = {
        "code_bytes": len(chain.env.backend.code(contract.address)),
        "deploy_gas": setup[0],
        "setup_gas": sum(setup),  # deployment plus the transactions that load the parameters
        "setup_transactions": len(setup),
    }
    naive_result.update(measure_rows(chain, contract, case))
    result["generated"], result["naive"] = gen, naive_result
    if "execution_metered" in gen:
        result["naive_over_generated"] = (
            naive_result["execution_metered"] / gen["execution_metered"]
        )
    return result


def run_gas(
    env: Env, cases: list[Case], cache: Path, progress: Progress, label: str
) -> dict[str, Any]:
    chain = open_chain(env, cache)
    task = progress.add_task(f"{label}: gas", total=len(cases))
    rows = []
    for case in cases:
        progress.update(task, description=f"{label}: {case.name}")
        rows.append(measure_case(chain, case, cache))
        progress.advance(task)
    return {"models": rows, "trace": chain.trace}


# -- quality on real data --------------------------------------------------------------------


def quality_dataset(args: argparse.Namespace) -> Any:
    """The ULB credit-card data; a small synthetic stand-in with ``--quick``."""
    if args.quick:
        from chainml.models.dataset import Dataset

        x, y = synthetic(3_000, 8, seed=SEED + 2)
        names = tuple(f"f{i}" for i in range(8))
        order = np.arange(len(x), dtype=np.float64)
        return Dataset("synthetic (quick)", x, y, names, order=order, source="onchain_inference")
    from chainml.models.sources import load_dataset

    return load_dataset("creditcard", args.data_dir)


def run_quality(
    args: argparse.Namespace, chain: Chain, cache: Path, work: Path, progress: Progress
) -> dict[str, Any]:
    """Train, store and quantize LR, MLP and LightGBM compact; agreement on the test split.

    Each stored model's generated contract is also deployed and metered on a few test rows.
    """
    from chainml.inference.compile import agreement, contract_source, fixed_point_model
    from chainml.models.artifacts import save_model
    from chainml.models.split import time_split
    from chainml.models.train import train_model

    task = progress.add_task("quality: loading data", total=len(QUALITY_MODELS))
    dataset = quality_dataset(args)
    split = time_split(dataset)
    rng = np.random.default_rng(SEED + 3)
    picked = split.test.features[rng.choice(split.test.rows, size=args.rows, replace=False)]
    rows = []
    for name, kind, params in QUALITY_MODELS:
        progress.update(task, description=f"quality: {name}")
        extra = QUICK_QUALITY_PARAMS.get(kind, {}) if args.quick else {}
        trained = train_model(
            dataset, kind, seed=SEED, params={**params, **extra}, split=split, resamples=100
        )
        artifact, _ = save_model(work / "models", trained)
        model = fixed_point_model(artifact)
        result = agreement(artifact, model, split.test.features, split.test.labels)
        validation = agreement(artifact, model, split.validation.features, split.validation.labels)
        case = Case(name, kind, model, encode_rows(model, picked), artifact.model_id)
        compiled = _compile(contract_source(artifact, model), f"real_{kind}", cache)
        size = len(compiled.runtime_bytecode)
        gas: dict[str, Any] = {"code_bytes": size, "exceeds_eip170": size > EIP170_LIMIT}
        if not gas["exceeds_eip170"]:
            contract = chain.env.deploy(compiled, gas=SETUP_GAS)
            gas["deploy_gas"] = _deploy_gas(contract)
            gas.update(measure_rows(chain, contract, case))
        rows.append(
            {
                "model": name,
                "kind": artifact.kind,
                "model_id": artifact.model_id,
                "test_rows": result.rows,
                "decision_agreement": result.decision_agreement,
                "validation_agreement": validation.decision_agreement,
                "near_threshold_rows": result.near_threshold + validation.near_threshold,
                "policy": artifact.card["decision_policy"],
                "pr_auc_float": result.pr_auc_float,
                "pr_auc_fixed": result.pr_auc_fixed,
                "pr_auc_loss": result.pr_auc_loss,
                "max_score_error": result.max_score_error,
                "contract": gas,
            }
        )
        progress.advance(task)
    return {
        "dataset": dataset.name,
        "rows": dataset.rows,
        "test_rows": split.test.rows,
        "test_positives": split.test.positives,
        "models": rows,
    }


def _parse_seeds(text: str) -> list[int]:
    first, _, last = text.partition("-")
    return list(range(int(first), int(last or first) + 1))


def run_sweep(args: argparse.Namespace, work: Path, progress: Progress) -> dict[str, Any]:
    """Integer vs float decisions of every (seed, kind, rule) model on validation and test."""
    from chainml.inference.compile import agreement, encode_rows
    from chainml.models.artifacts import save_model
    from chainml.models.simulator import simulate_payments
    from chainml.models.split import time_split
    from chainml.models.train import train_model

    seeds = QUICK_SWEEP["seeds"] if args.quick else _parse_seeds(args.sweep_seeds)
    rows = int(QUICK_SWEEP["rows"] if args.quick else SWEEP_ROWS)  # type: ignore[call-overload]
    total = len(seeds) * len(SWEEP_KINDS) * len(SWEEP_RULES)
    task = progress.add_task("sweep: integer vs float decisions", total=total)
    models = []
    for seed in seeds:
        dataset = simulate_payments(rows, seed=seed).dataset()
        split = time_split(dataset)
        for kind, params in SWEEP_KINDS.items():
            for rule in SWEEP_RULES:
                extra = QUICK_QUALITY_PARAMS.get(kind, {}) if args.quick else {}
                trained = train_model(dataset, kind, seed=seed, params={**params, **extra},
                                      threshold_rule=rule, split=split, resamples=20)  # fmt: skip
                artifact, _ = save_model(work / "sweep", trained)
                policy = artifact.policy
                parts = {"validation": split.validation, "test": split.test}
                found = {n: agreement(artifact, policy.model, p.features, p.labels)
                         for n, p in parts.items()}  # fmt: skip
                # the threshold rows: the validation rows scoring exactly the two neighbours
                encoded = encode_rows(policy.model, split.validation.features)
                neighbours = [i for i, r in enumerate(encoded)
                              if policy.model.score(r) in (policy.below, policy.above)]  # fmt: skip
                flagged = artifact.decide(split.validation.features[neighbours])
                logits = artifact.predict_logit(split.validation.features[neighbours])
                models.append({
                    "seed": seed, "kind": artifact.kind, "rule": rule,
                    "model_id": artifact.model_id, "proven": policy.proven,
                    "margin_logit": policy.margin / policy.score_scale,
                    "error_bound_logit": policy.error_bound / policy.score_scale,
                    "threshold_rows": len(neighbours),
                    "threshold_rows_agree": bool(
                        np.all(flagged == (logits >= policy.threshold_logit))
                    ),
                    **{f"{n}_rows": a.rows for n, a in found.items()},
                    **{f"{n}_agreement": a.decision_agreement for n, a in found.items()},
                    **{f"{n}_near_threshold": a.near_threshold for n, a in found.items()},
                    **{f"{n}_outside_agreement": a.outside_agreement for n, a in found.items()},
                })  # fmt: skip
                progress.advance(task)
    validation_rows = sum(m["validation_rows"] for m in models)
    agreeing = sum(round(m["validation_agreement"] * m["validation_rows"]) for m in models)
    return {
        "seeds": seeds,
        "rows_per_seed": rows,
        "kinds": list(SWEEP_KINDS),
        "rules": list(SWEEP_RULES),
        "models": models,
        "validation_rows": validation_rows,
        "validation_agreeing": agreeing,
        "all_validation_agree": agreeing == validation_rows,
        "all_outside_error_agree": all(
            m["test_outside_agreement"] == 1.0 and m["validation_outside_agreement"] == 1.0
            for m in models
        ),
        "all_threshold_rows_agree": all(m["threshold_rows_agree"] for m in models),
        "all_proven": all(m["proven"] for m in models),
    }


def report_sweep(sweep: dict[str, Any]) -> None:
    table = Table(
        title=f"Integer vs float decisions (seeds {sweep['seeds']}, {sweep['rows_per_seed']:,} "
        "simulated payments each)"
    )
    columns = ("seed", "kind", "rule", "proven", "margin", "error", "validation", "test",
               "test near thr.", "threshold rows")  # fmt: skip
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i < 3 else "right")
    for m in sweep["models"]:
        table.add_row(
            str(m["seed"]), m["kind"], m["rule"], _ok(m["proven"]), f"{m['margin_logit']:.2e}",
            f"{m['error_bound_logit']:.2e}", f"{m['validation_agreement']:.4%}",
            f"{m['test_agreement']:.4%}", str(m["test_near_threshold"]),
            f"{m['threshold_rows']} {_ok(m['threshold_rows_agree'])}",
        )  # fmt: skip
    console.print(table)
    console.print(
        f"validation rows agreeing: {sweep['validation_agreeing']:,} of "
        f"{sweep['validation_rows']:,}; every row outside the proven error agrees: "
        f"{sweep['all_outside_error_agree']}"
    )


# -- targets and report ----------------------------------------------------------------------


def _target(
    name: str, value: float | None, threshold: str, passed: bool | None, note: str = ""
) -> dict[str, Any]:
    if value is None:
        shown = "-"
    elif "agreement" in name:
        shown = f"{value:.4%}"
    elif "loss" in name:
        shown = f"{value:+.5f}"
    else:
        shown = f"{value:,.0f}"
    return {"target": name, "value": value, "shown": shown, "threshold": threshold,
            "pass": passed, "note": note}  # fmt: skip


def targets(models: list[dict[str, Any]], quality: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The issue's execution-gas targets, then agreement and PR-AUC loss of each real model."""
    by_name = {row["model"]: row for row in models}
    out = []
    for name, limit in TARGETS.items():
        label, threshold = f"{name}: execution gas", f"<= {limit:,}"
        if name not in by_name:
            out.append(_target(label, None, threshold, None, "not measured in this run"))
            continue
        gen = by_name[name]["generated"]
        value = gen.get("execution_metered")
        note = "exceeds EIP-170" if gen["exceeds_eip170"] else ""
        out.append(_target(label, value, threshold, value is not None and value <= limit, note))
    for row in (quality or {}).get("models", []):
        agree, loss = row["decision_agreement"], row["pr_auc_loss"]
        out.append(
            _target(f"{row['model']}: decision agreement", agree, f">= {MIN_AGREEMENT:.1%}",
                    agree >= MIN_AGREEMENT)
        )  # fmt: skip
        out.append(
            _target(f"{row['model']}: PR-AUC loss", loss, f"<= {MAX_PR_AUC_LOSS}",
                    loss <= MAX_PR_AUC_LOSS)
        )  # fmt: skip
    return out


def _n(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _ok(flag: bool | None) -> str:
    return "-" if flag is None else ("ok" if flag else "[red]WRONG")


def _report_cost(doc: dict[str, Any]) -> None:
    """One decide() transaction of each generated model priced at the stated fees."""
    table = Table(title="One decide() transaction at stated fees, gwei (mean gasUsed)")
    columns = ("model", "gasUsed", "tx B", *(p.short for p in STATED_PRICES))
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 0 else "right")
    for row in doc["models"]:
        gen = row["generated"]
        if gen.get("gas_used") is None or gen.get("calldata") is None:
            continue
        # bytes from calldata gas at 16 per byte (as if none were zero: the fewest bytes)
        size = signed_size(b"\x01" * int(gen["calldata"] // 16))
        costs = (f"{p.cost(int(gen['gas_used']), size) / 1e9:,.4g}" for p in STATED_PRICES)
        table.add_row(row["model"], _n(gen["gas_used"]), f"{size:,}", *costs)
    console.print(table)
    console.print(
        "; ".join(
            f"{p.label}: {p.gas_price:,} wei/gas + {p.data_fee_per_byte:,} wei/byte"
            for p in STATED_PRICES
        ),
        soft_wrap=True,
    )


def report(doc: dict[str, Any]) -> None:
    rows = doc["rows_per_model"]
    table = Table(title=f"Generated contracts: decide() transactions, means over {rows} rows")
    columns = ("model", "detail", "code B", "deploy", "gasUsed", "intrinsic", "calldata",
               "floor", "binds", "exec rcpt", "exec meter", "rcpt-meter", "out")  # fmt: skip
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i < 2 else "right")
    for row in doc["models"]:
        gen = row["generated"]
        size = f"{gen['code_bytes']:,}"
        if gen["exceeds_eip170"]:
            table.add_row(row["model"], row["detail"], f"[red]{size}", "exceeds EIP-170",
                          *["-"] * 8, "-")  # fmt: skip
            continue
        binds = f"{gen['floor_binds']}/{gen['rows']}"
        table.add_row(
            row["model"], row["detail"], size, _n(gen["deploy_gas"]), _n(gen["gas_used"]),
            f"{INTRINSIC:,}", _n(gen["calldata"]), _n(gen["floor"]), binds,
            _n(gen["execution_receipt"]) if gen["floor_binds"] < gen["rows"] else "hidden",
            _n(gen["execution_metered"]), _n(gen["receipt_minus_metered_max"]),
            _ok(gen["outputs_match"]),
        )  # fmt: skip
    console.print(table)
    console.print(
        "gasUsed = max(21,000 + calldata + execution, EIP-7623 floor). Where the floor binds, "
        "gasUsed equals the floor and the receipt hides the execution gas; exec (receipt) is "
        "then shown as hidden and averaged over the other rows only. 'receipt - metered' is the "
        "largest |gasUsed - 21,000 - calldata - metered| over rows where the floor does not bind.",
        soft_wrap=True,
    )
    side = Table(title="Side by side: execution gas (metered) of generated vs naive contracts")
    columns = ("model", "generated", "naive", "naive / gen", "gasUsed gen", "gasUsed naive",
               "code B gen", "code B naive", "setup gas (txs)", "rcpt-meter naive",
               "out naive")  # fmt: skip
    for i, column in enumerate(columns):
        side.add_column(column, justify="left" if i == 0 else "right")
    for row in doc["models"]:
        gen, naive = row["generated"], row["naive"]
        ratio = row.get("naive_over_generated")
        side.add_row(
            row["model"], _n(gen.get("execution_metered")), _n(naive["execution_metered"]),
            "-" if ratio is None else f"{ratio:,.1f}x", _n(gen.get("gas_used")),
            _n(naive["gas_used"]), f"{gen['code_bytes']:,}", f"{naive['code_bytes']:,}",
            f"{naive['setup_gas']:,} ({naive['setup_transactions']})",
            _n(naive["receipt_minus_metered_max"]), _ok(naive["outputs_match"]),
        )  # fmt: skip
    console.print(side)
    _report_cost(doc)
    console.print(
        f"Reference: EZKL on-chain proof verification costs {EZKL_SOURCE}: "
        f"{EZKL_VERIFY_GAS:,} gas per decision proved off chain.",
        soft_wrap=True,
    )
    if doc.get("quality"):
        report_quality(doc["quality"])
    if doc.get("sweep"):
        report_sweep(doc["sweep"])
    if doc.get("anvil"):
        anvil = doc["anvil"]
        verdict = "identical" if anvil["identical"] else "[red]DIFFERENT"
        console.print(
            f"anvil vs embedded chain, {anvil['compared']:,} values (gasUsed of every deployment, "
            f"setup and decide transaction; metered execution gas of every row): {verdict}; "
            f"outputs {_ok(anvil['outputs_match'])}",
            soft_wrap=True,
        )
    goals = Table(title="Targets")
    for column in ("target", "measured", "threshold", "result", "note"):
        goals.add_column(column)
    for t in doc["targets"]:
        verdict = {True: "[green]PASS", False: "[red]MISS", None: "-"}[t["pass"]]
        goals.add_row(t["target"], t["shown"], t["threshold"], verdict, t["note"])
    console.print(goals)


def report_quality(quality: dict[str, Any]) -> None:
    title = (
        f"Quality of the fixed-point twins on {quality['dataset']}: test = last 20% by time "
        f"({quality['test_rows']:,} rows, {quality['test_positives']} positives)"
    )
    table = Table(title=title)
    columns = ("model", "agreement", "PR-AUC float", "PR-AUC fixed", "loss", "max |logit err|",
               "code B", "exec gas (metered)", "outputs")  # fmt: skip
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 0 else "right")
    for row in quality["models"]:
        gas = row["contract"]
        size = f"{gas['code_bytes']:,}" + (" (exceeds EIP-170)" if gas["exceeds_eip170"] else "")
        table.add_row(
            row["model"], f"{row['decision_agreement']:.4%}", f"{row['pr_auc_float']:.4f}",
            f"{row['pr_auc_fixed']:.4f}", f"{row['pr_auc_loss']:+.5f}",
            f"{row['max_score_error']:.2e}", size, _n(gas.get("execution_metered")),
            _ok(gas.get("outputs_match")),
        )  # fmt: skip
    console.print(table)


# -- main ------------------------------------------------------------------------------------


def compare_backends(embedded: dict[str, Any], anvil: dict[str, Any]) -> dict[str, Any]:
    first, second = embedded["trace"], anvil["trace"]
    mismatches = [i for i, (a, b) in enumerate(zip(first, second, strict=False)) if a != b]
    return {
        "compared": len(first),
        "identical": first == second,
        "mismatch_positions": mismatches[:20],
        "outputs_match": all(
            row[side]["outputs_match"]
            for row in anvil["models"]
            for side in ("generated", "naive")
            if "outputs_match" in row[side]
        ),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=None, help="input rows per model (8)")
    parser.add_argument("--anvil", action="store_true", help="repeat the gas table on anvil")
    parser.add_argument("--skip-quality", action="store_true", help="no real-data quality check")
    parser.add_argument("--data-dir", type=Path, default=Path(".chainml"))
    parser.add_argument("--quick", action="store_true", help="three small models, two rows")
    parser.add_argument("--sweep", action="store_true", help="integer vs float decision sweep")
    parser.add_argument("--sweep-seeds", default="4-9", help="simulation seeds of the sweep")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args(argv)
    args.rows = args.rows or (2 if args.quick else 8)

    columns = ("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())  # fmt: skip
    with (
        tempfile.TemporaryDirectory(prefix="chainml-bench-onchain-") as tmp,
        Progress(*columns, console=console, transient=True) as progress,
    ):
        work = Path(tmp)
        cache = work / "vyper-cache"
        task = progress.add_task("training the gas-table models", total=None)
        cases = build_cases(args.quick, args.rows)
        progress.remove_task(task)
        with connect(Settings(data_dir=work / "embedded")) as env:
            embedded = run_gas(env, cases, cache, progress, "embedded")
            chain = open_chain(env, cache)
            quality = None if args.skip_quality else run_quality(args, chain, cache, work, progress)
        sweep = run_sweep(args, work, progress) if args.sweep or args.quick else None
        anvil = None
        if args.anvil:
            with AnvilNode() as node:
                key = Secret(ANVIL_DEV_KEY)
                settings = Settings(data_dir=work / "anvil", rpc=node.url, private_key=key)
                with connect(settings) as env:
                    anvil = compare_backends(
                        embedded, run_gas(env, cases, cache, progress, "anvil")
                    )
    document: dict[str, Any] = {
        "benchmark": "onchain_inference",
        "quick": args.quick,
        "rows_per_model": args.rows,
        "gas_source": "transaction receipts (gasUsed) and GasMeter.vy events; nothing estimated",
        "input_scale": SCALE,
        "eip170_limit": EIP170_LIMIT,
        "calldata_rule": "standard 4/16 gas per zero/non-zero byte; EIP-7623 floor "
        "21000 + 10 * (zeros + 4 * nonzeros)",
        "models": embedded["models"],
        "quality": quality,
        "sweep": sweep,
        "anvil": anvil,
        "ezkl_reference": {"gas_per_proof": EZKL_VERIFY_GAS, "source": EZKL_SOURCE},
        "machine": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
    }
    document["targets"] = targets(embedded["models"], quality)
    report(document)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(document, indent=2))
    console.print(f"results written to {args.json}")
    if anvil is not None and not anvil["identical"]:
        raise SystemExit("gasUsed differs between the embedded chain and anvil")
    return document


if __name__ == "__main__":
    main()

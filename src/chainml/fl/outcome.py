"""From a federation's last global weights to a stored chainml model and the run record.

:func:`finish` makes the weights the estimator centralized training makes, thresholds and
evaluates it on the coordinator's parts (:func:`chainml.models.train.finish_training`),
stores it with the card's ``federation`` section (:func:`card_section`) and writes the run
record ``runs/<contract>.json`` in the federation directory.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from chainml.files import write_atomic
from chainml.fl.params import estimator_from
from chainml.fl.privacy import PrivacySettings
from chainml.models.dataset import FloatArray

if TYPE_CHECKING:
    from chainml.fl.run import FederationResult, RunOptions


def privacy_record(
    options: RunOptions, privacy: PrivacySettings | None, spent: float | None
) -> dict[str, Any]:
    """The privacy facts of a run (the card states them): DP settings and epsilon, SecAgg."""
    if privacy is None:
        return {"differential_privacy": False, "secure_aggregation": options.secagg}
    return {
        "differential_privacy": True,
        "mechanism": "client-side: update clipped to L2 norm clip, Gaussian noise "
        "N(0, (noise_multiplier * clip)^2) per coordinate, every round",
        "adjacency": "participant-level (one participant's update replaced by nothing)",
        "accountant": "dp-accounting RDP (Gaussian mechanism composed over the rounds)",
        "epsilon": spent, "delta": privacy.delta, "clip": privacy.clip,
        "noise_multiplier": privacy.noise_multiplier, "rounds": options.rounds,
        "secure_aggregation": options.secagg,
    }  # fmt: skip


def options_record(options: RunOptions) -> dict[str, Any]:
    """The run options as JSON data."""
    record = asdict(options)
    record["poison"] = {str(k): asdict(v) for k, v in options.poison.items()}
    record["dropouts"] = {str(k): list(v) for k, v in options.dropouts.items()}
    return record


def finish(
    result: FederationResult, data_dir: Path, split: Any, mean: FloatArray, scale: FloatArray
) -> None:
    """Make, evaluate and (with ``options.save``) store the model; write the run record."""
    from chainml.models.train import finish_training

    options = result.options
    estimator = estimator_from(
        options.kind, split.fit.feature_names, mean, scale, result.weights,
        {"hidden": options.hidden} if options.kind == "mlp" else {},
    )  # fmt: skip
    result.trained = finish_training(
        estimator, split.fit, split, options.kind, seed=options.seed,
        resamples=options.resamples,
    )  # fmt: skip
    result.record["test_metrics"] = plain(result.trained.metrics)
    if options.save:
        from chainml.models.artifacts import save_model

        card_extra = {"federation": card_section(result)}
        result.artifact, _ = save_model(
            data_dir, result.trained, dataset_spec=str(result.federation.config["data"]),
            card_extra=card_extra,
        )  # fmt: skip
        result.record["model_id"] = result.artifact.model_id
    runs = result.federation.path / "runs"
    runs.mkdir(exist_ok=True)
    name = result.record.get("chain", {}).get("contract") or f"offchain-{int(time.time())}"
    result.record_path = runs / f"{name}.json"
    write_atomic(result.record_path, json.dumps(plain(result.record), indent=2, sort_keys=True))


def card_section(result: FederationResult) -> dict[str, Any]:
    """The card's ``federation`` section: who, how, which contract, every round's hash."""
    record = result.record
    chain = record.get("chain")
    section: dict[str, Any] = plain({
        "task": result.federation.task,
        "engine": "Flower simulation engine" if result.options.engine == "simulation"
        else "Flower gRPC server, one client process per participant",
        "strategy": result.options.strategy,
        "rounds": result.options.rounds,
        "participants": [
            {"index": p["index"], "rows": p["rows"], "positives": p["positives"],
             "sha256": p["sha256"],
             "account": chain["participants"][p["index"]] if chain else None}
            for p in result.federation.participants
        ],
        "partition": result.federation.config["partition"],
        "standardization": "pooled from the participants' counts, sums and sums of squares",
        "chain": chain,
        "global_hashes": [entry["global_hash"] for entry in record["rounds"]],
        "global_hash_definition": "SHA-256 of the params.json of each round's global model; "
        "the last is this model's artifact_hash",
        "privacy": record["privacy"],
    })  # fmt: skip
    return section


def plain(value: Any) -> Any:
    """``value`` as plain JSON data: numpy numbers made Python ones, NaN and infinities None."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value

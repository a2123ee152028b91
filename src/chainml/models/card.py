"""Model cards: what a model is, what it was trained on, how good it is (JSON and Markdown).

``card.json`` is canonical JSON (sorted keys, two-space indent, trailing newline); its SHA-256
is the card hash (:func:`card_hash`) that the on-chain registry records. ``card.md`` is a
rendering of the same facts for people.
"""

from __future__ import annotations

import hashlib
import json
import platform
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np

from chainml.errors import InvalidInputError
from chainml.inference.policy import POLICY_FILE
from chainml.models.dataset import Dataset
from chainml.models.export import MODEL_ID_DEFINITION
from chainml.models.split import describe
from chainml.models.train import KINDS, TrainedModel

CARD_FORMAT = "chainml.card/2"
#: Data that is about payment fraud: only its models default to a fraud use and hold/pass.
FRAUD_SOURCES = ("ULB credit-card fraud", "chainml payments simulator")
NEUTRAL_USE = "screening"
ARTIFACT_HASH_DEFINITION = (
    "SHA-256 of the bytes of params.json; for LightGBM, params.json pins booster.txt by its "
    "SHA-256 (booster_sha256), so the hash covers both files"
)
LIBRARIES = ("numpy", "scikit-learn", "lightgbm", "onnx", "onnxruntime", "onnxmltools", "scipy")


def sha256_hex(data: bytes) -> str:
    """``0x`` + SHA-256 of ``data``."""
    return "0x" + hashlib.sha256(data).hexdigest()


def artifact_hash(params_json: bytes) -> str:
    """The artifact hash: SHA-256 of ``params.json`` (see :data:`ARTIFACT_HASH_DEFINITION`)."""
    return sha256_hex(params_json)


def card_bytes(card: dict[str, Any]) -> bytes:
    """The canonical bytes of a card (what ``card.json`` holds)."""
    return (json.dumps(card, indent=2, sort_keys=True, allow_nan=False) + "\n").encode()


def card_hash(card_json: bytes) -> str:
    """The card hash: ``0x`` + SHA-256 of the bytes of ``card.json``."""
    return sha256_hex(card_json)


def library_versions() -> dict[str, str]:
    """Versions of Python, chainml and the ML libraries used for training and export."""
    found = {"python": platform.python_version()}
    for name in ("chainml", *LIBRARIES):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def feature_schema(trained: TrainedModel) -> list[dict[str, Any]]:
    """Each feature's name and statistics on the fit part (float64, in input order)."""
    x = trained.split.fit.features
    stats = zip(x.mean(axis=0), x.std(axis=0), x.min(axis=0), x.max(axis=0), strict=True)
    integral = np.all(x == np.round(x), axis=0)  # integer features compile at scale 1
    return [
        {"name": name, "dtype": "float64", "mean": float(m), "std": float(s), "min": float(lo),
         "max": float(hi), "integer": bool(whole)}
        for name, (m, s, lo, hi), whole in zip(
            trained.dataset.feature_names, stats, integral, strict=True
        )
    ]  # fmt: skip


def default_use(dataset: Dataset) -> tuple[str, tuple[str, str]]:
    """The use and decision words ``(class 1, class 0)`` when none are given.

    Fraud words only for fraud data (``fraud-screening``, hold/pass), else ``screening``,
    flag/ok.
    """
    if dataset.source.startswith(FRAUD_SOURCES):
        from chainml.governance.registry import DEFAULT_USE  # the one fraud-screening literal

        return DEFAULT_USE, ("hold", "pass")
    return NEUTRAL_USE, ("flag", "ok")


def parse_labels(text: str) -> tuple[str, str]:
    """``"hold,pass"`` -> ``("hold", "pass")``: the words for a decision of 1 and of 0."""
    words = tuple(w.strip() for w in text.split(","))
    if len(words) != 2 or not all(words) or words[0] == words[1]:
        raise InvalidInputError(
            f"--labels {text!r}: give two different words, the decision for class 1 first "
            "(e.g. hold,pass or flag,ok)"
        )
    return words[0], words[1]


def _preprocessing(dataset: Dataset) -> dict[str, Any] | None:
    if dataset.schema is None:
        return None
    return {
        "schema": dataset.schema.to_dict(),
        "digest": dataset.schema.digest(),
        "digest_definition": "0x + SHA-256 of the schema's canonical JSON (sorted keys, no "
        "spaces); part of the dataset commitment",
        "raw_record": "Schema.encode_record(raw) turns a record of raw values (column name -> "
        "value) into the model's features, in the order of schema.feature_names",
    }


def _fitted_details(trained: TrainedModel) -> dict[str, Any]:
    estimator = trained.estimator
    names = ("class_weight_", "selection_", "best_iteration_", "best_epoch_", "epochs_")
    found = {n.rstrip("_"): getattr(estimator, n) for n in names if hasattr(estimator, n)}
    return json.loads(json.dumps(found, default=float))  # type: ignore[no-any-return]


def build_card(
    trained: TrainedModel,
    *,
    model_id: str,
    native_files: dict[str, bytes],
    onnx_info: dict[str, Any],
    dataset_spec: str | None = None,
    use: str | None = None,
    labels: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """The card of a trained model whose ONNX and policy files hash to ``model_id``.

    ``use`` and ``labels`` (the decision words for class 1 and 0) default to
    :func:`default_use`.
    """
    dataset, split = trained.dataset, trained.split
    assert trained.policy is not None
    policy = trained.policy
    fallback_use, fallback_labels = default_use(dataset)
    words = labels or fallback_labels
    time_column = dataset.schema.time if dataset.schema is not None else None
    return {
        "card_format": CARD_FORMAT,
        "model_id": model_id,
        "model_id_definition": MODEL_ID_DEFINITION,
        "kind": KINDS.get(trained.kind, trained.kind),  # an imported model names its own
        "preset": trained.preset,
        "trained_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "hyperparameters": trained.estimator.get_params(),
        "fitted": _fitted_details(trained),
        "seed": trained.seed,
        "dataset": {
            "name": dataset.name,
            "spec": dataset_spec,
            "source": dataset.source,
            "commitment": dataset.commitment(),
            "rows": dataset.rows,
            "positives": dataset.positives,
            "preprocessing": _preprocessing(dataset),
            "split": {
                "method": split.method,
                "seed": split.seed,
                "description": describe(split.method, split.seed, split.test_fraction, time_column),
                "test_fraction": split.test_fraction,
                "validation_fraction": split.validation_fraction,
                "fitted_on": "fit",
                "tuned_on": "validation (early stopping, model selection, threshold)",
                "parts": split.summary(),
            },
        },
        "use": {
            "name": use or fallback_use,
            "decisions": {"1": words[0], "0": words[1]},
            "positive_label": None if dataset.schema is None else dataset.schema.positive,
        },
        "features": feature_schema(trained),
        "metrics": {"test": trained.metrics, "validation": trained.validation_metrics},
        "threshold": {
            "rule": trained.threshold_rule,
            "chosen_on": "validation (integer scores; midpoint between two of them)",
            "logit": trained.threshold,
            "probability": trained.threshold_probability,
            "decision": "flag when score_int >= decision_policy.threshold_int; threshold.logit "
            "is that threshold divided by score_scale, for people",
        },
        "decision_policy": {
            "file": POLICY_FILE,
            "sha256": sha256_hex(policy.to_bytes()),
            **policy.summary(),
            "metrics_at_threshold": "counted from the integer model's decisions",
        },
        "training": {
            "seconds": trained.training.seconds,
            "peak_rss_bytes": trained.training.peak_rss_bytes,
            "peak_scope": trained.training.peak_scope,
        },
        "onnx": onnx_info,
        "native_files": sorted(native_files),
        "artifact_hash": artifact_hash(native_files["params.json"]),
        "artifact_hash_definition": ARTIFACT_HASH_DEFINITION,
        "versions": library_versions(),
    }


def _policy_markdown(policy: dict[str, Any]) -> str:
    """The decision policy for people: the integer rule, its neighbours, margin and proof."""
    neighbours = policy["neighbours"]
    proof = "holds" if policy["proven"] else "does NOT hold (the contract is refused)"
    return (
        f"Decision of record: integer score >= {policy['threshold_int']} (score scale "
        f"{policy['score_scale']}; `{policy['file']}`). The threshold lies between the validation "
        f"scores {neighbours['below']} and {neighbours['above']}: margin "
        f"{policy['margin_logit']:.3g} (logit), proven quantization error at most "
        f"{policy['error_bound_logit']:.3g} over the declared input ranges; margin > 2 x error "
        f"{proof}."
    )


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _split_words(split: dict[str, Any]) -> str:
    return str(split.get("description") or split["method"])


def _use_markdown(card: dict[str, Any]) -> list[str]:
    use = card.get("use")
    if not use:
        return []
    decisions = use["decisions"]
    positive = use.get("positive_label")
    label = f" (label value `{positive}` is class 1)" if positive is not None else ""
    return [f"Use: `{use['name']}`; decisions: class 1 = **{decisions['1']}**, class 0 = "
            f"**{decisions['0']}**{label}.", ""]  # fmt: skip


def _preprocessing_markdown(pre: dict[str, Any] | None) -> list[str]:
    if pre is None:
        return []
    schema = pre["schema"]
    rows = []
    for column in schema["columns"]:
        if column["name"] == schema["target"]:
            how = f"label: `{schema['positive']}` = 1, " + ", ".join(
                f"`{v}`" for v in schema["negatives"]) + " = 0"  # fmt: skip
        elif not column["feature"]:
            how = "not a feature" + (" (time)" if column["name"] == schema["time"] else "")
        elif column["kind"] == "categorical":
            kept = len(column["categories"])
            how = (f"{column['encoding']}, {kept} categories + (other) for infrequent/unknown"
                   if column["encoding"] == "onehot" else
                   f"ordinal by frequency, {kept} categories, (other) = {kept}")  # fmt: skip
        else:
            how = "as is" if column["kind"] != "boolean" else "1 = " + "/".join(
                column["true_values"]) + ", 0 = " + "/".join(column["false_values"])  # fmt: skip
            if column.get("unit"):
                how = f"whole {column['unit']} since 1970-01-01 UTC"
            if column["indicator"]:
                how += f"; blank = {column['fill']:g} + a missing indicator"
        kind = "label" if column["name"] == schema["target"] else column["kind"]
        rows.append(f"| `{column['name']}` | {kind} | {how} |")
    return [
        f"Encoding (schema `{pre['digest']}`, part of the commitment):",
        "",
        "| column | kind | encoding |",
        "|---|---|---|",
        *rows,
        "",
    ]


def render_markdown(card: dict[str, Any]) -> str:
    """``card.md``: the card for people."""
    test = card["metrics"]["test"]
    interval = test["pr_auc_interval"]
    parts = card["dataset"]["split"]["parts"]
    cells = test["at_threshold"]["confusion"]
    threshold = card["threshold"]
    at_fpr = test["recall_at_fpr"]
    parity = card["onnx"]["verification"]
    lines = [
        f"# Model card: {card['kind']}",
        "",
        f"- **Model id**: `{card['model_id']}`",
        f"  ({card['model_id_definition']})",
        f"- **Artifact hash** (native parameters): `{card['artifact_hash']}`",
        f"  ({card['artifact_hash_definition']})",
        f"- **Seed**: {card['seed']}",
        "",
        "## Data",
        "",
        f"Dataset `{card['dataset']['name']}` ({card['dataset']['source'] or 'no source given'}),",
        f"{card['dataset']['rows']:,} rows, {card['dataset']['positives']:,} positives;",
        f"commitment `{card['dataset']['commitment']}`.",
        f"Split: {_split_words(card['dataset']['split'])}; fitted on `fit`, tuned on "
        "`validation`, evaluated once on `test`.",
        "",
        *_use_markdown(card),
        *_preprocessing_markdown(card["dataset"].get("preprocessing")),
        "",
        "| part | rows | positives |",
        "|---|---:|---:|",
        *(f"| {n} | {p['rows']:,} | {p['positives']:,} |" for n, p in parts.items()),
        "",
        "## Test metrics",
        "",
        "| metric | value |",
        "|---|---:|",
        f"| PR-AUC (average precision) | {test['pr_auc']:.4f} |",
        f"| PR-AUC 95% bootstrap interval ({interval['resamples']} resamples) | "
        f"{interval['low']:.4f} - {interval['high']:.4f} |",
        f"| ROC-AUC | {test['roc_auc']:.4f} |",
        *(
            [
                f"| ROC-AUC 95% interval (DeLong) | {test['roc_auc_interval']['low']:.4f} - "
                f"{test['roc_auc_interval']['high']:.4f} |"
            ]
            if "roc_auc_interval" in test
            else []
        ),
        *(f"| recall at {_pct(float(f))} FPR | {v:.4f} |" for f, v in at_fpr.items()),
        *(
            f"| precision at {_pct(float(r))} recall | {v:.4f} |"
            for r, v in test["precision_at_recall"].items()
        ),
        "",
        f"Threshold (rule `{threshold['rule']}`, chosen on validation): logit "
        f"{threshold['logit']!r}, probability {threshold['probability']:.6g}.",
        "",
        _policy_markdown(card["decision_policy"]),
        "",
        "At the threshold on test (integer decisions): "
        f"TP {cells['tp']}, FP {cells['fp']}, TN {cells['tn']}, FN {cells['fn']}; precision "
        f"{test['at_threshold']['precision']:.4f}, recall {test['at_threshold']['recall']:.4f}.",
        "",
        "![PR curve](pr_curve.png)",
        "",
        "## Model",
        "",
        "```json",
        json.dumps(card["hyperparameters"], indent=2, sort_keys=True),
        "```",
        "",
        f"Features ({len(card['features'])}): "
        + ", ".join(f"`{f['name']}`" for f in card["features"]),
        "",
        f"ONNX: input `{card['onnx']['input']}` float32 [N, {len(card['features'])}], outputs "
        + ", ".join(f"`{o}`" for o in card["onnx"]["outputs"])
        + f"; max |p_onnx - p_native| = {parity['max_abs_diff_probability']:.3g}"
        f" on {parity['rows']:,} rows. Role: {card['onnx']['role']}.",
        "",
        f"Training: {card['training']['seconds']:.2f} s, peak RSS "
        f"{card['training']['peak_rss_bytes'] / 2**20:.0f} MiB ({card['training']['peak_scope']}).",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in card["versions"].items()),
        "",
        *_federation_markdown(card.get("federation")),
    ]
    return "\n".join(lines)


def _federation_markdown(federation: dict[str, Any] | None) -> list[str]:
    """The ``federation`` section for people (nothing for a model trained in one place)."""
    if not federation:
        return []
    chain = federation.get("chain")
    privacy = federation.get("privacy") or {}
    participants = federation.get("participants", [])
    if privacy.get("differential_privacy"):
        dp = (
            f"differential privacy ε = {privacy['epsilon']:.3g}, δ = {privacy['delta']:.3g} "
            f"(clip {privacy['clip']:g}, noise multiplier {privacy['noise_multiplier']:.3g}, "
            f"{privacy['rounds']} rounds; {privacy['accountant']})"
        )
    else:
        dp = "no differential privacy"
    secagg = "SecAgg+" if privacy.get("secure_aggregation") else "no secure aggregation"
    lines = [
        "## Federation",
        "",
        f"Trained without pooling data: task `{federation['task']}`, {federation['engine']}, "
        f"strategy {federation['strategy']}, {federation['rounds']} rounds, "
        f"{len(participants)} participants (partition `{federation['partition']}`).",
        f"Privacy: {dp}; {secagg}.",
    ]
    if chain:
        lines += [
            f"On chain: `FederatedRounds` at `{chain['contract']}` (chain id "
            f"{chain['chain_id']}, deploy block {chain['deploy_block']}), governor "
            f"`{chain['governor']}`, coordinator `{chain['coordinator']}`.",
        ]
    else:
        lines.append("Off chain: no on-chain record of the rounds.")
    lines += [
        "",
        "| participant | account | rows | positives | data SHA-256 |",
        "|---:|---|---:|---:|---|",
        *(
            f"| {p['index']} | `{p.get('account') or '-'}` | {p['rows']:,} | "
            f"{p['positives']:,} | `{p['sha256']}` |"
            for p in participants
        ),
        "",
        "| round | global model hash |",
        "|---:|---|",
        *(f"| {r} | `{h}` |" for r, h in enumerate(federation.get("global_hashes", []))),
        "",
    ]
    return lines

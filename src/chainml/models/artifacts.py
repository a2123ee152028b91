"""Stored models: one directory per model id, written atomically and verified when loaded.

Layout: ``<data_dir>/models/<model_id>/`` holds ``model.onnx`` and ``policy.json`` (the
integer decision policy; the id is the SHA-256 of both files' digests, see
:func:`chainml.models.export.model_id`), the native parameter file(s) (``params.json``, plus
``booster.txt`` for LightGBM), ``card.json``, ``card.md`` and ``pr_curve.png``. A model is
written into a temporary sibling directory and renamed into place, so a reader never sees a
half-written model. :func:`load_model` checks every hash link: id -> model.onnx and
policy.json, card -> params.json (artifact hash), params.json -> booster.txt.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from chainml.config import ensure_directory
from chainml.errors import DataDirectoryError, InvalidInputError, NotFoundError, VerificationError
from chainml.files import atomic_directory
from chainml.inference.policy import POLICY_FILE, DecisionPolicy, policy_from_bytes
from chainml.models import card as cards
from chainml.models import export, native
from chainml.models.dataset import FloatArray
from chainml.models.plot import save_pr_curve
from chainml.models.schema import Schema
from chainml.models.train import TrainedModel

MODELS = "models"
ONNX_FILE = "model.onnx"
PARAMS_FILE = "params.json"
CARD_FILE = "card.json"
_ID = re.compile(r"^0x[0-9a-f]{64}$")


@dataclass(frozen=True)
class ModelArtifact:
    """A stored, verified model: its files' contents and the native evaluator."""

    model_id: str
    path: Path
    card: dict[str, Any]
    params: dict[str, Any]
    onnx_bytes: bytes
    card_hash: str
    booster: Any = None  # the parsed model file, for kinds "lightgbm" and "xgboost"
    policy_bytes: bytes = b""  # policy.json

    @cached_property
    def policy(self) -> DecisionPolicy:
        """The decision policy of record (integer model and threshold), from policy.json."""
        return policy_from_bytes(self.policy_bytes, str(self.path / POLICY_FILE))

    @property
    def kind(self) -> str:
        """``logistic_regression``, ``mlp``, ``lightgbm`` or ``xgboost``."""
        return str(self.params["kind"])

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The input features, in order."""
        return tuple(self.params["feature_names"])

    @property
    def threshold(self) -> float:
        """The decision threshold as a float logit (for people; decisions use the integers)."""
        return float(self.card["threshold"]["logit"])

    @cached_property
    def schema(self) -> Schema | None:
        """The encoding of raw records (from the card), or None for a model of numeric data.

        ``model.schema.encode_record(raw)`` gives the features :meth:`predict_logit` takes.
        """
        pre = self.card.get("dataset", {}).get("preprocessing")
        if pre is None:
            return None
        schema = Schema.from_dict(pre["schema"], origin=f"{self.path / CARD_FILE} (schema)")
        if schema.feature_names != self.feature_names or schema.digest() != pre["digest"]:
            raise VerificationError(
                f"{self.path / CARD_FILE}: the schema does not match the model's features "
                "or its recorded digest"
            )
        return schema

    @property
    def use(self) -> str | None:
        """The use the card names (``--use`` at training), if any."""
        use = self.card.get("use")
        return None if not use else str(use["name"])

    def predict_logit(self, features: npt.ArrayLike) -> FloatArray:
        """Logits (raw scores) from the native parameters, in float64."""
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(self.feature_names):
            names = ", ".join(self.feature_names[:5])
            names += ", ..." if len(self.feature_names) > 5 else ""
            raise InvalidInputError(
                f"model {self.model_id[:10]}... takes {len(self.feature_names)} features per row "
                f"({names}), got shape {x.shape}"
            )
        if self.kind in native.BOOSTER_KINDS:
            return native.booster_logit(self.kind, self.booster, x)
        if self.kind == "mlp":
            return native.mlp_logit(self.params, x)
        return native.linear_logit(self.params, x)

    def predict_proba(self, features: npt.ArrayLike) -> FloatArray:
        """Probabilities of class 1."""
        return native.sigmoid(self.predict_logit(features))

    def decide(self, features: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """The decisions of record: True where the integer score reaches the integer threshold."""
        from chainml.models.train import integer_decisions

        return np.array(integer_decisions(self.policy, np.asarray(features)), dtype=bool)


def models_dir(data_dir: Path) -> Path:
    """Where models are stored under a data directory."""
    return Path(data_dir) / MODELS


def _verification_rows(trained: TrainedModel) -> FloatArray:
    split = trained.split
    return np.concatenate([split.validation.features, split.test.features])


def save_model(
    data_dir: Path,
    trained: TrainedModel,
    *,
    dataset_spec: str | None = None,
    tolerance: float = export.TOLERANCE,
    card_extra: dict[str, Any] | None = None,
    use: str | None = None,
    labels: tuple[str, str] | None = None,
) -> tuple[ModelArtifact, bool]:
    """Export, verify and store ``trained``; return the stored model and whether it is new.

    The ONNX graph is checked against the native model with onnxruntime on the validation and
    test rows (:class:`VerificationError` above ``tolerance``) before anything is written. A
    model whose id is already stored is left untouched (its card may be registered on chain).
    ``card_extra`` adds sections to the card (an imported model's ``imported`` record).
    """
    estimator = trained.estimator
    if trained.policy is None:
        raise InvalidInputError(
            "the trained model has no decision policy (train it with train_model)"
        )
    files = estimator.native_files()
    params = json.loads(files[PARAMS_FILE])
    onnx_bytes = export.build_onnx(params, getattr(estimator, "booster_", None))
    policy_bytes = trained.policy.to_bytes()
    model_id = export.model_id(onnx_bytes, policy_bytes)
    rows = _verification_rows(trained)
    verification = export.verify_onnx(
        onnx_bytes, estimator.decision_function(rows), rows, tolerance
    )
    root = models_dir(data_dir)
    final = root / model_id
    if final.is_dir():
        return load_model(data_dir, model_id), False
    card = cards.build_card(
        trained,
        model_id=model_id,
        native_files=files,
        onnx_info=_onnx_info(onnx_bytes, verification),
        dataset_spec=dataset_spec,
        use=use,
        labels=labels,
    ) | (card_extra or {})
    ensure_directory(Path(data_dir))
    root.mkdir(exist_ok=True)
    with atomic_directory(final) as staging:
        (staging / ONNX_FILE).write_bytes(onnx_bytes)
        (staging / POLICY_FILE).write_bytes(policy_bytes)
        for name, data in files.items():
            (staging / name).write_bytes(data)
        (staging / CARD_FILE).write_bytes(cards.card_bytes(card))
        (staging / "card.md").write_text(cards.render_markdown(card) + _imported_markdown(card))
        assert trained.test_logits is not None
        title = f"{card['kind']} on {trained.dataset.name} (test split)"
        save_pr_curve(
            staging / "pr_curve.png", trained.split.test.labels, trained.test_logits,
            trained.threshold, title,
        )  # fmt: skip
    return load_model(data_dir, model_id), True


def _imported_markdown(card: dict[str, Any]) -> str:
    """The card's ``imported`` section for people (empty for a model trained by chainml)."""
    record = card.get("imported")
    if not record:
        return ""
    parity = record["parity_with_library"]
    encoding = record.get("encoding")
    lines = [
        "## Imported",
        "",
        f"Trained outside chainml: {record.get('estimator', card['kind'])} from "
        f"`{record['file']}` ({record['format']}, SHA-256 `{record['sha256']}`), read with "
        f"{record['library']}; chainml's evaluator agrees with it within "
        f"{parity['max_abs_diff_probability']:.3g} (probability) on {parity['rows']:,} rows.",
        "Only the threshold was chosen here (on validation); the model was not refitted.",
    ]
    if encoding:
        from chainml.models.importers.encoding import ColumnEncoding

        lines.append(f"Encoding (off chain): {ColumnEncoding.from_document(encoding).describe()}.")
    if "mlflow" in record:
        lines.append(f"MLflow: `{record['mlflow']['uri']}`.")
    return "\n".join(["", *lines, ""])


def _onnx_info(onnx_bytes: bytes, verification: dict[str, Any]) -> dict[str, Any]:
    import onnx

    model = onnx.load_from_string(onnx_bytes)
    return {
        "file": ONNX_FILE,
        "bytes": len(onnx_bytes),
        "input": model.graph.input[0].name,
        "input_dtype": "float32",
        "sha256": cards.sha256_hex(onnx_bytes),
        "role": export.ONNX_ROLE,
        "outputs": [o.name for o in model.graph.output],
        "opsets": {(o.domain or "ai.onnx"): o.version for o in model.opset_import},
        "producer": f"{model.producer_name} {model.producer_version}",
        "verification": verification,
    }


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DataDirectoryError(str(path.parent), f"{path.name} is missing") from None
    except OSError as err:
        raise DataDirectoryError(str(path.parent), f"cannot read {path.name}: {err}") from err


def resolve_model_id(data_dir: Path, model_id: str) -> str:
    """The full id of a stored model given its id or a unique prefix (at least 0x + 6 hex)."""
    wanted = model_id.strip().lower()
    if not wanted.startswith("0x"):
        wanted = "0x" + wanted
    if _ID.match(wanted) and (models_dir(data_dir) / wanted).is_dir():
        return wanted
    if not re.fullmatch(r"0x[0-9a-f]{6,64}", wanted):
        raise InvalidInputError(f"{model_id!r} is not a model id (0x + 64 hex digits)")
    matches = [m.model_id for m in list_models(data_dir) if m.model_id.startswith(wanted)]
    if len(matches) > 1:
        raise InvalidInputError(f"model id prefix {model_id!r} is ambiguous: {len(matches)} match")
    if not matches:
        raise NotFoundError(
            f"no model {model_id} in {models_dir(data_dir)} (see `chainml model list`)"
        )
    return matches[0]


def load_model(
    data_dir: Path, model_id: str, *, expected_card_hash: str | None = None
) -> ModelArtifact:
    """Load a stored model after checking its files against its id and hashes.

    Raises :class:`NotFoundError` for an unknown id and :class:`VerificationError` naming the
    file whose bytes do not match (``model.onnx`` vs the id, ``params.json`` vs the card's
    artifact hash, ``booster.txt`` vs ``params.json``, ``card.json`` vs ``expected_card_hash``).
    """
    model_id = resolve_model_id(data_dir, model_id)
    path = models_dir(data_dir) / model_id
    onnx_bytes = _read(path / ONNX_FILE)
    if not (path / POLICY_FILE).exists() and (path / CARD_FILE).exists():
        raise DataDirectoryError(
            str(path),
            f"model {model_id[:18]}… was stored by an older chainml: it has no {POLICY_FILE}, "
            "so its id does not cover its decision rule and its threshold sits on a validation "
            "score; retrain it (`chainml model train`) and register the new id",
        )
    policy_bytes = _read(path / POLICY_FILE)
    computed = export.model_id(onnx_bytes, policy_bytes)
    if computed != model_id:
        raise VerificationError(
            f"{path}: SHA-256 of ({ONNX_FILE}, {POLICY_FILE}) gives {computed}, "
            "which is not the model id"
        )
    try:
        policy = policy_from_bytes(policy_bytes, str(path / POLICY_FILE))
    except InvalidInputError as err:
        raise VerificationError(str(err)) from err
    card_json = _read(path / CARD_FILE)
    digest = cards.card_hash(card_json)
    if expected_card_hash is not None and digest != expected_card_hash.lower():
        raise VerificationError(
            f"{path / CARD_FILE}: card hash {digest}, expected {expected_card_hash}"
        )
    card = _json(path / CARD_FILE, card_json)
    if card.get("model_id") != model_id:
        raise VerificationError(f"{path / CARD_FILE}: describes model {card.get('model_id')}")
    if card.get("decision_policy", {}).get("threshold_int") != policy.threshold:
        raise VerificationError(f"{path / CARD_FILE}: its threshold is not {POLICY_FILE}'s")
    params_json = _read(path / PARAMS_FILE)
    artifact_hash = cards.artifact_hash(params_json)
    if artifact_hash != card.get("artifact_hash"):
        raise VerificationError(
            f"{path / PARAMS_FILE}: artifact hash {artifact_hash} differs "
            f"from the card's {card.get('artifact_hash')}"
        )
    params = _json(path / PARAMS_FILE, params_json)
    native.check_params(params, str(path / PARAMS_FILE))
    booster = None
    if params["kind"] in native.BOOSTER_KINDS:
        booster_path = path / params["booster_file"]
        text = _read(booster_path)
        booster_sha256 = cards.sha256_hex(text)[2:]
        if booster_sha256 != params["booster_sha256"]:
            raise VerificationError(
                f"{booster_path}: SHA-256 {booster_sha256} differs from "
                f"params.json's booster_sha256 {params['booster_sha256']}"
            )
        booster = native.booster_of(params["kind"], text)
    return ModelArtifact(model_id, path, card, params, onnx_bytes, digest, booster, policy_bytes)


def _json(path: Path, data: bytes) -> dict[str, Any]:
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise VerificationError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(document, dict):
        raise VerificationError(f"{path}: not a JSON object")
    return document


@dataclass(frozen=True)
class ModelSummary:
    """One line of ``list_models``: read from the card, not verified."""

    model_id: str
    kind: str
    dataset: str
    pr_auc: float | None
    path: Path
    preset: str | None = None
    trained_at: str | None = None
    use: str | None = None


def list_models(data_dir: Path) -> list[ModelSummary]:
    """The stored models (by id), summarized from their cards; unreadable cards show as such."""
    root = models_dir(data_dir)
    if not root.is_dir():
        return []
    found = []
    for path in sorted(root.iterdir()):
        if not (path.is_dir() and _ID.match(path.name)):
            continue  # staging directories of interrupted writes, stray files
        try:
            card = json.loads((path / CARD_FILE).read_bytes())
            summary = ModelSummary(
                path.name, str(card["kind"]), str(card["dataset"]["name"]),
                float(card["metrics"]["test"]["pr_auc"]), path, card.get("preset"),
                card.get("trained_at") or _mtime(path), (card.get("use") or {}).get("name"),
            )  # fmt: skip
        except (OSError, ValueError, KeyError, TypeError):
            summary = ModelSummary(path.name, "unreadable card", "?", None, path)
        found.append(summary)
    return found


def _mtime(path: Path) -> str:
    """A directory's modification time (UTC), for cards that predate ``trained_at``."""
    return datetime.fromtimestamp(path.stat().st_mtime, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

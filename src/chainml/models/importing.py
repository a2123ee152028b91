"""Importing a model trained elsewhere: check it, place its threshold, evaluate, store it.

:func:`import_model` is the whole recipe, the twin of training: read the model
(:mod:`chainml.models.importers`), check that chainml's native evaluator gives the original
library's probabilities on every row (:data:`IMPORT_TOLERANCE`), split the data as training
does, place the integer decision threshold on the validation slice and prove its precision
(:mod:`chainml.inference.policy`), evaluate once on the test split, and store the same ONNX
artifact, policy and card as a trained model, with an ``imported`` section saying where the
model came from. :func:`onchain_status` says whether the model can also run on chain.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from chainml.errors import InvalidInputError, VerificationError
from chainml.inference.policy import decision_policy, input_specs, require_proven
from chainml.models import metrics, native
from chainml.models.dataset import Dataset, FloatArray
from chainml.models.importers import ImportedModel, read_model
from chainml.models.split import make_split
from chainml.models.train import DEFAULT_RULE, Measurement, TrainedModel, integer_decisions
from chainml.models.train_base import Estimator

if TYPE_CHECKING:
    from chainml.models.artifacts import ModelArtifact

#: Max |probability(chainml native) - probability(original library)| accepted on any row.
IMPORT_TOLERANCE = 1e-5


@dataclass(frozen=True)
class InputTable:
    """Labelled rows as the original model takes them: raw columns or numeric features."""

    name: str
    columns: tuple[str, ...]
    values: npt.NDArray[Any]  # [rows, columns]; objects (raw values) or floats
    labels: npt.NDArray[np.int8]
    order: FloatArray | None = None
    source: str = ""

    #: The CSV's own columns and raw text cells (label excluded), for a model that encodes
    #: them itself (a Pipeline starting with a OneHotEncoder or a ColumnTransformer); None
    #: for other data.
    raw: InputTable | None = None
    #: The CSV's label column and positive value (what the card records to read it again).
    label: dict[str, str] | None = None

    @classmethod
    def from_dataset(cls, dataset: Dataset) -> InputTable:
        """A numeric dataset's features as the model's input."""
        return cls(dataset.name, dataset.feature_names, dataset.features, dataset.labels,
                   dataset.order, dataset.source)  # fmt: skip

    def select(self, columns: Sequence[str]) -> InputTable:
        """These columns, by name, from this table or its raw one (every missing one named)."""
        if tuple(columns) == self.columns:
            return self
        for table in (self, self.raw):
            if table is not None and set(columns) <= set(table.columns):
                at = [table.columns.index(column) for column in columns]
                return replace(self, columns=tuple(columns), values=table.values[:, at])
        have = self.raw.columns if self.raw is not None else self.columns
        missing = [column for column in columns if column not in have]
        raise InvalidInputError(
            f"the model takes the column(s) {', '.join(missing[:10])}, which the data lacks "
            f"(it has {', '.join(have[:10])}{', ...' if len(have) > 10 else ''})"
        )


def evaluation_data(
    spec: str,
    data_dir: Path,
    *,
    target: str | None = None,
    order: str | None = None,
    positive: str | None = None,
    schema_file: Path | None = None,
) -> InputTable:
    """The labelled rows a ``--data`` spec names (the one place import reads a dataset)."""
    from chainml.models.sources import load_dataset

    dataset = load_dataset(
        spec, data_dir, target=target, order=order, positive=positive, schema_file=schema_file
    )
    return input_table(dataset, spec)


def input_table(dataset: Dataset, spec: str) -> InputTable:
    """``dataset`` as an imported model's input; for a CSV (``spec``), its raw cells too."""
    table = InputTable.from_dataset(dataset)
    if dataset.schema is None:
        return table
    from chainml.models.infer import read_table

    cells = read_table(Path(spec), delimiter=dataset.schema.delimiter).cells
    columns = tuple(column for column in cells if column != dataset.schema.target)
    values = np.array([cells[column] for column in columns], dtype=object).T
    raw = InputTable(table.name, columns, values, table.labels, table.order, table.source)
    label = {"column": dataset.schema.target, "positive": dataset.schema.positive}
    return InputTable(table.name, table.columns, table.values, table.labels, table.order,
                      table.source, raw=raw, label=label)  # fmt: skip


def encoded_dataset(artifact: ModelArtifact, spec: str, data_dir: Path) -> Dataset | None:
    """The rows of ``spec`` as an imported pipeline that encodes raw columns takes them.

    Its own one-hot encoding (from the card) over the CSV's columns, by name, and the label the
    card records: the dataset it was judged on at import, commitment for commitment. None for
    any other model (its features come from the dataset as it is).
    """
    from chainml.models.importers.encoding import ColumnEncoding

    imported = artifact.card.get("imported") or {}
    if imported.get("encoding") is None:
        return None
    label = imported.get("label") or {}
    table = evaluation_data(
        spec, data_dir, target=label.get("column"), positive=label.get("positive")
    )
    encoding = ColumnEncoding.from_document(imported["encoding"])
    table = table.select(encoding.columns)
    return Dataset(table.name, encoding.transform(table.values), table.labels,
                   artifact.feature_names, table.order, table.source)  # fmt: skip


class ImportedEstimator(Estimator):
    """A read-only estimator over an imported model (what ``save_model`` and the card read)."""

    kind = "imported"

    def __init__(self, imported: ImportedModel | None = None) -> None:
        self.imported = imported

    def _model(self) -> ImportedModel:
        if self.imported is None:
            raise InvalidInputError("no imported model")
        return self.imported

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The original model's hyperparameters (as far as its file records them)."""
        return dict(self._model().hyperparameters)

    @property
    def booster_(self) -> Any:
        """The parsed booster (LightGBM, XGBoost) for ONNX export; None otherwise."""
        return self._model().booster

    def native_params(self) -> dict[str, Any]:
        """The native parameter document."""
        return self._model().params

    def native_files(self) -> dict[str, bytes]:
        """``params.json`` and the model file it pins."""
        return dict(self._model().native_files)

    def decision_function(self, X: npt.ArrayLike) -> FloatArray:  # noqa: N803
        """Logits from the native parameters (model features, not raw columns)."""
        return native_logit(self._model(), X)


def native_logit(imported: ImportedModel, features: npt.ArrayLike) -> FloatArray:
    """Logits from the imported model's native document (chainml's own float64 evaluator)."""
    if imported.kind in native.BOOSTER_KINDS:
        return native.booster_logit(imported.kind, imported.booster, features)
    if imported.kind == "mlp":
        return native.mlp_logit(imported.params, features)
    return native.linear_logit(imported.params, features)


def reference_parity(
    imported: ImportedModel, table: InputTable, features: FloatArray
) -> dict[str, Any]:
    """Compare chainml's probabilities with the original library's on every row."""
    expected = imported.reference(table.values)
    got = native.sigmoid(native_logit(imported, features))
    difference = np.abs(got - expected)
    worst = float(difference.max())
    if not worst <= IMPORT_TOLERANCE:
        row = int(np.argmax(difference))
        raise VerificationError(
            f"chainml's reading of the model disagrees with {imported.source['library']}: max "
            f"|p_chainml - p_library| = {worst:.3g} > {IMPORT_TOLERANCE:g} (row {row}: "
            f"{got[row]:.6g} vs {expected[row]:.6g})"
        )
    return {"rows": int(difference.size), "max_abs_diff_probability": worst,
            "tolerance": IMPORT_TOLERANCE, "reference": imported.source["library"]}  # fmt: skip


@dataclass(frozen=True)
class ImportResult:
    """A stored imported model, whether it is new, and where it can run."""

    artifact: ModelArtifact
    new: bool
    onchain: bool
    onchain_reason: str


def onchain_status(artifact: ModelArtifact) -> tuple[bool, str]:
    """Whether the model's integer twin can be compiled to a contract, and why (not)."""
    from chainml.inference.onchain import EIP170_LIMIT, estimated_code_bytes, smaller_model_hint

    try:
        require_proven(artifact.policy, artifact.model_id)
    except InvalidInputError as err:
        return False, f"log only (a zk proof later): {err}"
    model = artifact.policy.model
    size = estimated_code_bytes(model)
    if size > EIP170_LIMIT:
        return False, (
            f"log only (a zk proof later): about {size:,} bytes of contract code, over the "
            f"{EIP170_LIMIT:,}-byte limit (EIP-170); to run it on chain, "
            f"{smaller_model_hint(model)}"
        )
    return True, f"on chain: {artifact.kind} integer model, about {size:,} bytes of contract code"


def import_model(
    source: str,
    table: InputTable,
    data_dir: Path,
    *,
    dataset_spec: str | None = None,
    trust: Sequence[str] = (),
    allow_pickle: bool = False,
    tracking_uri: str | None = None,
    threshold_rule: str = DEFAULT_RULE,
    resamples: int = 1000,
    input_rounding: str = "exact",
    split: str | None = None,
) -> ImportResult:
    """Import the model at ``source`` (file or MLflow URI), judged on ``table``; store it."""
    metrics.parse_rule(threshold_rule)
    imported = read_model(
        source, table.columns, trust=trust, allow_pickle=allow_pickle, tracking_uri=tracking_uri
    )
    return store_import(
        imported, table, data_dir, dataset_spec=dataset_spec, threshold_rule=threshold_rule,
        resamples=resamples, input_rounding=input_rounding, split=split,
    )  # fmt: skip


def store_import(
    imported: ImportedModel,
    table: InputTable,
    data_dir: Path,
    *,
    dataset_spec: str | None = None,
    threshold_rule: str = DEFAULT_RULE,
    resamples: int = 1000,
    input_rounding: str = "exact",
    split: str | None = None,
) -> ImportResult:
    """Check, place the threshold of, evaluate and store an already read model."""
    from chainml.models.artifacts import save_model

    start = time.perf_counter()
    if imported.encoding is not None:
        table = table.select(imported.encoding.columns)  # raw columns, by name
        features = imported.encoding.transform(table.values)
    else:
        features = np.asarray(table.values, dtype=np.float64)
    dataset = Dataset(table.name, features, table.labels, imported.feature_names, table.order,
                      table.source)  # fmt: skip
    parity = reference_parity(imported, table, features)
    parts = make_split(dataset, split)  # as training splits: by time, else stratified
    fit_x = parts.fit.features
    inputs = input_specs(dataset.feature_names, np.all(fit_x == np.round(fit_x), axis=0).tolist())
    policy = decision_policy(
        imported.params, imported.booster, inputs, threshold_rule, parts.validation.features,
        parts.validation.labels, input_rounding=input_rounding,
    )  # fmt: skip
    estimator = ImportedEstimator(imported)
    test_logits = estimator.decision_function(parts.test.features)
    trained = TrainedModel(
        kind=imported.kind, estimator=estimator, dataset=dataset, split=parts, seed=0,
        threshold_rule=threshold_rule, threshold=policy.threshold_logit,
        training=Measurement(seconds=time.perf_counter() - start), policy=policy,
        test_logits=test_logits,
    )  # fmt: skip
    for name, part, logits in (
        ("validation", parts.validation, estimator.decision_function(parts.validation.features)),
        ("test", parts.test, test_logits),
    ):
        result = metrics.evaluate(
            part.labels, logits, policy.threshold_logit, resamples=resamples, seed=0,
            flagged=integer_decisions(policy, part.features),
        )  # fmt: skip
        if name == "test":
            trained.metrics = result
        else:
            trained.validation_metrics = result
    encoding = imported.encoding.document() if imported.encoding is not None else None
    record = {**imported.source, "encoding": encoding, "parity_with_library": parity}
    if table.label is not None:
        record["label"] = table.label
    artifact, new = save_model(
        data_dir, trained, dataset_spec=dataset_spec, card_extra={"imported": record}
    )
    onchain, reason = onchain_status(artifact)
    return ImportResult(artifact, new, onchain, reason)

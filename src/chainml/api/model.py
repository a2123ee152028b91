"""``chainml.Model``: a stored, verified model — trained, evaluated and registered from Python.

``Model.train_each`` is ``chainml model train`` (for each kind: fit on the split, place the
integer threshold, evaluate on the test split, export and verify the ONNX graph, store card
and files) and ``Model.train`` its one-kind form; ``Model.load`` is what every other command
starts from; ``evaluate`` and ``register`` are ``model evaluate`` and ``model register``.
Scoring follows scikit-learn's names: ``decision_function`` (logits), ``predict_proba`` (two
columns) and ``predict`` (the decisions of record: the integer model against the integer
threshold, as on chain).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from chainml.api.dataset import Dataset, default_data_dir
from chainml.errors import InvalidInputError
from chainml.models.dataset import FloatArray

if TYPE_CHECKING:
    from chainml.chain import Env
    from chainml.governance.registration import Registration
    from chainml.models.artifacts import ModelArtifact
    from chainml.models.schema import Schema
    from chainml.models.train import StepReporter, TrainedModel

#: ``Model.train``'s kinds: logistic regression, LightGBM, a small MLP.
KINDS = ("lr", "lgbm", "mlp")


@dataclass(frozen=True)
class Model:
    """A stored model (its files verified against its id) in a data directory."""

    artifact: ModelArtifact
    data_dir: Path
    trained: TrainedModel | None = None  # the training run, when this object made the model
    new: bool = False  # True when training stored it (False: it was stored already)

    @classmethod
    def train(
        cls,
        dataset: Dataset,
        kind: str = "lr",
        *,
        seed: int = 0,
        split: str | None = None,
        threshold_rule: str = "f1",
        use: str | None = None,
        labels: tuple[str, str] | None = None,
        preset: str = "quality",
        params: dict[str, Any] | None = None,
        resamples: int = 1000,
        round_inputs: bool = False,
        data_dir: Path | str | None = None,
        steps: StepReporter | None = None,
    ) -> Model:
        """Train a ``kind`` model on ``dataset`` and store it (in the dataset's data directory).

        ``split`` is ``time``, ``random``, ``stratified`` or ``group:COLUMN`` (load the dataset
        with ``order=`` or ``group=`` that column); default: by time when the data has a time
        column, else stratified. ``threshold_rule`` is ``f1``, ``fpr:RATE``, ``recall:RATE``
        or ``probability:P`` on the validation slice; ``use`` names what the model is for and
        ``labels`` its decision words for class 1 and 0 (e.g. ``("flag", "ok")``);
        ``preset`` is LightGBM's (``quality`` or ``compact``); ``params`` are the
        estimator's hyperparameters; ``round_inputs`` lets the service
        round a fraction sent for an integral feature. Storing the same model again leaves
        the stored one untouched (``new`` is then False).
        """
        [model] = cls.train_each(
            dataset, (kind,), seed=seed, split=split, threshold_rule=threshold_rule, use=use,
            labels=labels, preset=preset, params=params, resamples=resamples,
            round_inputs=round_inputs, data_dir=data_dir, steps=steps,
        )  # fmt: skip
        return model

    @classmethod
    def train_each(
        cls,
        dataset: Dataset,
        kinds: Sequence[str] = KINDS,
        *,
        seed: int = 0,
        split: str | None = None,
        threshold_rule: str = "f1",
        use: str | None = None,
        labels: tuple[str, str] | None = None,
        preset: str = "quality",
        params: dict[str, Any] | None = None,
        resamples: int = 1000,
        round_inputs: bool = False,
        data_dir: Path | str | None = None,
        steps: StepReporter | None = None,
    ) -> list[Model]:
        """Train one model of each of ``kinds`` on the same split (``chainml model train``).

        The options are :meth:`train`'s (``params`` needs a single kind: they differ per
        kind). All or nothing: when one kind fails, the models this call stored are removed
        and the dataset's schema is not stored.
        """
        from chainml.models.artifacts import save_model
        from chainml.models.metrics import parse_rule
        from chainml.models.split import make_split
        from chainml.models.tabular import store_schema
        from chainml.models.train import train_model

        unknown = [kind for kind in kinds if kind not in KINDS]
        if unknown or not kinds:
            raise InvalidInputError(
                f"kind must be one of {', '.join(KINDS)}; got {', '.join(map(repr, unknown))}"
            )
        if params and len(kinds) > 1:
            raise InvalidInputError("params need a single kind (parameters differ per kind)")
        parse_rule(threshold_rule)  # fail before the expensive part
        folder = Path(data_dir) if data_dir is not None else dataset.data_dir
        parts = make_split(dataset.data, split, seed=seed)
        models: list[Model] = []
        try:
            for kind in kinds:
                trained = train_model(
                    dataset.data, kind, seed=seed,
                    params={**({"preset": preset} if kind == "lgbm" else {}), **(params or {})},
                    threshold_rule=threshold_rule, split=parts, resamples=resamples,
                    steps=steps, input_rounding="nearest" if round_inputs else "exact",
                )  # fmt: skip
                artifact, new = save_model(
                    folder, trained, dataset_spec=dataset.spec, use=use, labels=labels
                )
                models.append(cls(artifact, folder, trained, new))
        except BaseException:
            for model in models:  # a failed run leaves nothing behind
                if model.new:
                    shutil.rmtree(model.path, ignore_errors=True)
            raise
        if dataset.schema is not None:  # later loads of this file encode it the same way
            store_schema(folder, Path(dataset.spec), dataset.schema)
        return models

    @classmethod
    def import_(
        cls,
        source: str | Path,
        dataset: Dataset,
        *,
        trust: tuple[str, ...] = (),
        allow_pickle: bool = False,
        tracking_uri: str | None = None,
        threshold_rule: str = "f1",
        resamples: int = 1000,
        split: str | None = None,
        round_inputs: bool = False,
        data_dir: Path | str | None = None,
    ) -> Model:
        """Import a model trained elsewhere (``chainml model import``) and store it.

        ``source`` is a skops file (scikit-learn), a LightGBM text model, an XGBoost
        ``.json``/``.ubj`` file, a linear ONNX graph, or an MLflow ``models:/NAME/VERSION`` or
        ``runs:/ID/PATH`` URI (with ``tracking_uri``). skops files load only the types
        scikit-learn ships plus those named in ``trust``; pickles only with ``allow_pickle``.
        The model is evaluated on ``dataset``'s test split and stored with its card, ONNX
        graph and integer decision policy, as training stores one; ``split`` and
        ``round_inputs`` are as in :meth:`train`. :meth:`onchain_status` says whether it can
        also be compiled on chain.
        """
        from chainml.models.importing import import_model, input_table

        folder = Path(data_dir) if data_dir is not None else dataset.data_dir
        result = import_model(
            str(source), input_table(dataset.data, dataset.spec), folder,
            dataset_spec=dataset.spec, trust=trust, allow_pickle=allow_pickle,
            tracking_uri=tracking_uri, threshold_rule=threshold_rule, resamples=resamples,
            split=split, input_rounding="nearest" if round_inputs else "exact",
        )  # fmt: skip
        return cls(result.artifact, folder, None, result.new)

    @classmethod
    def load(cls, model_id: str, *, data_dir: Path | str | None = None) -> Model:
        """The stored model ``model_id`` (or a unique prefix), its hashes checked."""
        from chainml.models.artifacts import load_model

        folder = default_data_dir(data_dir)
        return cls(load_model(folder, model_id), folder)

    @property
    def model_id(self) -> str:
        """SHA-256 over the ONNX file and the decision policy (``0x`` hex)."""
        return self.artifact.model_id

    @property
    def kind(self) -> str:
        """``logistic_regression``, ``lightgbm`` or ``mlp``."""
        return self.artifact.kind

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The model's inputs, in order."""
        return self.artifact.feature_names

    @property
    def schema(self) -> Schema | None:
        """The encoding of raw records into its features (None: it takes numbers only)."""
        return self.artifact.schema

    @property
    def card(self) -> dict[str, Any]:
        """The model card (metrics, threshold, dataset commitment, versions)."""
        return self.artifact.card

    @property
    def path(self) -> Path:
        """The directory of its files (``model.onnx``, ``policy.json``, ``card.json``, ...)."""
        return self.artifact.path

    def decision_function(self, X: npt.ArrayLike) -> FloatArray:  # noqa: N803
        """Logits (raw scores), in float64."""
        return self.artifact.predict_logit(X)

    def predict_proba(self, X: npt.ArrayLike) -> FloatArray:  # noqa: N803
        """Probabilities of class 0 and class 1, one row per example."""
        positive = self.artifact.predict_proba(X)
        return np.column_stack([1.0 - positive, positive])

    def predict(self, X: npt.ArrayLike) -> npt.NDArray[np.int8]:  # noqa: N803
        """The decisions of record (1: the integer score reaches the integer threshold)."""
        return self.artifact.decide(X).astype(np.int8)

    def dataset(
        self, spec: str | None = None, *, target: str | None = None, order: str | None = None
    ) -> Dataset:
        """The rows of ``spec`` (default: the card's dataset) as this model takes them.

        A model with a schema encodes them with it (and groups them by the column its
        ``group:COLUMN`` split used); an imported pipeline that encodes raw columns itself
        encodes them with its own encoding and reads the label its card records; other models
        take the dataset's numeric features (``target`` and ``order`` name a CSV's label and
        time columns).
        """
        from chainml.models.importing import encoded_dataset

        spec = spec or self.card["dataset"].get("spec")
        if spec is None:
            raise InvalidInputError(
                "the card names no dataset spec (the model was not trained from a dataset "
                "spec); give the dataset to evaluate on (--data)"
            )
        encoded = encoded_dataset(self.artifact, spec, self.data_dir)
        if encoded is not None:
            return Dataset(encoded, spec, self.data_dir)
        group = None
        if self.schema is not None:  # split as it was
            method = str(self.card["dataset"].get("split", {}).get("method", ""))
            group = method.partition(":")[2] if method.startswith("group:") else None
        return Dataset.load(
            spec, target=target, order=order, schema=self.schema, group=group,
            data_dir=self.data_dir,
        )  # fmt: skip

    def evaluate(self, dataset: Dataset | None = None, *, resamples: int = 1000) -> dict[str, Any]:
        """Metrics at the model's threshold: on its own test split, or on every row of others.

        Without ``dataset``, :meth:`dataset` loads the card's dataset again, encoded as the
        model takes it.
        """
        from chainml.models.evaluate import evaluate_model

        data = dataset if dataset is not None else self.dataset()
        return evaluate_model(self.artifact, data.data, resamples=resamples)

    def onchain_status(self) -> tuple[bool, str]:
        """Whether its integer model can be compiled to a contract, and why (not)."""
        from chainml.models.importing import onchain_status

        return onchain_status(self.artifact)

    def register(self, env: Env, *, uri: str | None = None) -> Registration:
        """Record the model in ``env``'s registry (deploying governance on first use).

        ``uri`` says where the files can be fetched (default: their directory's file URI).
        Approval is a separate governance vote.
        """
        from chainml.governance.registration import register_model

        return register_model(
            env, self.data_dir, self.artifact, uri or self.path.resolve().as_uri()
        )

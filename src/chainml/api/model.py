"""``chainml.Model``: a stored, verified model — trained, evaluated and registered from Python.

``Model.train`` is ``chainml model train`` for one kind (fit on the split, place the integer
threshold, evaluate on the test split, export and verify the ONNX graph, store card and
files); ``Model.load`` is what every other command starts from; ``evaluate`` and ``register``
are ``model evaluate`` and ``model register``. Scoring follows scikit-learn's names:
``decision_function`` (logits), ``predict_proba`` (two columns) and ``predict`` (the
decisions of record: the integer model against the integer threshold, as on chain).
"""

from __future__ import annotations

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
        from chainml.models.artifacts import save_model
        from chainml.models.split import make_split
        from chainml.models.tabular import store_schema
        from chainml.models.train import train_model

        if kind not in KINDS:
            raise InvalidInputError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
        folder = Path(data_dir) if data_dir is not None else dataset.data_dir
        trained = train_model(
            dataset.data, kind, seed=seed,
            params={**({"preset": preset} if kind == "lgbm" else {}), **(params or {})},
            threshold_rule=threshold_rule, split=make_split(dataset.data, split, seed=seed),
            resamples=resamples, steps=steps,
            input_rounding="nearest" if round_inputs else "exact",
        )  # fmt: skip
        artifact, new = save_model(
            folder, trained, dataset_spec=dataset.spec, use=use, labels=labels
        )
        if dataset.schema is not None:  # later loads of this file encode it the same way
            store_schema(folder, Path(dataset.spec), dataset.schema)
        return cls(artifact, folder, trained, new)

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
        data_dir: Path | str | None = None,
    ) -> Model:
        """Import a model trained elsewhere (``chainml model import``) and store it.

        ``source`` is a skops file (scikit-learn), a LightGBM text model, an XGBoost
        ``.json``/``.ubj`` file, a linear ONNX graph, or an MLflow ``models:/NAME/VERSION`` or
        ``runs:/ID/PATH`` URI (with ``tracking_uri``). skops files load only the types
        scikit-learn ships plus those named in ``trust``; pickles only with ``allow_pickle``.
        The model is evaluated on ``dataset``'s test split and stored with its card, ONNX
        graph and integer decision policy, as training stores one; ``split`` is as in
        :meth:`train`.
        """
        from chainml.models.importing import import_model, input_table

        folder = Path(data_dir) if data_dir is not None else dataset.data_dir
        result = import_model(
            str(source), input_table(dataset.data, dataset.spec), folder,
            dataset_spec=dataset.spec, trust=trust, allow_pickle=allow_pickle,
            tracking_uri=tracking_uri, threshold_rule=threshold_rule, resamples=resamples,
            split=split,
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

    def evaluate(self, dataset: Dataset | None = None, *, resamples: int = 1000) -> dict[str, Any]:
        """Metrics at the model's threshold: on its own test split, or on every row of others.

        Without ``dataset`` the card's dataset spec is loaded again (a model trained from the
        CLI or :meth:`train` records it), encoded with the model's own schema.
        """
        from chainml.models.evaluate import evaluate_model

        if dataset is None:
            spec = self.card["dataset"].get("spec")
            if spec is None:
                raise InvalidInputError(
                    "the card names no dataset spec; pass the dataset to evaluate on"
                )
            method = str(self.card["dataset"].get("split", {}).get("method", ""))
            group = method.partition(":")[2] if method.startswith("group:") else None
            dataset = Dataset.load(spec, schema=self.schema, group=group, data_dir=self.data_dir)
        return evaluate_model(self.artifact, dataset.data, resamples=resamples)

    def register(self, env: Env, *, uri: str | None = None) -> Registration:
        """Record the model in ``env``'s registry (deploying governance on first use).

        ``uri`` says where the files can be fetched (default: their directory's file URI).
        Approval is a separate governance vote.
        """
        from chainml.governance.registration import register_model

        return register_model(
            env, self.data_dir, self.artifact, uri or self.path.resolve().as_uri()
        )

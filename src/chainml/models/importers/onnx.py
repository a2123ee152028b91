"""Plain ONNX graphs of linear classifiers, rewritten as chainml's ``logistic_regression``.

Read: a binary ``LinearClassifier`` with a ``LOGISTIC`` post-transform (what skl2onnx writes
for ``LogisticRegression``), optionally after one ``Scaler`` (``StandardScaler``), or a single
``Gemm`` with one output column (a logit) feeding a ``Sigmoid``. The graph's float32
parameters are the model; chainml evaluates them in float64 and checks the result against
onnxruntime running the original graph. Other graphs (trees, networks, arbitrary operators)
are refused with the operators found: they cannot become an integer model yet.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from chainml.errors import InvalidInputError
from chainml.models import native
from chainml.models.importers import ImportedModel

#: Operators that only reshape or relabel the outputs (labels, ZipMap), never the score.
OUTPUT_ONLY = {"Cast", "ZipMap", "Normalizer", "Identity", "ArgMax", "Reshape"}


def _attributes(node: Any) -> dict[str, Any]:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _linear(
    nodes: list[Any], initializers: dict[str, Any], width: int, what: str
) -> tuple[Any, ...]:
    """``(coef, intercept, mean, scale)`` of the graph, or InvalidInputError naming why not."""
    ops = [n.op_type for n in nodes]
    scaler = [n for n in nodes if n.op_type == "Scaler"]
    mean, scale = np.zeros(width), np.ones(width)
    if len(scaler) > 1:
        raise InvalidInputError(f"{what}: more than one Scaler")
    if scaler:
        attributes = _attributes(scaler[0])
        offset = np.asarray(attributes.get("offset", [0.0]), np.float64)
        factor = np.asarray(attributes.get("scale", [1.0]), np.float64)
        mean = np.broadcast_to(offset, (width,)).copy()
        scale = 1.0 / np.broadcast_to(factor, (width,))  # (x - offset) * s == (x - mean) / (1/s)
    if "LinearClassifier" in ops:
        attributes = _attributes(nodes[ops.index("LinearClassifier")])
        coefficients = np.asarray(attributes["coefficients"], np.float64)
        intercepts = np.asarray(attributes.get("intercepts", [0.0]), np.float64)
        labels = attributes.get("classlabels_ints") or attributes.get("classlabels_strings") or []
        transform = attributes.get("post_transform", b"NONE")
        if (
            len(labels) != 2
            or transform != b"LOGISTIC"
            or coefficients.size not in (width, 2 * width)
        ):
            raise InvalidInputError(
                f"{what}: a binary LinearClassifier with post_transform LOGISTIC over {width} "
                f"inputs is needed (found {len(labels)} classes, {transform!r})"
            )
        coef = coefficients[-width:]  # the positive class's row (the last of one or two)
        return coef, float(intercepts[-1]), mean, scale
    gemm = [n for n in nodes if n.op_type == "Gemm"]
    if len(gemm) == 1 and "Sigmoid" in ops and not scaler:
        attributes = _attributes(gemm[0])
        weights = np.asarray(initializers[gemm[0].input[1]], np.float64)
        bias = np.asarray(initializers[gemm[0].input[2]], np.float64).reshape(-1)
        weights = weights.T if attributes.get("transB", 0) else weights
        if weights.shape != (width, 1) or bias.size != 1:
            raise InvalidInputError(f"{what}: the Gemm must map {width} inputs to one logit")
        alpha, beta = attributes.get("alpha", 1.0), attributes.get("beta", 1.0)
        return alpha * weights[:, 0], beta * float(bias[0]), mean, scale
    raise InvalidInputError(
        f"{what}: operators {', '.join(dict.fromkeys(ops))}; a plain ONNX graph is imported when "
        "it is a linear classifier (LinearClassifier or Gemm + Sigmoid); import the original "
        "scikit-learn (.skops), LightGBM (.txt) or XGBoost (.json/.ubj) file instead"
    )


def _probabilities(session: Any, name: str, rows: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """The positive class's probability from onnxruntime, whatever shape the output has."""
    x = np.asarray(rows, dtype=np.float32)
    for output, value in zip(session.get_outputs(), session.run(None, {name: x}), strict=True):
        if isinstance(value, list) and value and isinstance(value[0], dict):  # ZipMap
            keys = sorted(value[0])
            return np.array([row[keys[-1]] for row in value], dtype=np.float64)
        array = np.asarray(value)
        if array.dtype.kind == "f" and array.ndim == 2 and array.shape[1] == 2:
            return np.asarray(array[:, 1], dtype=np.float64)
        if array.dtype.kind == "f" and output.name in ("probability", "probabilities"):
            return np.asarray(array.reshape(len(x), -1)[:, -1], dtype=np.float64)
    raise InvalidInputError("the ONNX graph has no probability output")


def read_onnx(data: bytes, feature_names: Sequence[str], what: str) -> ImportedModel:
    """A plain ONNX linear classifier (see the module docstring)."""
    import onnx
    import onnxruntime
    from onnx import numpy_helper

    try:
        model = onnx.load_from_string(data)
        onnx.checker.check_model(model)
    except Exception as err:  # onnx raises protobuf and checker errors of many kinds
        raise InvalidInputError(f"{what}: not a valid ONNX model ({err})") from err
    graph = model.graph
    inputs = [i for i in graph.input if i.name not in {t.name for t in graph.initializer}]
    if len(inputs) != 1:
        raise InvalidInputError(f"{what}: one input tensor is needed, found {len(inputs)}")
    width = len(feature_names)
    initializers = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    nodes = [n for n in graph.node if n.op_type not in OUTPUT_ONLY]
    coef, intercept, mean, scale = _linear(nodes, initializers, width, what)
    params = native.linear_params(tuple(feature_names), mean, scale, coef, intercept)
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])

    def reference(rows: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
        return _probabilities(session, inputs[0].name, rows)

    return ImportedModel(
        kind="logistic_regression", params=params,
        native_files={"params.json": native.dumps(params)}, reference=reference,
        source={"format": "onnx", "file": what.rsplit("/", 1)[-1],
                "sha256": hashlib.sha256(data).hexdigest(),
                "library": f"onnxruntime {onnxruntime.__version__}",
                "estimator": " -> ".join(n.op_type for n in graph.node),
                "producer": f"{model.producer_name} {model.producer_version}".strip()},
        hyperparameters={},
    )  # fmt: skip

"""ONNX artifacts: canonical graphs of every model kind, and their check against the native model.

Logistic regression and the MLP become plain ``Gemm``/``Relu`` graphs (the standardization is
folded into the first ``Gemm``) with two outputs, ``logit`` and ``probability`` (``Sigmoid``),
so zk tooling can consume them. LightGBM and XGBoost go through onnxmltools
(``TreeEnsembleClassifier``, outputs ``label`` and ``probabilities``). The input is ``input``:
float32 ``[N, features]``.

The bytes are canonical: fixed producer, no timestamps, deterministic protobuf serialization,
so the same data and seed give the same bytes. The ONNX graph computes in float32: it is for
interoperability (other runtimes, zk tooling); the decision of record is the integer model of
``policy.json`` (:mod:`chainml.inference.policy`), and the model id covers both files.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import numpy.typing as npt

from chainml.errors import InvalidInputError, VerificationError
from chainml.models import native
from chainml.models.dataset import FloatArray

PRODUCER = "chainml"
PRODUCER_VERSION = "onnx/1"  # the artifact format, not the package version: ids stay stable
OPSET = 15
IR_VERSION = 8
INPUT = "input"
#: Max |probability(ONNX) - probability(native)| accepted; float32 inference vs float64.
TOLERANCE = 1e-4


#: What the ONNX artifact is for (recorded in every card).
ONNX_ROLE = (
    "interoperability: a float32 graph for other runtimes and zk tooling; the decision of record "
    "is the integer model in policy.json (score_int >= threshold_int), as in the contract"
)
#: How a model id is derived (recorded in every card).
MODEL_ID_DEFINITION = (
    "SHA-256 of (SHA-256 of model.onnx || SHA-256 of policy.json): the float graph and the "
    "integer decision policy (integer model, threshold, input scales, rule) together"
)


def model_id(onnx_bytes: bytes, policy_bytes: bytes) -> str:
    """The model id: ``0x`` + SHA-256 of the two files' SHA-256 digests, ONNX first.

    It covers the decision policy, so the same float model with another threshold rule (or
    another integer threshold) is another model.
    """
    digests = hashlib.sha256(onnx_bytes).digest() + hashlib.sha256(policy_bytes).digest()
    return "0x" + hashlib.sha256(digests).hexdigest()


def _canonical(model: Any, params: dict[str, Any]) -> bytes:
    from onnx import checker, helper

    model.producer_name = PRODUCER
    model.producer_version = PRODUCER_VERSION
    model.domain = ""
    model.model_version = 1
    model.doc_string = ""
    model.graph.name = params["kind"]
    model.graph.doc_string = ""
    del model.metadata_props[:]
    helper.set_model_props(model, {"chainml.kind": params["kind"]})
    checker.check_model(model)
    return bytes(model.SerializeToString(deterministic=True))


def _dense_graph(params: dict[str, Any]) -> Any:
    """Gemm (standardization folded in) [-> Relu -> Gemm ...] -> logit, Sigmoid -> probability."""
    from onnx import TensorProto, helper, numpy_helper

    mean = np.asarray(params["mean"])
    scale = np.asarray(params["scale"])
    if params["kind"] == "logistic_regression":
        layers = [(np.asarray(params["coef"])[:, None], np.asarray([params["intercept"]]))]
        activations = ["identity"]
    else:
        layers = [(np.asarray(d["weights"]), np.asarray(d["bias"])) for d in params["layers"]]
        activations = params["activations"]
    first_w, first_b = layers[0]
    # W' = W / scale (row-wise), b' = b - (mean / scale) @ W: (x - m)/s @ W + b == x @ W' + b'
    layers[0] = (first_w / scale[:, None], first_b - (mean / scale) @ first_w)
    nodes, initializers = [], []
    current = INPUT
    for k, ((w, b), activation) in enumerate(zip(layers, activations, strict=True)):
        last = k == len(layers) - 1
        out = "logit" if last else f"gemm{k}"
        initializers += [
            numpy_helper.from_array(w.astype(np.float32), f"W{k}"),
            numpy_helper.from_array(b.astype(np.float32), f"B{k}"),
        ]
        nodes.append(helper.make_node("Gemm", [current, f"W{k}", f"B{k}"], [out], name=f"gemm{k}"))
        current = out
        if activation == "relu" and not last:
            nodes.append(helper.make_node("Relu", [out], [f"relu{k}"], name=f"relu{k}"))
            current = f"relu{k}"
    nodes.append(helper.make_node("Sigmoid", ["logit"], ["probability"], name="sigmoid"))
    width = len(params["feature_names"])
    graph = helper.make_graph(
        nodes,
        params["kind"],
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["N", width])],
        [
            helper.make_tensor_value_info("logit", TensorProto.FLOAT, ["N", 1]),
            helper.make_tensor_value_info("probability", TensorProto.FLOAT, ["N", 1]),
        ],
        initializer=initializers,
    )
    return helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION
    )


def _lightgbm_graph(booster: Any, width: int) -> Any:
    import onnxmltools
    from onnxmltools.convert.common.data_types import FloatTensorType

    model = onnxmltools.convert_lightgbm(
        booster,
        initial_types=[(INPUT, FloatTensorType([None, width]))],
        zipmap=False,
        target_opset=OPSET,
    )
    model.ir_version = IR_VERSION
    return model


def _xgboost_graph(booster: Any, width: int) -> Any:
    import onnxmltools
    from onnxmltools.convert.common.data_types import FloatTensorType

    model = onnxmltools.convert_xgboost(
        booster, initial_types=[(INPUT, FloatTensorType([None, width]))], target_opset=OPSET
    )
    model.ir_version = IR_VERSION
    return model


def build_onnx(params: dict[str, Any], booster: Any = None) -> bytes:
    """The canonical ONNX bytes of a model given its native parameter document."""
    kind = params["kind"]
    if kind in ("logistic_regression", "mlp"):
        return _canonical(_dense_graph(params), params)
    if kind == "lightgbm":
        if booster is None:
            raise InvalidInputError("a LightGBM model needs its booster to be exported")
        return _canonical(_lightgbm_graph(booster, len(params["feature_names"])), params)
    if kind == "xgboost":
        if booster is None:
            raise InvalidInputError("an XGBoost model needs its booster to be exported")
        return _canonical(_xgboost_graph(booster, len(params["feature_names"])), params)
    raise InvalidInputError(f"cannot export a model of kind {kind!r}")


def onnx_probabilities(onnx_bytes: bytes, features: npt.ArrayLike) -> FloatArray:
    """Probabilities of class 1 computed by onnxruntime from the ONNX bytes."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    x = np.asarray(features, dtype=np.float32)
    if "probability" in names:
        return np.asarray(session.run(["probability"], {INPUT: x})[0][:, 0], dtype=np.float64)
    return np.asarray(session.run(["probabilities"], {INPUT: x})[0][:, 1], dtype=np.float64)


def verify_onnx(
    onnx_bytes: bytes,
    native_logits: FloatArray,
    features: npt.ArrayLike,
    tolerance: float = TOLERANCE,
) -> dict[str, Any]:
    """Compare onnxruntime's probabilities with the native model's on ``features``.

    Returns the report recorded in the card; raises :class:`VerificationError` when the largest
    absolute difference exceeds ``tolerance``.
    """
    expected = native.sigmoid(native_logits)
    got = onnx_probabilities(onnx_bytes, features)
    difference = np.abs(got - expected)
    worst = float(difference.max()) if difference.size else 0.0
    if not worst <= tolerance:
        row = int(np.argmax(difference))
        raise VerificationError(
            f"ONNX and native model disagree: max |p_onnx - p_native| = {worst:.3g} > "
            f"{tolerance:g} (row {row}: {got[row]:.6g} vs {expected[row]:.6g})"
        )
    return {
        "rows": int(difference.size),
        "max_abs_diff_probability": worst,
        "tolerance": tolerance,
        "runtime": "onnxruntime",
    }

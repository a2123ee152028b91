"""The zk circuit's model: the integer model of record as a plain ONNX graph EZKL proves exactly.

EZKL quantizes a float graph: ``round(value * 2**scale)`` for inputs (``input_scale``) and
constants (``param_scale``). chainml proves the *integer* model of record instead, so both
scales are 0 (the denominator is ``2**0 = 1``) and every number is already an integer:

- inputs: the record's fixed-point features ``x_int = round(x * s_i)`` (``s_i`` is 1 or
  2**20, ``policy.json``), handed to EZKL as field elements (a float would lose digits
  above 2**24 or 2**53);
- constants: the integer weights and bias (at ``score_scale = 2**F``). ONNX constants are
  float32, exact only for 24-bit mantissas, so each integer ``w`` is split into 24-bit limbs
  ``w = sum_k limb_k * 2**(24k)``; every ``limb_k * 2**(24k)`` is an exact float32, and the
  graph ``Gemm(x, W[n, K], B[K]) -> ReduceSum`` adds the limbs back inside the circuit;
- output: ``bias + sum(w_i * x_int_i)`` at scale 0, which *is* the logged ``score``, bit for
  bit (and ``score / score_scale`` is the float logit, as in the log).

No sigmoid: the log records the logit, and a lookup table would make proving far slower.
Field elements are BN254 scalars; an integer ``v`` is ``v mod r`` (negative numbers wrap),
written as EZKL writes them: 32 bytes little-endian, hex, no ``0x``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from chainml.errors import InvalidInputError
from chainml.inference.fixedpoint import FixedPointModel, LinearModel

#: The BN254 scalar field's order: EZKL's (and the verifier's) field.
FIELD = 21888242871839275222246405745257275088548364400416034343698204186575808495617
LIMB_BITS = 24  # float32 carries 24 significant bits exactly
MAX_LIMBS = 5  # limb_k * 2**(24k) stays below float32's 2**128
#: EZKL computes the witness in 128-bit integers: a proof needs every partial sum below this.
WITNESS_BITS = 126
#: Integers below 2**252 in magnitude map to distinct field elements (r > 2**253).
FIELD_BITS = 252
INPUT = "input"
OUTPUT = "score"


def felt(value: int) -> str:
    """An integer as EZKL's field element: ``value mod r``, 32 bytes little-endian, hex."""
    return (value % FIELD).to_bytes(32, "little").hex()


def felt_int(text: str) -> int:
    """The signed integer of an EZKL field element (above r/2 is negative)."""
    value = int.from_bytes(bytes.fromhex(text), "little")
    if value >= FIELD:
        raise InvalidInputError(f"{text} is not a field element")
    return value - FIELD if value > FIELD // 2 else value


def word(value: int) -> int:
    """An integer as the verifier contract's ``uint256`` instance: ``value mod r``."""
    return value % FIELD


def limbs(value: int, count: int) -> list[int]:
    """``value`` as ``count`` signed terms ``limb_k * 2**(24k)``, each an exact float32."""
    sign, rest = (-1 if value < 0 else 1), abs(value)
    terms = [sign * ((rest >> (LIMB_BITS * k)) & ((1 << LIMB_BITS) - 1)) << (LIMB_BITS * k)
             for k in range(count)]  # fmt: skip
    if sum(terms) != value:
        raise InvalidInputError(f"{value} needs more than {count} limbs of {LIMB_BITS} bits")
    return terms


def limb_count(model: LinearModel) -> int:
    """How many 24-bit limbs the largest weight or bias needs (refused above MAX_LIMBS)."""
    bits = max(abs(v).bit_length() for v in (*model.weights, model.bias, 1))
    count = -(-bits // LIMB_BITS)
    if count > MAX_LIMBS:
        raise InvalidInputError(
            f"a weight has {bits} bits; the zk circuit carries at most "
            f"{MAX_LIMBS * LIMB_BITS} (retrain with fewer weight bits)"
        )
    return count


def supported(model: FixedPointModel) -> LinearModel:
    """The model as a circuit can prove it exactly, or InvalidInputError saying why not."""
    if not isinstance(model, LinearModel):
        raise InvalidInputError(
            f"zk proofs cover logistic regression so far; this model is a "
            f"{type(model).__name__} (its integer layers outgrow EZKL's 128-bit witness)"
        )
    bound = model.max_magnitude()
    if bound.bit_length() > FIELD_BITS:
        raise InvalidInputError(
            f"the model's scores reach 2**{bound.bit_length()} over its input ranges, beyond "
            f"the 2**{FIELD_BITS} that BN254's field tells apart"
        )
    return model


def check_witness_range(model: LinearModel, features: Sequence[int]) -> None:
    """Refuse features whose partial sums leave EZKL's 128-bit witness (a prover limit).

    Soundness does not depend on it: the circuit's equations hold in the field, and over the
    model's declared input box every score is below 2**252 (:func:`supported`), so a field
    equality is the integer equality. Only witness generation needs the smaller numbers.
    """
    bound = abs(model.bias) + sum(abs(w * x) for w, x in zip(model.weights, features, strict=True))
    if bound.bit_length() > WITNESS_BITS:
        raise InvalidInputError(
            f"this decision's partial sums reach 2**{bound.bit_length()}; EZKL's witness "
            f"generation holds 2**{WITNESS_BITS} (its features are far outside the training data)"
        )


def circuit_onnx(model: FixedPointModel, rows: int = 1) -> bytes:
    """The canonical ONNX bytes of the exact integer circuit (see the module docstring).

    ``rows`` > 1 makes a batch circuit: ``rows`` decisions, one score each, in one proof.
    """
    from onnx import TensorProto, checker, helper, numpy_helper

    linear = supported(model)
    count = limb_count(linear)
    weights = np.array([limbs(w, count) for w in linear.weights], dtype=np.float64)
    bias = np.array(limbs(linear.bias, count), dtype=np.float64)
    for array in (weights, bias):  # the float32 constants must hold the integers exactly
        if not np.array_equal(array.astype(np.float32).astype(np.float64), array):
            raise InvalidInputError("a weight limb is not an exact float32")  # pragma: no cover
    width = linear.n_features
    graph = helper.make_graph(
        [
            helper.make_node("Gemm", [INPUT, "W", "B"], ["limbs"], name="limbs"),
            helper.make_node("ReduceSum", ["limbs", "axes"], [OUTPUT], keepdims=1, name="sum"),
        ],
        "chainml_zk_linear",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, [rows, width])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, [rows, 1])],
        initializer=[
            numpy_helper.from_array(weights.astype(np.float32), "W"),
            numpy_helper.from_array(bias.astype(np.float32), "B"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), "axes"),
        ],
    )
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)], ir_version=8)
    onnx_model.producer_name = "chainml"
    onnx_model.producer_version = "zk/1"
    checker.check_model(onnx_model)
    return bytes(onnx_model.SerializeToString(deterministic=True))


def input_document(rows: Sequence[Sequence[int]]) -> dict[str, list[list[str]]]:
    """EZKL's input file for integer feature rows (concatenated, as EZKL reads batches)."""
    return {"input_data": [[felt(int(v)) for row in rows for v in row]]}

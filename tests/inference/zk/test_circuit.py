"""The exact integer circuit: limbs, field elements, the ONNX graph (no EZKL run here)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chainml.errors import InvalidInputError
from chainml.inference.fixedpoint import DenseLayer, InputSpec, LinearModel, MLPModel
from chainml.inference.zk import circuit

INPUTS = tuple(InputSpec(f"f{i}", 1, -(2**64), 2**64 - 1) for i in range(3))


@given(st.integers(min_value=-(2**119), max_value=2**119))
def test_limbs_are_exact_float32_and_add_back(value: int) -> None:
    terms = circuit.limbs(value, circuit.MAX_LIMBS)
    assert sum(terms) == value
    assert all(float(np.float32(t)) == t for t in terms)  # exact float32 constants


@given(st.integers(min_value=-(2**252) + 1, max_value=2**252 - 1))
def test_field_elements_round_trip(value: int) -> None:
    assert circuit.felt_int(circuit.felt(value)) == value
    assert circuit.word(value) == int.from_bytes(bytes.fromhex(circuit.felt(value)), "little")


def test_a_weight_too_wide_for_the_limbs_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="more than 1 limbs"):
        circuit.limbs(2**30, 1)
    model = LinearModel(INPUTS, (2**130, 1, 1), 0, 0, 1)
    with pytest.raises(InvalidInputError, match="at most 120"):
        circuit.circuit_onnx(model)


def test_the_onnx_constants_are_the_integer_weights() -> None:
    import onnx
    from onnx import numpy_helper

    model = LinearModel(INPUTS, (3 * 2**50 + 7, -(2**40) - 5, 12345), -(2**47) + 3, 0, 2**50)
    graph = onnx.load_from_string(circuit.circuit_onnx(model)).graph
    arrays = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in graph.initializer}
    weights = [sum(int(v) for v in row) for row in arrays["W"]]
    assert weights == list(model.weights)
    assert sum(int(v) for v in arrays["B"]) == model.bias
    assert [n.op_type for n in graph.node] == ["Gemm", "ReduceSum"]  # no sigmoid


def test_mlp_is_refused_with_the_reason() -> None:
    layers = (DenseLayer(((1, 2, 3),), (0,)),)
    model = MLPModel(INPUTS, layers, 0, 1)
    with pytest.raises(InvalidInputError, match="logistic regression"):
        circuit.circuit_onnx(model)


def test_witness_range_is_checked_per_decision() -> None:
    model = LinearModel(INPUTS, (2**63, 1, 1), 0, 0, 1)
    circuit.check_witness_range(model, [2**60, 5, 5])
    with pytest.raises(InvalidInputError, match="witness generation holds"):
        circuit.check_witness_range(model, [2**64 - 1, 0, 0])

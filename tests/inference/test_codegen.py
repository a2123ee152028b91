"""Generated Vyper contracts score bit-exactly like the Python reference, on both backends."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainml.chain import Contract, Env
from chainml.chain.compiler import compile_source
from chainml.errors import ContractRevertError, InvalidInputError
from chainml.inference.codegen import TERMS_PER_STATEMENT, generate_vyper
from chainml.inference.fixedpoint import FixedPointModel, InputSpec
from chainml.inference.onchain import estimated_code_bytes, smaller_model_hint
from chainml.inference.quantize import (
    default_inputs,
    quantize_linear,
    quantize_mlp,
    quantize_trees,
)

MODEL_ID = "0x" + "5e" * 32
N = 6
SCALE = 2**20
LOW, HIGH = -(2**64), 2**64 - 1


def linear() -> FixedPointModel:
    rng = np.random.default_rng(1)
    return quantize_linear(
        rng.normal(size=N).tolist(),
        -0.3,
        rng.normal(size=N).tolist(),
        rng.uniform(0.5, 2, N).tolist(),
        default_inputs([f"f{i}" for i in range(N)], SCALE),
        0.25,
    )


def mlp() -> FixedPointModel:
    rng = np.random.default_rng(2)
    return quantize_mlp(
        [
            (rng.normal(size=(4, N)).tolist(), rng.normal(size=4).tolist()),
            (rng.normal(size=(1, 4)).tolist(), [0.1]),
        ],
        [0.0] * N,
        [1.0] * N,
        default_inputs([f"f{i}" for i in range(N)], SCALE),
        -0.5,
    )


def trees() -> FixedPointModel:
    stump = [
        (2, 0.5, 1, 2, 0.0),
        (-1, 0.0, 0, 0, -0.75),
        (4, -1.25, 3, 4, 0.0),
        (-1, 0.0, 0, 0, 0.5),
        (-1, 0.0, 0, 0, 1.5),
    ]
    other = [(0, 0.0, 1, 2, 0.0), (-1, 0.0, 0, 0, 0.25), (-1, 0.0, 0, 0, -0.125)]
    return quantize_trees(
        [stump, other], 0.0625, default_inputs([f"f{i}" for i in range(N)], SCALE), 0.5
    )


MODELS = {"linear": linear, "mlp": mlp, "trees": trees}


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    cache = tmp_path_factory.mktemp("generated")
    return {
        name: (make(), compile_source(generate_vyper(make(), MODEL_ID, name), name, cache))
        for name, make in MODELS.items()
    }


@pytest.fixture(params=sorted(MODELS))
def deployed(request, env: Env, compiled) -> tuple[FixedPointModel, Contract]:
    model, code = compiled[request.param]
    return model, env.deploy(code)


def edge_inputs(model: FixedPointModel) -> list[list[int]]:
    """Range limits, zeros and values exactly at (and next to) every split threshold."""
    rows = [[LOW] * N, [HIGH] * N, [0] * N, [LOW, HIGH] * (N // 2), [-1] * N, [1] * N]
    for tree in getattr(model, "trees", ()):
        for node in tree:
            if node.feature >= 0:
                for delta in (-1, 0, 1):
                    row = [0] * N
                    row[node.feature] = node.threshold + delta
                    rows.append(row)
    return rows


def test_constants_describe_the_model(deployed):
    model, contract = deployed
    assert contract.MODEL_ID() == bytes.fromhex(MODEL_ID[2:])
    assert contract.N_FEATURES() == N
    assert contract.THRESHOLD() == model.threshold


def test_edge_inputs_are_bit_exact(deployed):
    model, contract = deployed
    for row in edge_inputs(model):
        assert tuple(contract.decide(row)) == model.decide(row), row
        assert contract.score(row) == model.score(row)


def test_out_of_range_inputs_revert_like_the_reference_refuses(deployed):
    model, contract = deployed
    for index, value in ((0, LOW - 1), (N - 1, HIGH + 1), (3, -(2**255))):
        row = [0] * N
        row[index] = value
        with pytest.raises(InvalidInputError):
            model.score(row)
        with pytest.raises(ContractRevertError, match="feature out of range"):
            contract.score(row)


@pytest.fixture(scope="module")
def on_embedded(embedded_env: Env, compiled) -> list[tuple[FixedPointModel, Contract]]:
    return [(model, embedded_env.deploy(code)) for model, code in compiled.values()]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(st.lists(st.integers(LOW, HIGH), min_size=N, max_size=N), max_size=4))
def test_random_inputs_are_bit_exact_on_the_embedded_chain(on_embedded, rows):
    for model, contract in on_embedded:
        for row in rows:
            assert tuple(contract.decide(row)) == model.decide(row)


def test_input_spec_with_asymmetric_range_is_checked_on_both_ends(embedded_env, tmp_path):
    inputs = (InputSpec("amount", 1, 0, 10**12), InputSpec("hour", 1, 0, 23))
    model = quantize_linear([1.0, -2.0], 0.0, [0.0, 0.0], [1.0, 1.0], inputs, 0.0)
    contract = embedded_env.deploy(
        compile_source(generate_vyper(model, MODEL_ID), "asym", tmp_path)
    )
    assert tuple(contract.decide([5, 2])) == model.decide([5, 2])
    for bad in ([-1, 0], [0, 24], [10**12 + 1, 0]):
        with pytest.raises(ContractRevertError, match="out of range"):
            contract.decide(bad)


def _deepest_nesting(source: str) -> int:
    depth = deepest = 0
    for char in source:
        depth += {"(": 1, ")": -1}.get(char, 0)
        deepest = max(deepest, depth)
    return deepest


def test_wide_models_compile_in_short_statements_and_stay_bit_exact(embedded_env, tmp_path):
    """A one-hot encoded CSV gives hundreds of 0/1 features: one nested sum over 300 of them
    was over Python's (so Vyper's) 200-parenthesis limit and did not compile at all."""
    wide = 300
    rng = np.random.default_rng(3)
    inputs = default_inputs([f"c={i}" for i in range(wide)], 1)
    models = {
        "linear": quantize_linear(
            rng.normal(size=wide).tolist(), -0.2, [0.0] * wide, [1.0] * wide, inputs, 0.1
        ),
        "mlp": quantize_mlp(
            [(rng.normal(size=(2, wide)).tolist(), [0.1, -0.1]), ([[1.0, -1.0]], [0.0])],
            [0.0] * wide,
            [1.0] * wide,
            inputs,
            0.0,
        ),
    }
    for name, model in models.items():
        source = generate_vyper(model, MODEL_ID, name)
        assert _deepest_nesting(source) <= TERMS_PER_STATEMENT + 2
        compiled = compile_source(source, f"wide_{name}", tmp_path)
        size = len(compiled.runtime_bytecode)  # what import and compile estimate beforehand
        assert 0.7 < estimated_code_bytes(model) / size < 1.4, (name, size)
        contract = embedded_env.deploy(compiled)
        for row in (rng.integers(0, 2, wide).tolist() for _ in range(5)):
            assert tuple(contract.decide(row)) == model.decide(row), name


def test_a_model_too_wide_for_a_contract_is_told_how_to_shrink() -> None:
    wide = 1075  # German credit with every column one-hot encoded, numbers included
    model = quantize_linear(
        [0.5] * wide, 0.0, [0.0] * wide, [1.0] * wide, default_inputs(["f"] * wide, 1), 0.0
    )
    assert estimated_code_bytes(model) > 24_576
    assert "fewer features than 1,075" in smaller_model_hint(model)
    assert "trees" in smaller_model_hint(trees())

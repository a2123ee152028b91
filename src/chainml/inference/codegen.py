"""Vyper code generation: one contract per fixed-point model, with the weights in the code.

Weights, biases, thresholds and split points are literals (PUSH operands), never storage slots,
so a score costs arithmetic, not cold SLOADs. Features are read straight from calldata. Every
input is range-checked first; with the inputs bounded, :meth:`FixedPointModel.max_magnitude`
proves that no intermediate value leaves int256, which is why the arithmetic is ``unsafe_*``
(no overflow checks to pay for) and still equals the Python reference bit for bit.

Interface of every generated contract::

    MODEL_ID: bytes32, N_FEATURES: uint256, THRESHOLD: int256, SCORE_SCALE: int256 (constants)
    score(x: int256[N]) -> int256
    decide(x: int256[N]) -> (int256, bool)      # (score, score >= THRESHOLD)
"""

from __future__ import annotations

from collections.abc import Sequence

from chainml.errors import InvalidInputError
from chainml.inference.fixedpoint import (
    FixedPointModel,
    InputSpec,
    LinearModel,
    MLPModel,
    TreeEnsembleModel,
    TreeNode,
)

INDENT = "    "


#: Terms per statement of a long sum: Vyper parses with Python's parser, which refuses more
#: than 200 nested parentheses (a one-hot encoded CSV easily has 1,000 features).
TERMS_PER_STATEMENT = 64


def _accumulate(bias: int | str, weights: Sequence[int], operands: Sequence[str]) -> str:
    """``bias + sum(w * v)`` as nested ``unsafe_*`` calls (``bias``: a literal or a name).

    Negative weights are subtracted, so every literal is a short positive PUSH rather than a
    32-byte two's-complement one.
    """
    expression = str(bias)  # one literal per sum; a negative one is a PUSH32
    for weight, operand in zip(weights, operands, strict=True):
        if weight > 0:
            expression = f"unsafe_add({expression}, unsafe_mul({operand}, {weight}))"
        elif weight < 0:
            expression = f"unsafe_sub({expression}, unsafe_mul({operand}, {-weight}))"
    return expression


def _power_of_two_bits(spec: InputSpec) -> int | None:
    """The k of a range that is exactly [-2**k, 2**k - 1], else None."""
    span = spec.high - spec.low + 1
    if spec.low == -spec.high - 1 and span & (span - 1) == 0 and span >= 2:
        return span.bit_length() - 2
    return None


def _range_checks(inputs: Sequence[InputSpec]) -> list[str]:
    """Revert unless every input is inside its range.

    For a range [-2**k, 2**k - 1], ``(x >> k) + 1`` is 0 or 1 exactly inside it, so the OR of
    those terms over all such inputs is 0 or 1 exactly when all are inside: one comparison
    for all of them. Other ranges get two comparisons each.
    """
    terms, lines = [], []
    for index, spec in enumerate(inputs):
        bits = _power_of_two_bits(spec)
        if bits is not None:
            terms.append(f"unsafe_add(x[{index}] >> {bits}, 1)")
        else:
            lines.append(
                f"assert x[{index}] >= {spec.low} and x[{index}] <= {spec.high}, "
                f'"feature {index} out of range"'
            )
    if terms:
        lines.insert(0, f"inside: int256 = {' | '.join(terms)}")
        lines.insert(1, 'assert inside >= 0 and inside <= 1, "feature out of range"')
    return lines


def _sum_lines(
    name: str, bias: int, weights: Sequence[int], operands: Sequence[str], *, relu: bool = False
) -> list[str]:
    """``name = bias + sum(w * v)``, then ``max(., 0)`` with ``relu``, in short statements.

    At most :data:`TERMS_PER_STATEMENT` terms each; the same operations in the same order, so
    the same value.
    """
    step = TERMS_PER_STATEMENT
    if len(operands) <= step:  # one expression, as short models always had
        expression = _accumulate(bias, weights, operands)
        return [f"{name}: int256 = {f'max({expression}, 0)' if relu else expression}"]
    lines = [f"{name}: int256 = {_accumulate(bias, weights[:step], operands[:step])}"]
    for start in range(step, len(operands), step):
        chunk = slice(start, start + step)
        lines.append(f"{name} = {_accumulate(name, weights[chunk], operands[chunk])}")
    return [*lines, f"{name} = max({name}, 0)"] if relu else lines


def _linear_body(model: LinearModel) -> list[str]:
    operands = [f"x[{i}]" for i in range(model.n_features)]
    return _sum_lines("s", model.bias, model.weights, operands)


def _mlp_body(model: MLPModel) -> list[str]:
    lines: list[str] = []
    operands = [f"x[{i}]" for i in range(model.n_features)]
    for depth, layer in enumerate(model.layers[:-1]):
        names = [f"h{depth}_{j}" for j in range(len(layer.bias))]
        for name, row, bias in zip(names, layer.weights, layer.bias, strict=True):
            lines += _sum_lines(name, bias, row, operands, relu=True)
        operands = names
    last = model.layers[-1]
    return [*lines, *_sum_lines("s", last.bias[0], last.weights[0], operands)]


def _split(feature: int, threshold: int) -> str:
    """``x[feature] <= threshold``, written so that every literal is a short PUSH.

    A negative threshold is compared negated (``-x >= -t``; inputs are bounded, so no overflow)
    instead of as a 32-byte two's complement literal.
    """
    if threshold >= 0:
        return f"x[{feature}] <= {threshold}"
    return f"unsafe_sub(0, x[{feature}]) >= {-threshold}"


def _tree_expression(tree: Sequence[TreeNode], index: int, prefix: str) -> str:
    node = tree[index]
    if node.feature < 0:
        return f"{prefix}{index}"
    left = _tree_expression(tree, node.left, prefix)
    right = _tree_expression(tree, node.right, prefix)
    return f"({left} if {_split(node.feature, node.threshold)} else {right})"


def _trees_body(model: TreeEnsembleModel) -> tuple[list[str], list[str]]:
    """Each tree is one conditional expression over named leaf constants.

    Leaves are shifted by their tree's smallest value so that every leaf literal is
    non-negative (short PUSHes); the shifts are added back in the starting bias.
    """
    constants: list[str] = []
    lines: list[str] = []
    bias = model.bias
    for number, tree in enumerate(model.trees):
        lowest = min(node.value for node in tree if node.feature < 0)
        bias += lowest
        for index, node in enumerate(tree):
            if node.feature < 0:
                value = node.value - lowest
                constants.append(f"T{number}_{index}: constant(int256) = {value}")
        expression = _tree_expression(tree, 0, f"T{number}_")
        lines.append(f"s = unsafe_add(s, {expression})")
    return constants, [f"s: int256 = {bias}", *lines]


def _body(model: FixedPointModel) -> tuple[list[str], list[str]]:
    """Constant declarations and the statements that compute ``s``, the score."""
    if isinstance(model, LinearModel):
        return [], _linear_body(model)
    if isinstance(model, MLPModel):
        return [], _mlp_body(model)
    if isinstance(model, TreeEnsembleModel):
        return _trees_body(model)
    raise InvalidInputError(f"no code generator for {type(model).__name__}")


def _model_id_literal(model_id: str) -> str:
    digits = model_id.removeprefix("0x")
    if len(digits) != 64 or any(c not in "0123456789abcdefABCDEF" for c in digits):
        raise InvalidInputError(f"model id must be 32 bytes of hex, got {model_id!r}")
    return "0x" + digits.lower()


def generate_vyper(model: FixedPointModel, model_id: str, title: str = "model") -> str:
    """Vyper 0.4 source of the contract that scores exactly as ``model.score`` does."""
    model.assert_no_overflow()
    n = model.n_features
    checks = _range_checks(model.inputs)
    constants, statements = _body(model)
    body = [*checks, *statements, "return s"]
    indented = [INDENT + line for line in body]
    scale = getattr(model, "score_scale", 1)
    bound = max(model.max_magnitude(), abs(model.threshold)).bit_length()
    return "\n".join(
        [
            "# pragma version ~=0.4.3",
            '"""',
            f"@title {title} (generated by chainml; do not edit)",
            f"@notice {type(model).__name__} over {n} int256 features; decide = score >= THRESHOLD",
            f"@dev every intermediate |value| < 2**{bound} over the checked input ranges, so the",
            "     unchecked arithmetic cannot overflow int256 (chainml.inference.fixedpoint).",
            '"""',
            "",
            f"MODEL_ID: public(constant(bytes32)) = {_model_id_literal(model_id)}",
            f"N_FEATURES: public(constant(uint256)) = {n}",
            f"THRESHOLD: public(constant(int256)) = {model.threshold}",
            f"SCORE_SCALE: public(constant(int256)) = {scale}",
            *constants,
            "",
            "",
            "@internal",
            "@pure",
            f"def _score(x: int256[{n}]) -> int256:",
            *indented,
            "",
            "",
            "@external",
            "@pure",
            f"def score(x: int256[{n}]) -> int256:",
            f"{INDENT}return self._score(x)",
            "",
            "",
            "@external",
            "@pure",
            f"def decide(x: int256[{n}]) -> (int256, bool):",
            f"{INDENT}s: int256 = self._score(x)",
            f"{INDENT}return s, s >= THRESHOLD",
            "",
        ]
    )

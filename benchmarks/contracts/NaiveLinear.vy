# pragma version ~=0.4.3
"""
@title NaiveLinear (benchmark baseline)
@notice Logistic regression the straightforward way: weights, bias and threshold in storage
        (one slot each, written by the constructor) and a loop of checked arithmetic.
@dev The benchmark sets N_FEATURES per model; the interface matches the generated contracts.
"""

N_FEATURES: public(constant(uint256)) = 30

weights: public(int256[N_FEATURES])
bias: public(int256)
threshold: public(int256)


@deploy
def __init__(weights: int256[N_FEATURES], bias: int256, threshold: int256):
    self.weights = weights
    self.bias = bias
    self.threshold = threshold


@internal
@view
def _score(x: int256[N_FEATURES]) -> int256:
    s: int256 = self.bias
    for i: uint256 in range(N_FEATURES):
        s += self.weights[i] * x[i]
    return s


@external
@view
def score(x: int256[N_FEATURES]) -> int256:
    return self._score(x)


@external
@view
def decide(x: int256[N_FEATURES]) -> (int256, bool):
    s: int256 = self._score(x)
    return s, s >= self.threshold

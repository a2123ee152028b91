# pragma version ~=0.4.3
"""
@title NaiveMLP (benchmark baseline)
@notice A ReLU MLP the straightforward way: layer widths, weights and biases in storage (one
        slot per number, loaded by the owner in chunks) and nested loops of checked arithmetic.
@dev The benchmark sets N_FEATURES per model; the interface matches the generated contracts.
     Weights are stored layer by layer, [output][input]; biases layer by layer.
"""

N_FEATURES: public(constant(uint256)) = 30
MAX_WIDTH: constant(uint256) = 64
MAX_LAYERS: constant(uint256) = 4
MAX_CHUNK: constant(uint256) = 512

owner: public(address)
widths: public(DynArray[uint256, MAX_LAYERS])  # outputs of each layer; the last is 1
weights: public(HashMap[uint256, int256])
biases: public(HashMap[uint256, int256])
threshold: public(int256)


@deploy
def __init__(widths: DynArray[uint256, MAX_LAYERS], threshold: int256):
    self.owner = msg.sender
    self.widths = widths
    self.threshold = threshold


@external
def load_weights(offset: uint256, values: DynArray[int256, MAX_CHUNK]):
    assert msg.sender == self.owner, "not the owner"
    for i: uint256 in range(len(values), bound=MAX_CHUNK):
        self.weights[offset + i] = values[i]


@external
def load_biases(offset: uint256, values: DynArray[int256, MAX_CHUNK]):
    assert msg.sender == self.owner, "not the owner"
    for i: uint256 in range(len(values), bound=MAX_CHUNK):
        self.biases[offset + i] = values[i]


@internal
@view
def _score(x: int256[N_FEATURES]) -> int256:
    values: DynArray[int256, MAX_WIDTH] = []
    for v: int256 in x:
        values.append(v)
    w: uint256 = 0
    b: uint256 = 0
    layers: uint256 = len(self.widths)
    for layer: uint256 in range(layers, bound=MAX_LAYERS):
        out: DynArray[int256, MAX_WIDTH] = []
        for j: uint256 in range(self.widths[layer], bound=MAX_WIDTH):
            acc: int256 = self.biases[b]
            b += 1
            for v: int256 in values:
                acc += self.weights[w] * v
                w += 1
            if layer + 1 < layers:
                acc = max(acc, 0)
            out.append(acc)
        values = out
    return values[0]


@external
@view
def score(x: int256[N_FEATURES]) -> int256:
    return self._score(x)


@external
@view
def decide(x: int256[N_FEATURES]) -> (int256, bool):
    s: int256 = self._score(x)
    return s, s >= self.threshold

# pragma version ~=0.4.3
"""
@title NaiveTrees (benchmark baseline)
@notice A tree ensemble the straightforward way: node tables in storage (split feature,
        threshold, children, leaf value: one slot each, one tree added per transaction by the
        owner) walked from each root in a loop with checked arithmetic.
@dev The benchmark sets N_FEATURES per model; the interface matches the generated contracts.
"""

N_FEATURES: public(constant(uint256)) = 30
MAX_TREES: constant(uint256) = 1024
MAX_NODES: constant(uint256) = 255  # per tree: depth 7
MAX_DEPTH: constant(uint256) = 64

owner: public(address)
bias: public(int256)
threshold: public(int256)
n_trees: public(uint256)
n_nodes: public(uint256)
roots: public(HashMap[uint256, uint256])  # tree -> index of its root node
feature: public(HashMap[uint256, int256])  # node -> split feature; -1 marks a leaf
split: public(HashMap[uint256, int256])  # node -> x[feature] <= split goes left
left: public(HashMap[uint256, uint256])
right: public(HashMap[uint256, uint256])
leaf_value: public(HashMap[uint256, int256])


@deploy
def __init__(bias: int256, threshold: int256):
    self.owner = msg.sender
    self.bias = bias
    self.threshold = threshold


@external
def add_tree(
    features: DynArray[int256, MAX_NODES],
    splits: DynArray[int256, MAX_NODES],
    lefts: DynArray[uint256, MAX_NODES],
    rights: DynArray[uint256, MAX_NODES],
    values: DynArray[int256, MAX_NODES],
):
    """Append one tree; children are indices within the tree, the root is its first node."""
    assert msg.sender == self.owner, "not the owner"
    n: uint256 = len(features)
    assert len(splits) == n and len(lefts) == n and len(rights) == n and len(values) == n
    base: uint256 = self.n_nodes
    for i: uint256 in range(n, bound=MAX_NODES):
        node: uint256 = base + i
        self.feature[node] = features[i]
        if features[i] >= 0:
            assert convert(features[i], uint256) < N_FEATURES, "unknown feature"
            self.split[node] = splits[i]
            self.left[node] = base + lefts[i]
            self.right[node] = base + rights[i]
        else:
            self.leaf_value[node] = values[i]
    self.roots[self.n_trees] = base
    self.n_trees += 1
    self.n_nodes = base + n


@internal
@view
def _score(x: int256[N_FEATURES]) -> int256:
    s: int256 = self.bias
    for t: uint256 in range(self.n_trees, bound=MAX_TREES):
        node: uint256 = self.roots[t]
        for _: uint256 in range(MAX_DEPTH):
            f: int256 = self.feature[node]
            if f < 0:
                break
            if x[convert(f, uint256)] <= self.split[node]:
                node = self.left[node]
            else:
                node = self.right[node]
        s += self.leaf_value[node]
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

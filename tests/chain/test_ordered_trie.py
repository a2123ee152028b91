from eth.db.trie import _make_trie_root_and_nodes
from hypothesis import given, settings
from hypothesis import strategies as st

from chainml.chain.ordered_trie import ordered_trie

items = st.lists(st.binary(min_size=0, max_size=80), min_size=0, max_size=300)


@settings(max_examples=60, deadline=None)
@given(items)
def test_matches_py_evm_root_and_nodes(values: list[bytes]) -> None:
    expected_root, expected_nodes = _make_trie_root_and_nodes(tuple(values))
    root, nodes = ordered_trie(values)
    assert root == expected_root
    if values:
        # every node py-evm would store is stored, so lookups by index work later
        assert set(expected_nodes.items()) <= set(nodes.items())


def test_sizes_around_rlp_key_boundaries() -> None:
    # rlp(i) changes length at 128 and 256: keys of different lengths share prefixes
    for size in (1, 2, 16, 17, 127, 128, 129, 255, 256, 257, 1000):
        values = [bytes([i % 251]) * (1 + i % 40) for i in range(size)]
        assert ordered_trie(values)[0] == _make_trie_root_and_nodes(tuple(values))[0]


def test_a_changed_item_changes_the_root() -> None:
    values = [b"tx-%d" % i for i in range(50)]
    tampered = list(values)
    tampered[17] = b"tx-17!"
    assert ordered_trie(values)[0] != ordered_trie(tampered)[0]

"""Near-duplicate groups: files with overlapping identifier sets share a CV group."""

from __future__ import annotations

import re
from collections.abc import Sequence

_TOKEN = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*|\d+")


def near_duplicate_groups(
    sources: Sequence[bytes], keys: Sequence[str], threshold: float = 0.5
) -> list[str]:
    """A group name per source: components of Jaccard(token sets) >= ``threshold``.

    Sources sharing a key in ``keys`` share a group too.
    """
    n = len(sources)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        parent[find(i)] = find(j)

    tokens = [set(_TOKEN.findall(s)) for s in sources]
    first_of: dict[str, int] = {}
    for i, key in enumerate(keys):
        union(i, first_of.setdefault(key, i))
    for i in range(n):
        for j in range(i + 1, n):
            a, b = tokens[i], tokens[j]
            if a and b and len(a & b) >= threshold * len(a | b):
                union(i, j)
    return [f"g{find(i)}" for i in range(n)]

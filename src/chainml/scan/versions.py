"""Which Solidity compiler a source asks for: ``pragma solidity`` against installed releases."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

Version = tuple[int, int, int]

_PRAGMA = re.compile(rb"pragma\s+solidity\s+([^;]+);")
_COMPARATOR = re.compile(r"(\^|~|>=|<=|>|<|=)?\s*v?(\d+)(?:\.(\d+|x|\*))?(?:\.(\d+|x|\*))?")


def parse_version(text: str) -> Version:
    """``"0.4.24"`` as ``(0, 4, 24)``."""
    major, minor, patch = (int(p) for p in text.split("+")[0].split(".")[:3])
    return major, minor, patch


def format_version(version: Version) -> str:
    """``(0, 4, 24)`` as ``"0.4.24"``."""
    return ".".join(str(p) for p in version)


def pragmas(source: bytes) -> list[str]:
    """The version requirements of every ``pragma solidity`` in a comment-free source."""
    return [m.group(1).decode(errors="replace").strip() for m in _PRAGMA.finditer(source)]


def satisfies(version: Version, requirement: str) -> bool:
    """Whether ``version`` meets a semver ``requirement`` (``^0.4.19``, ``>=0.6 <0.8``)."""
    return any(_all_hold(version, alt) for alt in requirement.split("||"))


def choose(requirements: Sequence[str], installed: Iterable[Version]) -> Version | None:
    """The newest installed version meeting every requirement, or None."""
    fitting = [v for v in installed if all(satisfies(v, r) for r in requirements)]
    return max(fitting) if fitting else None


def _all_hold(version: Version, requirement: str) -> bool:
    comparators = list(_COMPARATOR.finditer(requirement.replace(" - ", " ")))
    return bool(comparators) and all(_holds(version, m) for m in comparators)


def _holds(version: Version, match: re.Match[str]) -> bool:
    op = match.group(1) or "="
    parts = [match.group(i) for i in (2, 3, 4)]
    wild = next((i for i, p in enumerate(parts) if p in (None, "x", "*")), 3)
    bound = tuple(int(p) if i < wild and p is not None else 0 for i, p in enumerate(parts))
    if op == "^":
        # ^0.4.19 -> <0.5.0, ^1.2.3 -> <2.0.0: the first nonzero part is held fixed
        fixed = next((i for i, p in enumerate(bound) if p), min(wild, 2))
        upper = tuple(bound[:fixed]) + (bound[fixed] + 1,) + (0,) * (2 - fixed)
        return bound <= version < upper
    if op == "~":
        fixed = min(max(wild - 1, 0), 1)
        upper = tuple(bound[:fixed]) + (bound[fixed] + 1,) + (0,) * (2 - fixed)
        return bound <= version < upper
    if op == "=" and wild < 3:
        return version[:wild] == bound[:wild]
    return {
        "=": version == bound,
        ">=": version >= bound,
        ">": version > bound,
        "<=": version <= bound,
        "<": version < bound,
    }[op]

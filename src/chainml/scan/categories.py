"""The vulnerability categories a scan names (SmartBugs Curated's, DASP-10 based)."""

from __future__ import annotations

CATEGORIES: tuple[str, ...] = (
    "reentrancy",
    "access_control",
    "arithmetic",
    "unchecked_low_level_calls",
    "denial_of_service",
    "bad_randomness",
    "front_running",
    "time_manipulation",
    "short_addresses",
    "other",
)

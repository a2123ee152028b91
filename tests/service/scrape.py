"""Reading /metrics in tests: samples by name and labels, parsed by prometheus_client's parser."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of sample ``name`` with exactly ``labels`` in the exposition ``text`` (or None)."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return float(found.value)
    return None


def types(text: str) -> dict[str, str]:
    """Each metric family's name and type in ``text``."""
    return {family.name: family.type for family in text_string_to_metric_families(text)}

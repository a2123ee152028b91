"""Whether a local model is the one its registry entry describes: the one check, used everywhere.

A stored model is trusted only as far as its hashes agree with the on-chain registry: the
artifact hash (of ``params.json``, which :func:`chainml.models.artifacts.load_model` has already
checked against the files) and the hash of ``card.json``. The CLI (``chainml model show`` and
``register``), the service's hot swap and the guard's installer all ask here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from chainml.errors import VerificationError
from chainml.governance.registry import RegisteredModel


class LocalModel(Protocol):
    """What the check reads of a stored model (a ``chainml.models.artifacts.ModelArtifact``)."""

    @property
    def model_id(self) -> str:
        """The model id (``0x`` hex)."""

    @property
    def card(self) -> Mapping[str, Any]:
        """The model card; its ``artifact_hash`` is checked against the files when loaded."""

    @property
    def card_hash(self) -> str:
        """The hash of ``card.json``."""


def registry_mismatches(model: LocalModel, entry: RegisteredModel) -> list[str]:
    """How ``model`` differs from its registry ``entry`` (empty when it matches)."""
    found = []
    artifact_hash = str(model.card.get("artifact_hash"))
    if entry.artifact_hash.lower() != artifact_hash.lower():
        found.append(
            f"params.json hashes to {artifact_hash}, the registry holds {entry.artifact_hash}"
        )
    if entry.card_hash.lower() != model.card_hash.lower():
        found.append(f"card.json hashes to {model.card_hash}, registry {entry.card_hash}")
    if entry.model_id.lower() != model.model_id.lower():
        found.append(f"the entry is for model {entry.model_id}, not {model.model_id}")
    return found


def check_matches_registry(model: LocalModel, entry: RegisteredModel) -> None:
    """Raise :class:`VerificationError` unless ``model`` is the one ``entry`` describes."""
    problems = registry_mismatches(model, entry)
    if problems:
        raise VerificationError(
            f"model {model.model_id} does not match its registry entry: {'; '.join(problems)}"
        )

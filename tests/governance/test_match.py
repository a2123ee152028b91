"""The one local-model-vs-registry check: every hash that differs is named, and it fails closed."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from chainml.errors import VerificationError
from chainml.governance.match import check_matches_registry, registry_mismatches
from chainml.governance.registry import ModelStatus, RegisteredModel

MODEL_ID = "0x" + "11" * 32
ARTIFACT = "0x" + "22" * 32
CARD = "0x" + "33" * 32


@dataclass(frozen=True)
class Stored:
    model_id: str = MODEL_ID
    card: dict[str, Any] = field(default_factory=lambda: {"artifact_hash": ARTIFACT})
    card_hash: str = CARD


ENTRY = RegisteredModel(
    model_id=MODEL_ID, artifact_hash=ARTIFACT, card_hash=CARD, uri="file:///m", registrant="0x" +
    "44" * 20, registered_block=1, status=ModelStatus.REGISTERED, use=None, contract=None,
    codehash=None,
)  # fmt: skip


def flipped(hex_hash: str) -> str:
    return hex_hash[:-1] + ("0" if hex_hash[-1] != "0" else "1")


def test_a_matching_model_passes() -> None:
    assert registry_mismatches(Stored(), ENTRY) == []
    check_matches_registry(Stored(), ENTRY)
    check_matches_registry(Stored(card_hash=CARD.upper().replace("0X", "0x")), ENTRY)


@pytest.mark.parametrize(
    ("stored", "entry", "said"),
    [
        (Stored(card={"artifact_hash": flipped(ARTIFACT)}), ENTRY, "params.json hashes to"),
        (Stored(card={}), ENTRY, "params.json hashes to None"),
        (Stored(card_hash=flipped(CARD)), ENTRY, "card.json hashes to"),
        (Stored(), replace(ENTRY, card_hash=flipped(CARD)), "card.json hashes to"),
        (Stored(), replace(ENTRY, model_id=flipped(MODEL_ID)), "the entry is for model"),
    ],
)
def test_each_difference_is_named_and_refused(stored: Stored, entry: RegisteredModel, said: str):
    assert any(said in problem for problem in registry_mismatches(stored, entry))
    with pytest.raises(VerificationError, match="does not match its registry entry"):
        check_matches_registry(stored, entry)

"""Why a challenge was not accepted: one typed error per revert reason of ChallengeableLog.

The contract reverts with a fixed reason string for each inadmissible challenge; at the
boundary (:func:`challenge_error`) that reason becomes the matching error, the revert kept as
its cause. A correct record is a verification outcome (exit 3: the fraud proof does not check
out); a closed window, an unknown or already faulty head are refusals of the chain (exit 5);
a record that is not in the head or features that do not match the commitment are bad input
(exit 2).
"""

from __future__ import annotations

from chainml.errors import (
    ChainMLError,
    ContractRevertError,
    InvalidInputError,
    TransactionRejectedError,
    VerificationError,
)


class ChallengeError(ChainMLError):
    """A challenge that the contract did not accept (no fault proven, nothing paid)."""

    def __init__(self, message: str, *, index: int, size: int, reason: str | None) -> None:
        self.index = index
        self.size = size
        self.reason = reason  # the contract's revert reason, verbatim
        super().__init__(message)


class RecordCorrectError(ChallengeError, VerificationError):
    """The model re-executed on chain agrees with the record: there is no fraud to prove."""


class WindowClosedError(ChallengeError, TransactionRejectedError):
    """The head's challenge window has ended: it is final."""


class HeadNotAnchoredError(ChallengeError, TransactionRejectedError):
    """The contract holds no head of that size (never anchored, or a reorg dropped it)."""


class HeadFaultyError(ChallengeError, TransactionRejectedError):
    """The head was already proven faulty (by this or another challenger)."""


class WrongHeadError(ChallengeError, InvalidInputError):
    """The record is not new in that head: challenge it through the first head that has it."""


class NotIncludedError(ChallengeError, InvalidInputError):
    """The inclusion proof does not show the record in the anchored head."""


class FeaturesMismatchError(ChallengeError, InvalidInputError):
    """Supplied features do not hash to the record's input commitment (or are missing)."""


class NotChallengeableError(ChallengeError, TransactionRejectedError):
    """The record's model cannot be re-executed (no contract, or not the registered code)."""


class ChallengeRevertedError(ChallengeError, TransactionRejectedError):
    """Any other revert (out of gas in the re-execution, a reentrancy guard, ...)."""


_BY_REASON: tuple[tuple[str, type[ChallengeError], str], ...] = (
    ("record is correct", RecordCorrectError, "the record is correct: nothing to challenge"),
    ("challenge window closed", WindowClosedError, "the head is final (its window closed)"),
    ("head not anchored", HeadNotAnchoredError, "the contract holds no head of that size"),
    ("head already proven faulty", HeadFaultyError, "the head is already proven faulty"),
    ("record belongs to an earlier head", WrongHeadError, "the record is in an earlier head"),
    ("record is not included", NotIncludedError, "the inclusion proof does not check out"),
    ("features", FeaturesMismatchError, "the supplied features do not fit the record"),
    ("the record has no features", FeaturesMismatchError, "the record needs features"),
    ("the record carries its features", FeaturesMismatchError, "supply no features"),
    ("approved model has no contract", NotChallengeableError, "the model has no contract"),
    ("code is not the one registered", NotChallengeableError, "the model's code changed"),
)


def challenge_error(err: ContractRevertError, *, index: int, size: int) -> ChallengeError:
    """The typed error for a reverted challenge of record ``index`` in head ``size``."""
    reason = err.reason or ""
    for prefix, kind, summary in _BY_REASON:
        if prefix in reason:
            return kind(
                f"challenge of record {index} in head {size} refused: {summary} ({reason})",
                index=index,
                size=size,
                reason=err.reason,
            )
    return ChallengeRevertedError(
        f"challenge of record {index} in head {size} reverted: {reason or 'no reason'}",
        index=index,
        size=size,
        reason=err.reason,
    )

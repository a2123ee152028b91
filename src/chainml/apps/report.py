"""A self-contained HTML report: facts, tables, figures (PNG inlined) and example receipts.

One file, no scripts, no external resources, so it can be archived next to the data it
describes and opened anywhere. Everything is escaped; figures are matplotlib PNGs.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from chainml.files import write_atomic

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; color: #222; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: .5rem 0; } td, th { padding: .25rem .6rem;
border-bottom: 1px solid #eee; text-align: left; vertical-align: top; }
th { background: #f6f6f6; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { display: inline-block; margin: .5rem 1rem .5rem 0; } img { max-width: 34rem; }
pre { background: #f6f6f6; padding: .75rem; overflow-x: auto; font-size: 12px; }
.ok { color: #17803d; } .bad { color: #b42318; }
"""


@dataclass
class Report:
    """What the report shows, section by section, in the order added."""

    title: str
    sections: list[tuple[str, str]] = field(default_factory=list)  # (heading, HTML body)

    def facts(self, heading: str, rows: Sequence[tuple[str, Any]]) -> None:
        """A two-column table of name and value."""
        body = "".join(
            f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
            for k, v in rows
        )
        self.sections.append((heading, f"<table>{body}</table>"))

    def table(self, heading: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """A table with a header row; numbers are right-aligned."""
        head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
        lines = []
        for row in rows:
            cells = "".join(
                f'<td class="num">{html.escape(_number(v))}</td>'
                if isinstance(v, int | float)
                else f"<td>{html.escape(str(v))}</td>"
                for v in row
            )
            lines.append(f"<tr>{cells}</tr>")
        self.sections.append((heading, f"<table><tr>{head}</tr>{''.join(lines)}</table>"))

    def figures(self, heading: str, images: Sequence[tuple[str, bytes]]) -> None:
        """PNG images with captions, inlined as data URIs."""
        body = "".join(
            f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,'
            f'{base64.b64encode(png).decode()}"><figcaption>{html.escape(caption)}'
            "</figcaption></figure>"
            for caption, png in images
        )
        self.sections.append((heading, body))

    def text(self, heading: str, paragraphs: Sequence[str]) -> None:
        """Plain paragraphs."""
        self.sections.append((heading, "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)))

    def documents(self, heading: str, documents: Sequence[tuple[str, Any]]) -> None:
        """JSON documents (e.g. receipts), pretty-printed."""
        body = "".join(
            f"<h3>{html.escape(name)}</h3><pre>{html.escape(json.dumps(doc, indent=2))}</pre>"
            for name, doc in documents
        )
        self.sections.append((heading, body))

    def render(self) -> str:
        """The whole HTML document."""
        parts = [
            "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
            f"<title>{html.escape(self.title)}</title><style>{STYLE}</style></head><body>",
            f"<h1>{html.escape(self.title)}</h1>",
        ]
        parts += [f"<h2>{html.escape(h)}</h2>{body}" for h, body in self.sections]
        parts.append("</body></html>")
        return "\n".join(parts)

    def write(self, path: Path) -> Path:
        """Write the report atomically (:func:`chainml.files.write_atomic`)."""
        write_atomic(path, self.render())
        return path


def _number(value: float) -> str:
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.4g}" if abs(value) < 1e6 else f"{value:,.0f}"


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def score_histogram(
    scores: npt.ArrayLike, labels: npt.ArrayLike, threshold: float, title: str
) -> bytes:
    """Distribution of scores for each class (log count), with the threshold marked."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    s, y = np.asarray(scores, dtype=float), np.asarray(labels)
    figure, axes = pyplot.subplots(figsize=(6, 3.4))
    bins = np.linspace(float(s.min()), float(s.max()), 60)
    axes.hist(s[y == 0], bins=bins, alpha=0.6, label="legitimate", log=True)
    axes.hist(s[y == 1], bins=bins, alpha=0.8, label="fraud", log=True)
    axes.axvline(threshold, color="black", linestyle="--", label="threshold")
    axes.set_xlabel("score (logit)")
    axes.set_ylabel("count")
    axes.set_title(title)
    axes.legend()
    try:
        return _png(figure)
    finally:
        pyplot.close(figure)


def timeline(points: Sequence[tuple[float, int]], title: str, ylabel: str) -> bytes:
    """A step plot of a count over time (e.g. anchored tree size against seconds)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(6, 3.4))
    if points:
        xs, ys = zip(*points, strict=True)
        axes.step(xs, ys, where="post", marker="o")
    axes.set_xlabel("seconds since start")
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    try:
        return _png(figure)
    finally:
        pyplot.close(figure)

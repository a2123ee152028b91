"""The HTML report: escaped, self-contained, with inlined figures."""

from __future__ import annotations

import base64
import re

import numpy as np

from chainml.apps.report import Report, score_histogram, timeline


def test_report_escapes_and_inlines(tmp_path):
    report = Report("demo <run>")
    report.facts("facts", [("model", "0xabc"), ("evil", "<script>alert(1)</script>")])
    report.table("gas", ["operation", "gas"], [("transfer", 51234), ("anchor", 98765.5)])
    rng = np.random.default_rng(0)
    scores, labels = rng.normal(size=500), (rng.random(500) < 0.1).astype(int)
    report.figures("figures", [("scores", score_histogram(scores, labels, 0.5, "scores"))])
    report.figures("timeline", [("anchors", timeline([(0.0, 0), (1.5, 100)], "t", "size"))])
    report.documents("receipts", [("first", {"leaf": "<x>"})])
    path = report.write(tmp_path / "report.html")
    page = path.read_text()
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<title>demo &lt;run&gt;</title>" in page
    assert '<td class="num">51,234</td>' in page
    images = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page)
    assert len(images) == 2
    assert all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    assert "http://" not in page and "https://" not in page  # nothing fetched from elsewhere
    assert not list(tmp_path.glob(".*.part"))

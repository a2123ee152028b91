"""Grouped cross-validation of the scan model: near-duplicates never on both sides."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from chainml.scan.corpus import CorpusFile
from chainml.scan.model import ScanModel
from chainml.scan.train import file_scores, fit


@dataclass
class Tally:
    """True and false positives and false negatives of one category."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        """TP / (TP + FP); 1.0 with nothing flagged."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        """TP / (TP + FN); 1.0 with nothing to find."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


@dataclass
class CrossValidation:
    """Out-of-fold flags per file: ``flags[i]`` the categories flagged in file i, with functions."""

    flags: list[dict[str, float]] = field(default_factory=list)
    functions: list[dict[str, list[str]]] = field(default_factory=list)


def cross_validate(
    files: Sequence[CorpusFile],
    groups: Sequence[str],
    *,
    folds: int = 5,
    trees: int = 60,
    seed: int = 0,
) -> CrossValidation:
    """Fit on the other folds, flag each held-out file; returns out-of-fold flags for all files."""
    result = CrossValidation([{} for _ in files], [{} for _ in files])
    for train, test in grouped_folds(files, groups, folds):
        model = ScanModel.from_json(
            fit([files[i] for i in train], [groups[i] for i in train], trees=trees, seed=seed)
        )
        held = [files[i] for i in test]
        for i, scores in zip(test, file_scores(model, held), strict=True):
            result.flags[i] = {
                c: s for c, s in scores.items() if s >= model.categories[c].threshold
            }
            result.functions[i] = _functions(model, files[i], set(result.flags[i]))
    return result


def grouped_folds(
    files: Sequence[CorpusFile], groups: Sequence[str], folds: int
) -> list[tuple[list[int], list[int]]]:
    """Folds over files that keep each group whole and spread each category across folds.

    Stratified by the file's first annotated category (or none): without it one fold can
    take every near-duplicate family of a category and leave nothing of it to learn from.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    strata = [min(f.categories) if f.categories else "-" for f in files]
    split = StratifiedGroupKFold(n_splits=folds).split(list(range(len(files))), strata, groups)
    return [(list(train), list(test)) for train, test in split]


def _functions(model: ScanModel, item: CorpusFile, flagged: set[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for unit in item.units:
        for name, score in model.scores(unit.vector()).items():
            if name in flagged and score >= model.categories[name].threshold:
                found.setdefault(name, []).append(
                    f"{unit.contract}.{unit.function}@{unit.first_line}-{unit.last_line}"
                )
    return found


def tally(
    truth: Sequence[set[str]], flagged: Sequence[set[str]], categories: Sequence[str]
) -> dict[str, Tally]:
    """Per-category file-level counts (plus ``"all"``, micro-averaged)."""
    result = {c: Tally() for c in [*categories, "all"]}
    for want, got in zip(truth, flagged, strict=True):
        for c in categories:
            for key in (c, "all"):
                t = result[key]
                t.tp += c in want and c in got
                t.fp += c not in want and c in got
                t.fn += c in want and c not in got
    return result

"""``chainml.Dataset``: a dataset loaded the way ``chainml model train --data`` loads it.

It holds the loaded data (:class:`chainml.models.Dataset`: features, labels, commitment) and
the spec that loads it again, which a model card records so that ``model evaluate`` can find
its data. CSV files go through the same reader, schema and checks as the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chainml.config import load_settings
from chainml.models.dataset import Dataset as LoadedData
from chainml.models.dataset import FloatArray, LabelArray

if TYPE_CHECKING:
    from chainml.models.schema import Schema


def default_data_dir(data_dir: Path | str | None) -> Path:
    """``data_dir``, or the one the settings name (``CHAINML_DATA_DIR``, ``chainml.toml``)."""
    return Path(data_dir) if data_dir is not None else load_settings().data_dir


@dataclass(frozen=True)
class Dataset:
    """A labelled dataset and the spec that loads it (``X``/``y`` in scikit-learn's terms)."""

    data: LoadedData
    spec: str
    data_dir: Path

    @classmethod
    def from_csv(
        cls,
        path: Path | str,
        *,
        target: str | None = None,
        positive: str | None = None,
        schema: Path | str | Schema | None = None,
        order: str | None = None,
        group: str | None = None,
        data_dir: Path | str | None = None,
    ) -> Dataset:
        """Read any CSV with a label column ``target`` (``chainml model train --data FILE``).

        Its schema (column kinds, encodings, blanks) is inferred, or taken from one stored
        for this file's content; ``schema`` is a TOML/JSON file of corrections to it (or a
        model's :class:`~chainml.models.schema.Schema` to encode with). ``positive`` is the
        label value of class 1, ``order`` the time column, ``group`` the column of a
        ``group:COLUMN`` split. Errors are InvalidInputError naming every bad column.
        """
        return cls.load(
            str(Path(path)), target=target, positive=positive, schema=schema, order=order,
            group=group, data_dir=data_dir,
        )  # fmt: skip

    @classmethod
    def load(
        cls,
        spec: str,
        *,
        target: str | None = None,
        positive: str | None = None,
        schema: Path | str | Schema | None = None,
        order: str | None = None,
        group: str | None = None,
        data_dir: Path | str | None = None,
    ) -> Dataset:
        """The dataset a spec names: ``creditcard``, ``simulated[:N[:SEED]]`` or a CSV path."""
        from chainml.models.schema import Schema
        from chainml.models.sources import load_dataset

        folder = default_data_dir(data_dir)
        options: dict[str, Any] = {"positive": positive, "group": group}
        if isinstance(schema, Schema):
            options["schema"] = schema
        elif schema is not None:
            options["schema_file"] = Path(schema)
        present = {name: value for name, value in options.items() if value is not None}
        data = load_dataset(spec, folder, target=target, order=order, **present)
        return cls(data, spec, folder)

    @property
    def schema(self) -> Schema | None:
        """How raw columns became the features (None for data that was numeric already)."""
        return self.data.schema

    @property
    def name(self) -> str:
        """The dataset's name (a CSV's file stem)."""
        return self.data.name

    @property
    def X(self) -> FloatArray:  # noqa: N802  (scikit-learn's name)
        """The feature matrix, one row per example."""
        return self.data.features

    @property
    def y(self) -> LabelArray:
        """The 0/1 labels."""
        return self.data.labels

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The model inputs, in order."""
        return self.data.feature_names

    @property
    def rows(self) -> int:
        """Number of examples."""
        return self.data.rows

    @property
    def positives(self) -> int:
        """Number of examples labelled 1."""
        return self.data.positives

    def commitment(self) -> str:
        """SHA-256 of exactly this data, as a model card records it."""
        return self.data.commitment()

"""Preparing a federation (``chainml fl init``): split once, hand each participant its rows.

``init_federation(data_dir, task=..., data=..., clients=N, partition=...)`` loads the data,
splits it like centralized training does (:func:`chainml.models.split.make_split`), divides
the fit part among ``N`` participants (:mod:`chainml.fl.partition`) and writes, under
``<data_dir>/fl/<task>/``, one CSV per participant (``participants/p<i>.csv``) and
``federation.json``: the data spec and commitment, the split, the partition and each
participant's file with its SHA-256, rows and positives. The validation and test parts stay
with the coordinator (for threshold choice and evaluation, as in centralized training).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chainml.config import ensure_directory
from chainml.errors import DataDirectoryError, InvalidInputError, NotFoundError
from chainml.files import write_atomic
from chainml.fl.data import load_task_dataset, write_participant_file
from chainml.fl.partition import parse_partition, partition
from chainml.models.split import TimeSplit, make_split

FORMAT = "chainml.federation/1"
FILE = "federation.json"
_TASK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def federation_dir(data_dir: Path, task: str) -> Path:
    """Where federation ``task`` lives under ``data_dir``."""
    if not _TASK.match(task):
        raise InvalidInputError(
            f"--task {task!r}: use 1-64 letters, digits, '_', '.' or '-' (starting with a "
            "letter or digit)"
        )
    return Path(data_dir) / "fl" / task


@dataclass(frozen=True)
class Federation:
    """A prepared federation: its directory and ``federation.json``."""

    path: Path
    config: dict[str, Any]

    @property
    def task(self) -> str:
        """The federation's name."""
        return str(self.config["task"])

    @property
    def participants(self) -> list[dict[str, Any]]:
        """One entry per participant: file, sha256, rows, positives."""
        return list(self.config["participants"])

    def participant_file(self, index: int) -> Path:
        """The data file of participant ``index``."""
        return self.path / str(self.participants[index]["file"])


def init_federation(
    data_dir: Path, *, task: str, data: str, clients: int, partition_spec: str = "iid",
    seed: int = 0, split: str | None = None,
) -> Federation:  # fmt: skip
    """Prepare federation ``task`` (see the module docstring); refuses to overwrite one."""
    spec = parse_partition(partition_spec)
    path = federation_dir(data_dir, task)
    if (path / FILE).exists():
        raise InvalidInputError(f"federation {task!r} already exists at {path}")
    if clients < 2:
        raise InvalidInputError(f"--clients must be at least 2, got {clients}")
    dataset = load_task_dataset(data, Path(data_dir))
    parts = make_split(dataset, split, seed=seed)
    fit = parts.fit
    key = None
    if spec.method == "column":
        if spec.column not in fit.feature_names:
            if fit.order is None:
                raise InvalidInputError(
                    f"--partition column:{spec.column}: no such feature; features are "
                    f"{', '.join(fit.feature_names[:8])}..."
                )
            key = fit.order  # the time column, dropped from the features
        else:
            key = fit.features[:, fit.feature_names.index(spec.column)]
    shares = partition(fit.labels, clients, spec, seed=seed, key=key)
    ensure_directory(Path(data_dir))
    (path / "participants").mkdir(parents=True, exist_ok=True)
    participants = []
    for index, rows in enumerate(shares):
        part = fit.take(rows)
        name = f"participants/p{index}.csv"
        digest = write_participant_file(path / name, part)
        participants.append(
            {"index": index, "file": name, "sha256": digest, "rows": part.rows,
             "positives": part.positives}
        )  # fmt: skip
    config = {
        "format": FORMAT,
        "task": task,
        "data": data,
        "dataset": {"name": dataset.name, "commitment": dataset.commitment(), "rows": dataset.rows},
        "split": {"method": parts.method, "seed": seed, "parts": parts.summary()},
        "partition": str(spec),
        "seed": seed,
        "participants": participants,
    }
    write_atomic(path / FILE, json.dumps(config, indent=2, sort_keys=True) + "\n")
    return Federation(path, config)


def load_federation(data_dir: Path, task: str) -> Federation:
    """The federation ``task`` prepared by :func:`init_federation`."""
    path = federation_dir(data_dir, task)
    try:
        config = json.loads((path / FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFoundError(
            f"no federation {task!r} in {data_dir} (run chainml fl init --task {task} first)"
        ) from None
    except (OSError, ValueError) as err:
        raise DataDirectoryError(str(path), f"{FILE} is unreadable: {err}") from err
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise DataDirectoryError(str(path), f"{FILE} is not a {FORMAT} document")
    return Federation(path, config)


def coordinator_split(federation: Federation, data_dir: Path) -> TimeSplit:
    """The split again (the coordinator's validation and test parts), checked against init."""
    config = federation.config
    dataset = load_task_dataset(str(config["data"]), Path(data_dir))
    if dataset.commitment() != config["dataset"]["commitment"]:
        raise DataDirectoryError(
            str(federation.path),
            f"the data {config['data']!r} changed since fl init (commitment "
            f"{dataset.commitment()} != {config['dataset']['commitment']})",
        )
    split = make_split(dataset, str(config["split"]["method"]), seed=int(config["split"]["seed"]))
    rows = sum(int(p["rows"]) for p in federation.participants)
    if rows != split.fit.rows or not np.isfinite(split.fit.features).all():
        raise DataDirectoryError(
            str(federation.path), "participant rows do not add up to the fit part"
        )
    return split

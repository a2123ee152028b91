"""Dataset specs: creditcard, simulated[:N[:SEED]], or a CSV path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from chainml.errors import InvalidInputError, NotFoundError
from chainml.models.payments import FEATURE_NAMES
from chainml.models.simulator import simulate_payments
from chainml.models.sources import SIMULATED_DEFAULT_ROWS, licence_of, load_dataset, parse_spec
from chainml.models.tabular import content_key, schema_path, store_schema


def test_parse_spec(tmp_path: Path) -> None:
    csv = tmp_path / "x.csv"
    csv.write_text("a,l\n1,0\n2,1\n")
    assert parse_spec("creditcard") == ("creditcard", 0, 0)
    assert parse_spec("simulated") == ("simulated", SIMULATED_DEFAULT_ROWS, 0)
    assert parse_spec("simulated:500") == ("simulated", 500, 0)
    assert parse_spec("simulated:500:9") == ("simulated", 500, 9)
    assert parse_spec(str(csv)) == ("csv", 0, 0)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("simulated:abc", "bad dataset spec"),
        ("simulated:10:2:3", "bad dataset spec"),
        ("simulated:-5", "bad dataset spec"),
        ("simulated:0", "N must be at least 1"),
        ("no/such/file.csv", "unknown dataset 'no/such/file.csv': not a file"),
    ],
)
def test_bad_specs(tmp_path: Path, spec: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        load_dataset(spec, tmp_path)


def test_simulated_is_the_simulator_dataset(tmp_path: Path) -> None:
    dataset = load_dataset("simulated:300:4", tmp_path)
    expected = simulate_payments(300, 4).dataset()
    assert dataset.rows == 300 and dataset.feature_names == FEATURE_NAMES
    assert dataset.commitment() == expected.commitment()
    assert dataset.order is not None and np.all(np.diff(dataset.order) >= 0)
    with pytest.raises(InvalidInputError, match="fixed label"):
        load_dataset("simulated:10", tmp_path, target="y")
    with pytest.raises(InvalidInputError, match="fixed ordering key"):
        load_dataset("simulated:10", tmp_path, order="t")


def test_a_csv_spec_reads_through_a_schema_stored_by_content(tmp_path: Path) -> None:
    csv = tmp_path / "claims.csv"
    csv.write_text("when,x,fraud\n2,0.5,0\n1,1.5,1\n")
    dataset = load_dataset(str(csv), tmp_path / "data", target="fraud", order="when")
    assert dataset.feature_names == ("x",) and dataset.labels.tolist() == [0, 1]
    assert not (tmp_path / "data" / "datasets").exists()  # loading stores nothing
    assert dataset.schema is not None
    store_schema(tmp_path / "data", csv, dataset.schema)  # what a successful train does
    assert schema_path(tmp_path / "data", content_key(csv)).is_file()
    assert load_dataset(str(csv), tmp_path / "data").commitment() == dataset.commitment()


def test_creditcard_without_fetching_needs_the_cache(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="not cached"):
        load_dataset("creditcard", tmp_path, fetch=False)
    with pytest.raises(InvalidInputError, match="fixed label"):
        load_dataset("creditcard", tmp_path, target="Amount", fetch=False)


def test_licences(tmp_path: Path) -> None:
    csv = tmp_path / "x.csv"
    csv.write_text("a,l\n1,0\n")
    assert "ODbL" in licence_of("creditcard")
    assert "chainml" in licence_of("simulated:5")
    assert "unknown" in licence_of(str(csv))

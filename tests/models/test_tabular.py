"""Any CSV with a label column: an inferred, stored schema that later loads must match."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chainml.errors import InvalidInputError
from chainml.models.tabular import (
    DataFileError,
    Schema,
    load_labelled_csv,
    read_labelled_csv,
    schema_path,
)

GOOD = "t,x,y,label\n3,1.5,-2,0\n1,2.5,4,1\n2,0.5,7e1,0\n"


def write(tmp_path: Path, text: str, name: str = "loans.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_infers_features_labels_order_and_ranges(tmp_path: Path) -> None:
    dataset, schema = read_labelled_csv(write(tmp_path, GOOD), "label", order="t")
    assert dataset.feature_names == ("x", "y")
    assert dataset.features.tolist() == [[1.5, -2.0], [2.5, 4.0], [0.5, 70.0]]
    assert dataset.labels.tolist() == [0, 1, 0]
    assert dataset.order is not None and dataset.order.tolist() == [3.0, 1.0, 2.0]
    assert schema.columns == ("t", "x", "y", "label")
    assert (schema.target, schema.order, schema.features) == ("label", "t", ("x", "y"))
    assert (schema.minimum, schema.maximum) == ((0.5, -2.0), (2.5, 70.0))
    assert Schema.from_json(schema.to_json()) == schema


def test_without_order_the_time_column_is_a_feature(tmp_path: Path) -> None:
    dataset, _ = read_labelled_csv(write(tmp_path, GOOD), "label")
    assert dataset.feature_names == ("t", "x", "y") and dataset.order is None


def test_the_schema_is_stored_and_enforced(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    path = write(tmp_path, GOOD)
    first, schema = load_labelled_csv(path, data_dir, "label", order="t")
    stored = schema_path(data_dir, "loans")
    assert stored == data_dir / "datasets" / "loans.schema.json"
    assert json.loads(stored.read_text())["columns"] == ["t", "x", "y", "label"]

    again, same = load_labelled_csv(path, data_dir, None)  # label and order from the schema
    assert same == schema and again.commitment() == first.commitment()

    write(tmp_path, "t,x,label\n1,2,0\n2,3,1\n")
    with pytest.raises(DataFileError, match=r"missing column\(s\) y \(schema 'loans'\)"):
        load_labelled_csv(path, data_dir, "label")
    write(tmp_path, "t,x,y,z,label\n1,2,3,4,0\n2,3,4,5,1\n")
    with pytest.raises(DataFileError, match=r"extra column\(s\) z"):
        load_labelled_csv(path, data_dir, "label")
    write(tmp_path, "t,y,x,label\n1,2,3,0\n2,3,4,1\n")
    with pytest.raises(DataFileError, match="different order"):
        load_labelled_csv(path, data_dir, "label")
    write(tmp_path, GOOD)
    with pytest.raises(InvalidInputError, match="has label 'label', not 'x'"):
        load_labelled_csv(path, data_dir, "x")
    with pytest.raises(InvalidInputError, match="orders by 't', not 'x'"):
        load_labelled_csv(path, data_dir, "label", order="x")


@pytest.mark.parametrize(
    ("text", "message", "line", "column"),
    [
        ("t,x,y,label\n1,2,3,0\n2,abc,4,1\n", "'abc' is not a number", 3, "x"),
        ("t,x,y,label\n1,2,3,0\n2,3,NaN,1\n", "NaN or infinite", 3, "y"),
        ("t,x,y,label\n1,inf,3,0\n2,3,4,1\n", "NaN or infinite", 2, "x"),
        ("t,x,y,label\n1,2,,0\n2,3,4,1\n", "'' is not a number", 2, "y"),
        ("t,x,y,label\n1,2,3,0\n2,3,4\n", "3 cells, but the header names 4", 3, None),
        ("", "the file is empty", None, None),
        ("t,x,y,label\n", "header but no rows", None, None),
        ("t,x,y,label\n1,2,3,0\n2,3,4,0\n", r"only one class \(0\)", None, "label"),
        (
            "t,x,y,label\n1,2,3,0\n2,3,4,2\n",
            r"labels must be 0 or 1, found 2 \(data row 2\)",
            None,
            "label",
        ),
        ("t,x,y,label\n1,2,3,0\n2,3,4,0.5\n", "labels must be 0 or 1, found 0.5", None, "label"),
        ("t,x,x,label\n1,2,3,0\n", "duplicate column name", 1, None),
        (
            "t,x,y,target\n1,2,3,0\n",
            "no label column 'label'; columns are t, x, y, target",
            1,
            None,
        ),
    ],
)
def test_bad_files_are_named_precisely(
    tmp_path: Path, text: str, message: str, line: int | None, column: str | None
) -> None:
    data_dir = tmp_path / "data"
    path = write(tmp_path, text)
    with pytest.raises(DataFileError, match=message) as err:
        load_labelled_csv(path, data_dir, "label")
    assert (err.value.line, err.value.column) == (line, column)
    assert str(path) in str(err.value) and err.value.exit_code == 2
    assert not schema_path(data_dir, "loans").exists()  # nothing stored for a bad file


def test_the_label_cannot_be_the_order_and_a_target_is_needed(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    with pytest.raises(InvalidInputError, match="cannot also be the ordering column"):
        read_labelled_csv(path, "label", order="label")
    with pytest.raises(DataFileError, match="no ordering column 'when'"):
        read_labelled_csv(path, "label", order="when")
    with pytest.raises(InvalidInputError, match="name the label column with --target"):
        load_labelled_csv(path, tmp_path / "data", None)
    only_label = write(tmp_path, "label\n0\n1\n", "only.csv")
    with pytest.raises(DataFileError, match="no feature columns"):
        read_labelled_csv(only_label, "label")


def test_a_corrupt_stored_schema_is_bad_input(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    path = write(tmp_path, GOOD)
    load_labelled_csv(path, data_dir, "label")
    schema_path(data_dir, "loans").write_text('{"name": "loans"}')
    with pytest.raises(InvalidInputError, match="not a valid chainml schema"):
        load_labelled_csv(path, data_dir, "label")
    with pytest.raises(InvalidInputError, match="schema version 9"):
        Schema.from_json(
            '{"name":"a","columns":["x","l"],"target":"l","order":null,'
            '"minimum":[0],"maximum":[1],"version":9}'
        )


def test_a_quoted_numeric_file_is_read(tmp_path: Path) -> None:
    path = write(tmp_path, '"a","b","label"\n"1","2","0"\n"3","4","1"\n')
    dataset, _ = read_labelled_csv(path, "label")
    assert dataset.features.tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_a_byte_order_mark_is_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbfa,label\n1,0\n2,1\n")
    _, schema = read_labelled_csv(path, "label")
    assert schema.columns == ("a", "label")

"""Any CSV with a label column: schema inference, encoding into a dataset, stored schemas."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chainml.errors import InvalidInputError
from chainml.models.infer import infer_schema, read_overrides, read_table
from chainml.models.schema import Schema, SchemaError
from chainml.models.tabular import (
    content_key,
    load_labelled_csv,
    read_labelled_csv,
    schema_path,
    store_schema,
)

GOOD = "t,x,y,label\n3,1.5,-2,0\n1,2.5,4,1\n2,0.5,7e1,0\n"


def write(tmp_path: Path, text: str, name: str = "loans.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def mixed_rows(rows: int = 60) -> str:
    """Separator ';', messy header, an id, a date, categories, booleans, blanks, text labels."""
    lines = ['"Customer ID"; Region ;amount;member;age;opened;risk']
    for i in range(rows):
        region = ("north", "south", "east")[i % 3] if i != 5 else "atlantis"
        member = ("yes", "no", "")[i % 3]
        age = "" if i % 10 == 0 else str(20 + i % 50)
        lines.append(f"c{i};{region};{10.5 * (i % 7)};{member};{age};2024-01-{1 + i % 28:02d};"
                     f"{'bad' if i % 4 == 0 else 'good'}")  # fmt: skip
    return "\n".join(lines) + "\n"


def test_numeric_file_features_labels_and_order(tmp_path: Path) -> None:
    dataset, schema = read_labelled_csv(write(tmp_path, GOOD), "label", order="t")
    assert dataset.feature_names == ("x", "y")
    assert dataset.features.tolist() == [[1.5, -2.0], [2.5, 4.0], [0.5, 70.0]]
    assert dataset.labels.tolist() == [0, 1, 0]
    assert dataset.order is not None and dataset.order.tolist() == [3.0, 1.0, 2.0]
    assert (schema.target, schema.time, schema.positive) == ("label", "t", "1")
    assert Schema.from_dict(json.loads(schema.to_json())) == schema


def test_kinds_are_inferred_from_names_and_values(tmp_path: Path) -> None:
    table = read_table(write(tmp_path, mixed_rows()))
    assert table.delimiter == ";"
    assert table.header == ("Customer ID", "Region", "amount", "member", "age", "opened", "risk")
    schema = infer_schema(table, "risk", positive="bad")
    kinds = {c.name: (c.kind, c.feature) for c in schema.columns}
    assert kinds == {
        "Customer ID": ("id", False),
        "Region": ("categorical", True),
        "amount": ("numeric", True),
        "member": ("boolean", True),
        "age": ("numeric", True),
        "opened": ("datetime", False),
        "risk": ("ignore", False),
    }
    assert schema.time == "opened"  # the datetime column orders the split
    region = schema.column("Region")
    assert region.categories == (
        "north",
        "south",
        "east",
    )  # 'atlantis' (1 row): other
    assert "Region=(other)" in schema.feature_names
    age = schema.column("age")
    assert age.indicator and age.fill == 40.0  # median of the present ages
    assert schema.feature_names[-2:] == ("age", "age (missing)")


def test_a_unix_timestamp_is_the_time_column_not_a_feature(tmp_path: Path) -> None:
    rows = "\n".join(f"{1_700_000_000 + 60 * i},{i % 5},{i % 2}" for i in range(40))
    dataset, schema = read_labelled_csv(write(tmp_path, f"when,x,y\n{rows}\n"), "y")
    assert schema.column("when").kind == "datetime" and dataset.feature_names == ("x",)
    assert dataset.order is not None and dataset.order[0] == 1_700_000_000


def test_every_bad_column_is_named_at_once_with_a_hint(tmp_path: Path) -> None:
    numbers = "\n".join(f"{i},{i * 2},{'oops' if i == 30 else i},{i % 2}" for i in range(40))
    path = write(tmp_path, f"a,b,c,label\n{numbers}\n")
    overrides = write(tmp_path, '[columns.zz]\nkind = "numeric"\n', "fix.toml")
    with pytest.raises(SchemaError) as err:
        infer_schema(read_table(path), "label", overrides=read_overrides(overrides))
    assert set(err.value.problems) == {"zz"}  # names checked first: all unknown names at once
    with pytest.raises(SchemaError) as err:
        infer_schema(read_table(path), "label", positive="7")
    assert set(err.value.problems) == {"c", "label"}
    assert "'oops'" in err.value.problems["c"] and "--schema" in err.value.problems["c"]
    assert "no row has the positive label '7'" in err.value.problems["label"]
    assert err.value.exit_code == 2


def test_text_labels_need_positive_and_blanks_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "x,label\n1,good\n2,bad\n3,good\n")
    with pytest.raises(SchemaError, match="--positive VALUE"):
        read_labelled_csv(path, "label")
    dataset, _ = read_labelled_csv(path, "label", positive="bad")
    assert dataset.labels.tolist() == [0, 1, 0]
    with pytest.raises(SchemaError, match="1 row"):
        read_labelled_csv(write(tmp_path, "x,label\n1,good\n2,\n3,bad\n"), "label", positive="bad")
    with pytest.raises(SchemaError, match="only one class"):
        read_labelled_csv(write(tmp_path, "x,label\n1,0\n2,0\n"), "label")


def test_a_schema_file_corrects_the_inference(tmp_path: Path) -> None:
    path = write(tmp_path, mixed_rows())
    text = '[columns.Region]\nencoding = "ordinal"\n[columns.age]\nkind = "categorical"\n'
    fix = write(tmp_path, text + '[columns."Customer ID"]\nkind = "ignore"\n', "fix.toml")
    _, schema = read_labelled_csv(path, "risk", positive="bad", overrides=read_overrides(fix))
    assert schema.column("Region").encoding == "ordinal" and "Region" in schema.feature_names
    assert schema.column("age").kind == "categorical"
    bad = write(tmp_path, '[columns.age]\nkind = "vector"\ncolour = 3\n', "bad.toml")
    with pytest.raises(SchemaError, match="unknown key"):
        read_overrides(bad)
    as_json = write(tmp_path, json.dumps({"target": "risk", "positive": "bad"}), "s.json")
    _, again = read_labelled_csv(path, None, overrides=read_overrides(as_json))
    assert again.positive == "bad"


def test_schemas_are_stored_by_content_not_by_name(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = write(tmp_path / "a", GOOD, "x.csv")
    second = write(tmp_path / "b", "t,x,label\n1,2,0\n2,3,1\n", "x.csv")
    _, schema = load_labelled_csv(first, data_dir, "label", order="t")
    assert not (data_dir / "datasets").exists()  # reading stores nothing
    store_schema(data_dir, first, schema)
    assert schema_path(data_dir, content_key(first)).is_file()
    again, same = load_labelled_csv(first, data_dir, None)  # label and time from the store
    assert same == schema and again.order is not None
    with pytest.raises(InvalidInputError, match="no schema stored for this file"):
        load_labelled_csv(second, data_dir, None)  # same name, other content: no collision
    schema_path(data_dir, content_key(first)).write_text('{"target": "label"}')
    with pytest.raises(SchemaError, match="not a chainml schema"):
        load_labelled_csv(first, data_dir, None)


def test_a_models_schema_encodes_other_files_by_column_name(tmp_path: Path) -> None:
    _, schema = read_labelled_csv(write(tmp_path, mixed_rows()), "risk", positive="bad")
    shuffled = "risk;age;amount;member;Region;opened\nbad;30;1;no;mars;2024-02-01\n"
    dataset, same = read_labelled_csv(write(tmp_path, shuffled, "new.csv"), None, schema)
    assert same is schema and dataset.feature_names == schema.feature_names
    row = dict(zip(schema.feature_names, dataset.features[0], strict=True))
    assert row["Region=(other)"] == 1.0 and row["age"] == 30.0 and row["member"] == 0.0
    with pytest.raises(SchemaError) as err:
        read_labelled_csv(write(tmp_path, "risk;amount\nbad;1\n", "narrow.csv"), None, schema)
    assert {"Region", "member", "age", "opened"} <= set(err.value.problems)


def test_ragged_and_empty_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="line 3 has 2 cells"):
        read_table(write(tmp_path, "a,b,c\n1,2,3\n4,5\n"))
    with pytest.raises(InvalidInputError, match="the file is empty"):
        read_table(write(tmp_path, ""))
    with pytest.raises(InvalidInputError, match="header but no rows"):
        read_table(write(tmp_path, "a,b\n"))
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf a ,a,\n1,2,3\n")
    assert read_table(path).header == ("a", "a_2", "column_3")

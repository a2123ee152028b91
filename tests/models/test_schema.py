"""The encoder: deterministic, one 1 per one-hot column, unknown -> other, bulk = per record."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chainml.models.schema import OTHER, Column, Schema, SchemaError

CATEGORIES = ("red", "green", "blue")
SCHEMA = Schema(
    columns=(
        Column("colour", "categorical", True, encoding="onehot", categories=CATEGORIES),
        Column("size", "categorical", True, encoding="ordinal", categories=("s", "m", "l")),
        Column("amount", "numeric", True, fill=2.5, indicator=True),
        Column("member", "boolean", True, true_values=("yes",), false_values=("no",)),
        Column("opened", "datetime", False, format="iso"),
        Column("label", "ignore", False),
    ),
    target="label",
    positive="bad",
    negatives=("good",),
    time="opened",
)

texts = st.text(max_size=8)
records = st.fixed_dictionaries(
    {
        "colour": st.one_of(st.sampled_from(CATEGORIES), texts, st.none()),
        "size": st.one_of(st.sampled_from(("s", "m", "l")), texts),
        "amount": st.one_of(
            st.floats(allow_nan=False, allow_infinity=False), st.integers(-(10**6), 10**6),
            st.none(), st.just(""),
        ),
        "member": st.one_of(st.sampled_from(("yes", "no", "YES")), st.booleans(), st.none()),
    }
)  # fmt: skip


@given(records)
def test_encoding_is_deterministic_and_one_hot_sums_to_one(raw: dict[str, object]) -> None:
    vector = SCHEMA.encode_record(raw)
    assert vector == SCHEMA.encode_record(dict(reversed(raw.items())))  # key order is irrelevant
    assert len(vector) == len(SCHEMA.feature_names)
    onehot = vector[: len(CATEGORIES) + 1]
    assert sorted(onehot) == [0.0] * len(CATEGORIES) + [1.0]
    colour = raw["colour"]
    expected = (
        f"colour={colour.strip()}"
        if isinstance(colour, str) and colour.strip() in CATEGORIES
        else f"colour={OTHER}"  # unknown, blank and missing values go to the other bucket
    )
    assert SCHEMA.feature_names[onehot.index(1.0)] == expected
    size = raw["size"]
    known = isinstance(size, str) and size.strip() in ("s", "m", "l")
    assert vector[len(CATEGORIES) + 1] == (("s", "m", "l").index(size.strip()) if known else 3)


@given(st.lists(records, min_size=1, max_size=5))
def test_bulk_encoding_matches_record_encoding(rows: list[dict[str, object]]) -> None:
    """Training (whole columns of CSV text) and serving (one record) give the same features."""
    words = {None: "", True: "yes", False: "no"}  # how a CSV writes them
    as_text = [
        {k: words[v] if v is None or isinstance(v, bool) else str(v) for k, v in row.items()}
        for row in rows
    ]
    cells = {name: [row[name] for row in as_text] for name in ("colour", "size", "amount")}
    cells["member"] = [row["member"] for row in as_text]
    matrix = SCHEMA.encode_columns(cells, "rows")
    for row, vector in zip(as_text, matrix, strict=True):
        assert tuple(vector.tolist()) == SCHEMA.encode_record(row)


@given(records)
def test_the_schema_survives_its_json(raw: dict[str, object]) -> None:
    again = Schema.from_dict(SCHEMA.to_dict())
    assert again == SCHEMA and again.digest() == SCHEMA.digest()
    assert again.encode_record(raw) == SCHEMA.encode_record(raw)


def test_every_bad_field_is_named() -> None:
    with pytest.raises(SchemaError) as err:
        SCHEMA.encode_record({"colour": 3.5, "amount": "lots", "member": "maybe", "zip": "1"})
    assert set(err.value.problems) == {"colour", "amount", "member", "zip", "size"}
    assert "missing field" in err.value.problems["size"]
    assert "unknown field" in err.value.problems["zip"]
    # label, time and other known non-feature columns may be sent and are skipped
    assert SCHEMA.encode_record(
        {"colour": "red", "size": "m", "amount": 1, "member": "no", "label": "x", "opened": "?"}
    ) == (1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0)


def test_a_malformed_schema_is_refused_with_every_problem() -> None:
    with pytest.raises(SchemaError) as err:
        Schema(
            columns=(
                Column("a", "categorical", True, encoding="binary"),
                Column("b", "id", True),
                Column("c", "numeric", True, fill=float("nan")),
            ),
            target="y",
            positive="1",
            negatives=("0",),
        )
    assert set(err.value.problems) == {"a", "b", "c", "y"}

"""Dataset schemas: inference, JSON round trip, edits, diffs and the errors they raise."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipyard.data import ColumnSchema, Schema, infer_schema, make_loans
from shipyard.data._loans import GENDERS, PURPOSES
from shipyard.data._schema import DTYPES
from shipyard.errors import InvalidInput, NotFound


@pytest.fixture(scope="module")
def loans() -> pd.DataFrame:
    return make_loans(3_000, seed=2)


@pytest.fixture(scope="module")
def schema(loans: pd.DataFrame) -> Schema:
    return infer_schema(loans)


def test_infer_on_loans(loans, schema):
    assert schema.names == list(loans.columns)
    app_id = schema.column("application_id")
    assert (app_id.dtype, app_id.unique, app_id.nullable) == ("int", True, False)
    assert (app_id.min, app_id.max) == (None, None)  # identifiers get no range
    assert schema.column("gender").dtype == "category"
    assert schema.column("gender").categories == tuple(sorted(GENDERS))
    assert set(schema.column("purpose").categories or ()) == set(PURPOSES)
    income = schema.column("income")
    assert income.dtype == "float"
    assert (income.min, income.max) == (loans["income"].min(), loans["income"].max())
    assert schema.column("employment_years").nullable
    nullable = [c.name for c in schema.columns if c.nullable]
    assert nullable == ["employment_years"]
    applied = schema.column("applied_at")
    assert applied.dtype == "datetime"
    assert applied.min == loans["applied_at"].min().isoformat()
    assert schema.column("default").unique is False
    assert all(c.regex is None for c in schema.columns)
    assert [c.name for c in schema.columns if c.unique] == ["application_id"]


def test_infer_from_arrow_matches_pandas(loans, schema):
    assert infer_schema(pa.Table.from_pandas(loans, preserve_index=False)) == schema


def test_arrow_integers_with_nulls_stay_integers():
    table = pa.table({"n": pa.array([3, None, 1], pa.int32()), "ok": [True, None, False]})
    inferred = infer_schema(table)
    assert inferred.column("n") == ColumnSchema("n", "int", nullable=True, min=1, max=3)
    assert inferred.column("ok") == ColumnSchema("ok", "bool", nullable=True)


def test_string_columns_get_categories_only_when_few_distinct_values():
    rows = 200
    frame = pd.DataFrame(
        {
            "colour": (["red", "green", "blue", None] * 50),
            "code": [f"c{i}" for i in range(rows)],  # all distinct: an id, not categories
            "many": [f"m{i % 60}" for i in range(rows)],  # 60 distinct > 50
            "spread": [f"s{i % 120}" for i in range(rows)],  # ratio 0.6 > 0.5
        }
    )
    inferred = infer_schema(frame)
    colour = inferred.column("colour")
    assert (colour.dtype, colour.categories, colour.nullable) == (
        "string",
        ("blue", "green", "red"),
        True,
    )
    assert (inferred.column("code").categories, inferred.column("code").unique) == (None, True)
    assert inferred.column("many").categories is None
    assert inferred.column("spread").categories is None


def test_mixed_type_column_is_refused_naming_column_and_types():
    frame = pd.DataFrame({"ok": [1, 2, 3], "code": pd.Series([1, "a", 2.5], dtype=object)})
    with pytest.raises(InvalidInput, match=r"'code'.*float, int, str"):
        infer_schema(frame)


def test_unsupported_dtype_and_non_tables_are_refused():
    with pytest.raises(InvalidInput, match=r"'wait'.*timedelta"):
        infer_schema(pd.DataFrame({"wait": pd.to_timedelta([1, 2], unit="s")}))
    with pytest.raises(InvalidInput, match=r"pyarrow.Table or pandas.DataFrame"):
        infer_schema([{"a": 1}])


def test_empty_table(loans, schema):
    for empty in (loans.iloc[:0], pa.Table.from_pandas(loans.iloc[:0], preserve_index=False)):
        inferred = infer_schema(empty)
        assert [c.dtype for c in inferred.columns] == [c.dtype for c in schema.columns]
        assert not any(c.nullable or c.unique or c.min is not None for c in inferred.columns)
        assert inferred.column("gender").categories == schema.column("gender").categories
    assert infer_schema(pd.DataFrame()) == Schema(())


def test_json_round_trip_of_inferred_schema(schema):
    text = json.dumps(schema.to_dict())
    back = Schema.from_dict(json.loads(text))
    assert back == schema
    assert json.dumps(back.to_dict()) == text


_NUMBERS = st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False)
_TIMES = st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 1, 1))


@st.composite
def _column(draw: st.DrawFn, name: str) -> ColumnSchema:
    dtype = draw(st.sampled_from(DTYPES))
    fields: dict[str, object] = {}
    if dtype in ("int", "float", "datetime"):
        values = sorted(
            [draw(_NUMBERS), draw(_NUMBERS)]
            if dtype != "datetime"
            else [draw(_TIMES).isoformat(), draw(_TIMES).isoformat()]
        )
        keep = draw(st.sampled_from([(True, True), (True, False), (False, True), (False, False)]))
        fields["min"] = values[0] if keep[0] else None
        fields["max"] = values[1] if keep[1] else None
    if dtype in ("string", "category"):
        categories = st.lists(st.text(max_size=8), min_size=1, max_size=5, unique=True)
        fields["categories"] = draw(st.none() | categories.map(tuple))
        fields["regex"] = draw(st.sampled_from([None, r"[a-z]+", r"\d{3}-\d{4}", r".*é"]))
    return ColumnSchema(
        name, dtype, nullable=draw(st.booleans()), unique=draw(st.booleans()), **fields
    )


@st.composite
def _schemas(draw: st.DrawFn) -> Schema:
    names = draw(st.lists(st.text(min_size=1, max_size=10), max_size=6, unique=True))
    return Schema(tuple(draw(_column(name)) for name in names))


@settings(max_examples=150, deadline=None)
@given(_schemas())
def test_json_round_trip_is_exact(schema):
    text = json.dumps(schema.to_dict())
    back = Schema.from_dict(json.loads(text))
    assert back == schema
    assert json.dumps(back.to_dict()) == text  # ints stay ints, floats stay floats


def test_with_column_edits_a_copy(schema):
    edited = schema.with_column("age", min=21, max=65)
    assert (edited.column("age").min, edited.column("age").max) == (21, 65)
    assert schema.column("age").min == 18  # the original is unchanged
    assert edited.names == schema.names
    renamed = schema.with_column("income", name="annual_income")
    assert renamed.names[schema.names.index("income")] == "annual_income"
    numpy_bound = schema.with_column("age", min=np.int64(19)).column("age").min
    assert type(numpy_bound) is int  # stored JSON-ready


@pytest.mark.parametrize(
    ("changes", "error", "pattern"),
    [
        ({"colour": "red"}, InvalidInput, "'colour'"),
        ({"min": "young"}, InvalidInput, "'min' must be a finite number"),
        ({"min": 70, "max": 20}, InvalidInput, "'min' \\(70\\) is greater than field 'max'"),
        ({"min": float("nan")}, InvalidInput, "'min'"),
        ({"dtype": "integer"}, InvalidInput, "'dtype' must be one of"),
        ({"dtype": "category"}, InvalidInput, "'min' applies to int, float and datetime"),
        ({"regex": "[a-z"}, InvalidInput, "'regex' applies to string and category"),
        ({"nullable": "yes"}, InvalidInput, "'nullable' must be true or false"),
        ({"name": "income"}, InvalidInput, "repeated: \\['income'\\]"),
    ],
)
def test_with_column_errors_name_the_field(schema, changes, error, pattern):
    with pytest.raises(error, match=pattern):
        schema.with_column("age", **changes)


def test_column_errors():
    schema = Schema((ColumnSchema("tag", "string", nullable=False),))
    with pytest.raises(NotFound, match=r"'height'.*known columns: \['tag'\]"):
        schema.with_column("height", min=1)
    with pytest.raises(InvalidInput, match=r"regex.*does not compile"):
        schema.with_column("tag", regex="[a-")
    with pytest.raises(InvalidInput, match=r"categories.*repeats \['a'\]"):
        schema.with_column("tag", categories=["a", "b", "a"])
    with pytest.raises(InvalidInput, match=r"categories.*empty"):
        schema.with_column("tag", categories=[])
    assert schema.with_column("tag", categories=["b", "a"]).column("tag").categories == ("b", "a")
    with pytest.raises(InvalidInput, match="ISO 8601"):
        ColumnSchema("at", "datetime", nullable=False, min="last tuesday")
    with pytest.raises(InvalidInput, match="time zone"):
        ColumnSchema("at", "datetime", nullable=False, min="2025-01-01", max="2025-02-01T00:00Z")


@pytest.mark.parametrize(
    ("data", "pattern"),
    [
        ([], "must be a mapping"),
        ({"cols": []}, "'cols' is unknown"),
        ({"format_version": 2, "columns": []}, "'format_version' is 2"),
        ({"columns": "age"}, "'columns' must be a list"),
        ({"columns": [7]}, r"columns\[0\] must be a mapping"),
        ({"columns": [{"name": "a", "dtype": "int"}]}, r"columns\[0\].nullable is missing"),
        (
            {"columns": [{"name": "a", "dtype": "int", "nullable": True, "colour": 1}]},
            r"columns\[0\].colour is unknown",
        ),
        (
            {
                "columns": [
                    {"name": "a", "dtype": "int", "nullable": True},
                    {"name": "b", "dtype": "int", "nullable": True, "max": "10"},
                ]
            },
            r"columns\[1\]: column 'b': field 'max' must be a finite number",
        ),
        (
            {"columns": [{"name": "b", "dtype": "string", "nullable": True, "categories": "ab"}]},
            r"columns\[0\].*'categories' must be a list of strings",
        ),
        (
            {
                "columns": [
                    {"name": "a", "dtype": "int", "nullable": True},
                    {"name": "a", "dtype": "float", "nullable": True},
                ]
            },
            r"repeated: \['a'\]",
        ),
    ],
)
def test_from_dict_names_the_bad_field(data, pattern):
    with pytest.raises(InvalidInput, match=pattern):
        Schema.from_dict(data)


def test_diff_lists_every_kind_of_change(schema):
    assert schema.diff(schema) == []
    edited = (
        schema.with_column("age", dtype="float", min=21)
        .with_column("employment_years", nullable=False)
        .with_column("gender", categories=("female", "male", "unknown"))
        .with_column("application_id", unique=False)
        .with_column("region", regex="[a-z]+")
    )
    kept = tuple(c for c in edited.columns if c.name != "default")
    newer = Schema((*kept, ColumnSchema("score", "float", nullable=True)))
    assert schema.diff(newer) == [
        "added column 'score' (float, nullable)",
        "removed column 'default'",
        "column 'application_id': no longer unique",
        "column 'age': type int -> float",
        "column 'age': min 18 -> 21",
        "column 'gender': categories added ['unknown']; removed ['nonbinary']",
        "column 'employment_years': no longer nullable",
        "column 'region': regex none -> '[a-z]+'",
    ]
    loose = schema.with_column("gender", categories=None).with_column("income", max=None)
    assert schema.diff(loose) == [
        "column 'gender': categories ['female', 'male', 'nonbinary'] -> none",
        f"column 'income': max {schema.column('income').max!r} -> none",
    ]

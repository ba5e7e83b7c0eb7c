"""Validation against a schema: every failure kind found, counted and sampled; no mocks."""

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
from shipyard.data._checks import Failure, ValidationReport, validate
from shipyard.errors import InvalidInput

ROWS = 2_000


@pytest.fixture(scope="module")
def clean() -> pd.DataFrame:
    return make_loans(ROWS, seed=5)


@pytest.fixture
def loans(clean: pd.DataFrame) -> pd.DataFrame:
    return clean.copy()


@pytest.fixture(scope="module")
def schema(clean: pd.DataFrame) -> Schema:
    return infer_schema(clean)


def _only(report: ValidationReport, check: str) -> Failure:
    assert [f.check for f in report.failures] == [check], report.summary()
    return report.failures[0]


def _both(frame: pd.DataFrame, schema: Schema, **kwargs) -> ValidationReport:
    """Validate as pandas and as Arrow; the reports must agree."""
    report = validate(frame, schema, **kwargs)
    arrow = validate(pa.Table.from_pandas(frame, preserve_index=False), schema, **kwargs)
    assert arrow.to_dict() == report.to_dict()
    return report


def test_data_passes_the_schema_inferred_from_it(clean, schema):
    report = _both(clean, schema)
    assert report.ok and report.rows == ROWS
    assert report.summary() == f"Validation passed: {ROWS:,} rows, no failures."
    report.raise_for_failures()
    assert report.to_frame().empty
    assert list(report.to_frame().columns) == ["check", "column", "rows", "samples", "message"]


def test_nulls_including_nan_in_float_columns(loans, schema):
    loans.loc[[3, 7, 9], "income"] = np.nan
    failure = _only(_both(loans, schema), "nullable")
    assert (failure.column, failure.rows, failure.samples) == ("income", 3, [None])
    assert "'income'" in failure.message and "no nulls" in failure.message


def test_out_of_range_below_and_above(loans, schema):
    loans.loc[[0, 1], "age"] = 10
    loans.loc[[2, 4, 6], "age"] = [120, 130, 120]
    report = _both(loans, schema)
    low, high = report.failures
    assert (low.check, low.column, low.rows, low.samples) == ("min", "age", 2, [10])
    assert (high.check, high.rows, high.samples) == ("max", 3, [120, 130])
    assert "'age' should be <= 75" in high.message


def test_datetime_range_and_time_zones(loans, schema):
    loans.loc[5, "applied_at"] = pd.Timestamp("2030-01-02")
    failure = _only(_both(loans, schema), "max")
    assert (failure.column, failure.rows, failure.samples) == (
        "applied_at",
        1,
        ["2030-01-02T00:00:00"],
    )
    # Built in Arrow: pyarrow 25's from_pandas warns (Pandas4Warning) on tz-aware columns.
    stamps = [dt.datetime(2025, 1, 1), dt.datetime(2025, 6, 1)]
    table = pa.table({"at": pa.array(stamps, pa.timestamp("us", tz="UTC"))})
    aware = table.to_pandas()
    naive_bound = Schema((ColumnSchema("at", "datetime", nullable=False, max="2025-03-01"),))
    for data in (aware, table):
        failure = _only(validate(data, naive_bound), "max")
        assert failure.samples == ["2025-06-01T00:00:00+00:00"]
        assert infer_schema(data).column("at").max == "2025-06-01T00:00:00+00:00"
        assert validate(data, infer_schema(data)).ok
    other_zone = naive_bound.with_column("at", max="2025-06-01T01:00:00+02:00")
    assert _only(validate(aware, other_zone), "max").rows == 1  # 23:00 UTC the day before


def test_unknown_categories_are_the_samples(loans, schema):
    loans["gender"] = loans["gender"].cat.add_categories(["x", "y"])
    loans.loc[[1, 2, 3], "gender"] = "x"
    loans.loc[8, "gender"] = "y"
    failure = _only(_both(loans, schema), "categories")
    assert (failure.column, failure.rows, failure.samples) == ("gender", 4, ["x", "y"])
    assert "['female', 'male', 'nonbinary']" in failure.message


def test_categories_also_checked_on_string_storage(loans, schema):
    loans["purpose"] = loans["purpose"].astype(str)  # e.g. read back from CSV
    loans.loc[10, "purpose"] = "yacht"
    failure = _only(_both(loans, schema), "categories")
    assert (failure.column, failure.rows, failure.samples) == ("purpose", 1, ["yacht"])


def test_duplicate_ids(loans, schema):
    loans.loc[10, "application_id"] = loans.loc[20, "application_id"]
    failure = _only(_both(loans, schema), "unique")
    assert (failure.column, failure.rows) == ("application_id", 2)  # both rows sharing it
    assert failure.samples == [int(loans.loc[20, "application_id"])]


def test_regex_must_match_the_whole_value_and_skips_nulls():
    frame = pd.DataFrame({"code": ["AB-1", "AB-2", "x", None, "AB-10", "x"]})
    schema = infer_schema(frame).with_column("code", regex=r"AB-\d", categories=None)
    failure = _only(_both(frame, schema), "regex")
    assert (failure.column, failure.rows, failure.samples) == ("code", 3, ["x", "AB-10"])
    assert "'code' should fully match 'AB-\\\\d'" in failure.message


def test_wrong_type_column_reports_type_and_skips_value_checks(loans, schema):
    loans["age"] = loans["age"].astype(str)
    failure = _only(_both(loans, schema), "type")
    assert (failure.column, failure.rows) == ("age", ROWS)
    assert failure.samples == list(dict.fromkeys(loans["age"]))[:5]
    assert "'age' should hold int values but has dtype str" in failure.message


def test_integers_are_fine_in_a_float_column(loans, schema):
    loans["income"] = loans["income"].astype("int64")
    assert _both(loans, schema).ok
    loans["age"] = loans["age"].astype(float)  # but floats are not ints
    assert _only(validate(loans, schema), "type").column == "age"


def test_mixed_object_column_counts_only_values_of_the_wrong_type(loans, schema):
    loans["region"] = loans["region"].astype(object)
    loans.loc[[3, 4], "region"] = [5, 7]
    failure = _only(validate(loans, schema), "type")
    assert (failure.column, failure.rows, failure.samples) == ("region", 2, [5, 7])
    assert "object values of type int, str" in failure.message


def test_missing_and_unexpected_columns(loans, schema):
    loans = loans.drop(columns=["region"]).assign(notes="n/a")
    report = _both(loans, schema)
    missing, extra = report.failures
    assert (missing.check, missing.column, missing.rows, missing.samples) == (
        "missing_column",
        "region",
        ROWS,
        [],
    )
    assert (extra.check, extra.column, extra.samples) == ("unexpected_column", "notes", ["n/a"])
    assert "'notes'" in extra.message and "not in the schema" in extra.message


def test_user_checks(loans, schema):
    expected = loans[~(loans["loan_amount"] < 0.4 * loans["income"])]
    checks = {
        "loan_vs_income": ("loan_amount", lambda d: d["loan_amount"] < 0.4 * d["income"]),
        "adult_rows": (None, lambda d: d["age"] >= 30),
        "big_enough": (None, lambda d: len(d) > 10_000),
        "passes": ("age", lambda d: d["age"] > 0),
        "broken": (None, lambda d: d["no_such_column"] > 0),
        "too_short": (None, lambda d: d["age"].head(3) > 0),
    }
    report = _both(loans, schema, checks=checks)
    by_name = {f.check: f for f in report.failures}
    assert list(by_name) == ["loan_vs_income", "adult_rows", "big_enough", "broken", "too_short"]
    loan = by_name["loan_vs_income"]
    assert (loan.column, loan.rows) == ("loan_amount", len(expected))
    assert loan.samples == list(dict.fromkeys(expected["loan_amount"]))[:5]
    adult = by_name["adult_rows"]
    assert adult.rows == int((loans["age"] < 30).sum())
    assert adult.samples[0]["age"] < 30 and len(adult.samples) == 5  # whole rows
    assert by_name["big_enough"].rows == ROWS
    assert "raised KeyError" in by_name["broken"].message
    assert "3 values for 2,000 rows" in by_name["too_short"].message


def test_every_failure_is_reported_at_once(loans, schema):
    loans.loc[0, "income"] = np.nan
    loans.loc[1, "age"] = 5
    loans.loc[2, "application_id"] = loans.loc[3, "application_id"]
    loans["credit_score"] = loans["credit_score"].astype(str)
    loans = loans.drop(columns=["term_months"]).assign(extra=1)
    regexed = schema.with_column("education", regex="[a-z_]+")
    loans["education"] = loans["education"].cat.add_categories(["PhD"])
    loans.loc[4, "education"] = "PhD"
    report = _both(loans, regexed, checks={"positive": ("income", lambda d: d["income"] > 0)})
    assert [(f.check, f.column, f.rows) for f in report.failures] == [
        ("missing_column", "term_months", ROWS),
        ("unexpected_column", "extra", ROWS),
        ("unique", "application_id", 2),
        ("min", "age", 1),
        ("categories", "education", 1),
        ("regex", "education", 1),
        ("nullable", "income", 1),
        ("type", "credit_score", ROWS),
        ("positive", "income", 1),  # NaN > 0 is False: the row fails
    ]
    summary = report.summary()
    assert summary.startswith(f"Validation failed: 9 failure(s) in {ROWS:,} rows.")
    assert all(f.message in summary for f in report.failures)
    with pytest.raises(InvalidInput, match="term_months") as err:
        report.raise_for_failures()
    assert str(err.value) == summary
    frame = report.to_frame()
    assert frame["rows"].tolist() == [f.rows for f in report.failures]
    assert json.loads(json.dumps(report.to_dict()))["failures"][2]["check"] == "unique"


def test_empty_table(clean, schema):
    report = _both(clean.iloc[:0], schema, checks={"any": (None, lambda d: d["age"] > 0)})
    assert report.ok and report.rows == 0
    assert not validate(pd.DataFrame({"a": pd.Series([], dtype=object)}), schema).ok


def test_bad_arguments(clean, schema):
    with pytest.raises(InvalidInput, match=r"pyarrow.Table or pandas.DataFrame"):
        validate(clean.to_dict(), schema)
    with pytest.raises(InvalidInput, match="must be a Schema"):
        validate(clean, schema.to_dict())
    with pytest.raises(InvalidInput, match=r"'positive'.*column name or None, function"):
        validate(clean, schema, checks={"positive": lambda d: True})


_FRAMES = st.integers(0, 30).flatmap(
    lambda n: st.fixed_dictionaries(
        {
            "i": st.lists(st.integers(-(2**63), 2**63 - 1), min_size=n, max_size=n),
            "f": st.lists(st.floats(), min_size=n, max_size=n),
            "s": st.lists(st.none() | st.text(max_size=5), min_size=n, max_size=n),
            "b": st.lists(st.booleans(), min_size=n, max_size=n),
        }
    )
)


@settings(max_examples=60, deadline=None)
@given(_FRAMES)
def test_data_always_passes_its_own_inferred_schema(columns):
    frame = pd.DataFrame(columns)
    frame["i"] = frame["i"].astype("int64")
    frame["b"] = frame["b"].astype(bool)
    schema = infer_schema(frame)
    assert validate(frame, schema).ok
    assert validate(pa.Table.from_pandas(frame, preserve_index=False), schema).ok
    assert Schema.from_dict(json.loads(json.dumps(schema.to_dict()))) == schema

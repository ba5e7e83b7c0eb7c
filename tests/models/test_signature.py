"""Model signatures: inference from training data, validation of every accepted input, and
their JSON form."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.linear_model import LinearRegression, LogisticRegression

from shipyard.data import make_loans
from shipyard.errors import InvalidInput
from shipyard.models import ColumnSpec, Signature, infer_signature


@pytest.fixture
def frame() -> pd.DataFrame:
    """One column of every supported type, no nulls."""
    return pd.DataFrame(
        {
            "age": [31, 45, 58],
            "income": [52_000.0, 61_500.5, 48_250.0],
            "owner": [True, False, True],
            "city": ["Lyon", "Oslo", "Lima"],
            "region": pd.Categorical(["north", "south", "north"], categories=["north", "south"]),
            "applied": pd.to_datetime(["2024-01-02", "2024-02-03", "2024-03-04"]),
        }
    )


@pytest.fixture
def sig(frame: pd.DataFrame) -> Signature:
    return infer_signature(frame)


def record(**changes: Any) -> dict[str, Any]:
    """A valid JSON-style request for the ``sig`` fixture, with some values changed."""
    base: dict[str, Any] = {
        "age": 40,
        "income": 50_000.0,
        "owner": True,
        "city": "Rome",
        "region": "south",
        "applied": "2024-05-06",
    }
    return {**base, **changes}


# -- inference ------------------------------------------------------------------------------


def test_each_dataframe_column_type_is_inferred(sig):
    assert [(c.name, c.type, c.nullable) for c in sig.inputs] == [
        ("age", "int", False),
        ("income", "float", False),
        ("owner", "bool", False),
        ("city", "string", False),
        ("region", "category", False),
        ("applied", "datetime", False),
    ]
    assert sig.names == ["age", "income", "owner", "city", "region", "applied"]
    # Categories keep the dtype's order, not the order values appear in.
    assert sig.inputs[4].categories == ("north", "south")
    assert all(c.categories is None for c in sig.inputs if c.type != "category")
    assert (sig.task, sig.classes, sig.target) == (None, None, None)


@pytest.mark.parametrize(
    ("column", "kind"),
    [
        (pd.array([1, None, 3], dtype="Int64"), "int"),
        ([1.5, np.nan, 2.5], "float"),
        (pd.array([True, None, False], dtype="boolean"), "bool"),
        (["a", None, "c"], "string"),
        (pd.Categorical(["x", None, "y"]), "category"),
        (pd.to_datetime(["2024-01-01", None, "2024-01-03"]), "datetime"),
    ],
)
def test_a_column_with_nulls_is_nullable(column, kind):
    (spec,) = infer_signature(pd.DataFrame({"c": column})).inputs
    assert (spec.type, spec.nullable) == (kind, True)


def test_the_loans_frame_gives_its_categories():
    loans = make_loans(500, seed=3).drop(columns=["application_id", "default"])
    sig = infer_signature(loans)
    types = {c.name: c.type for c in sig.inputs}
    assert types["applied_at"] == "datetime"
    assert types["age"] == "int" and types["income"] == "float"
    region = next(c for c in sig.inputs if c.name == "region")
    assert region.type == "category"
    assert region.categories == tuple(loans["region"].cat.categories)
    # employment_years has nulls in the generated data: nullable; age has none.
    nullable = {c.name for c in sig.inputs if c.nullable}
    assert nullable == {c for c in loans.columns if loans[c].isna().any()}


def test_arrays_get_positional_names_unless_the_model_has_names():
    X = np.arange(12.0).reshape(4, 3)
    assert infer_signature(X).names == ["x0", "x1", "x2"]
    assert [c.type for c in infer_signature(X).inputs] == ["float"] * 3
    named = LinearRegression().fit(pd.DataFrame(X, columns=["a", "b", "c"]), np.arange(4.0))
    assert infer_signature(X, model=named).names == ["a", "b", "c"]
    with pytest.raises(InvalidInput, match="1 dimensions"):
        infer_signature(np.arange(3))


def test_dicts_of_columns_and_arrow_tables_are_inferred_like_frames():
    expected = [("a", "int", False), ("b", "string", True)]
    from_dict = infer_signature({"a": [1, 2], "b": ["x", None]})
    from_arrow = infer_signature(pa.table({"a": [1, 2], "b": ["x", None]}))
    assert [(c.name, c.type, c.nullable) for c in from_dict.inputs] == expected
    assert [(c.name, c.type, c.nullable) for c in from_arrow.inputs] == expected


def test_a_column_of_mixed_values_is_refused_by_name():
    with pytest.raises(InvalidInput, match="'mixed'"):
        infer_signature(pd.DataFrame({"mixed": pd.Series([1, "a"], dtype=object)}))


def test_task_and_classes_come_from_the_model():
    X = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]})
    classifier = LogisticRegression().fit(X, ["no", "yes", "no", "yes"])
    sig = infer_signature(X, model=classifier)
    assert (sig.task, sig.classes) == ("classification", ("no", "yes"))
    regressor = LinearRegression().fit(X, [1.0, 2.0, 3.0, 4.0])
    assert infer_signature(X, model=regressor).task == "regression"


@pytest.mark.parametrize(
    ("y", "task", "classes"),
    [
        (np.array([1, 0, 1, 1]), "classification", (0, 1)),
        (["b", "a", "b", "a"], "classification", ("a", "b")),
        (np.array([True, False, True, True]), "classification", (False, True)),
        (np.array([0.5, 1.5, 2.5, 3.5]), "regression", None),
    ],
)
def test_task_and_classes_come_from_y_without_a_model(y, task, classes):
    sig = infer_signature(pd.DataFrame({"x": [1, 2, 3, 4]}), y)
    assert (sig.task, sig.classes) == (task, classes)
    # Classes are plain Python values: the signature's JSON form can be written.
    json.dumps(sig.to_dict())


def test_target_defaults_to_the_name_of_y():
    X = pd.DataFrame({"x": [1, 2]})
    assert infer_signature(X, pd.Series([0, 1], name="default")).target == "default"
    assert infer_signature(X, [0, 1], target="churned").target == "churned"
    assert infer_signature(X, [0, 1]).target is None


# -- validation: accepted inputs ----------------------------------------------------------


ROWS = pd.DataFrame(
    {
        "age": [31, 45],
        "income": [52_000.0, 61_500.5],
        "owner": [True, False],
        "city": ["Lyon", "Oslo"],
        "region": pd.Categorical(["north", "south"], categories=["north", "south"]),
        "applied": pd.to_datetime(["2024-01-02", "2024-02-03"]),
    }
)
FORMS: dict[str, Callable[[pd.DataFrame], Any]] = {
    "dataframe": lambda df: df,
    "dict of columns": lambda df: {c: df[c].tolist() for c in df.columns},
    "list of records": lambda df: df.to_dict("records"),
    "arrow table": lambda df: pa.Table.from_pandas(df, preserve_index=False),
    "2-d array": lambda df: df.to_numpy(dtype=object),
}


@pytest.mark.parametrize("form", sorted(FORMS))
def test_every_input_form_gives_the_same_columns(sig, form):
    columns = sig.validate(FORMS[form](ROWS))
    assert list(columns) == sig.names
    assert columns["age"].dtype == np.int64 and columns["age"].tolist() == [31, 45]
    assert columns["income"].dtype == np.float64
    assert columns["income"].tolist() == [52_000.0, 61_500.5]
    assert [bool(v) for v in columns["owner"]] == [True, False]
    assert list(columns["city"]) == ["Lyon", "Oslo"]
    assert list(columns["region"]) == ["north", "south"]
    assert pd.to_datetime(columns["applied"]).tolist() == ROWS["applied"].tolist()


def test_one_record_as_a_dict(sig):
    columns = sig.validate(record(age=52, city="Oslo"))
    assert {k: len(v) for k, v in columns.items()} == dict.fromkeys(sig.names, 1)
    assert columns["age"].tolist() == [52]
    assert list(columns["city"]) == ["Oslo"]
    assert pd.Timestamp(columns["applied"][0]) == pd.Timestamp("2024-05-06")


def test_integral_floats_are_accepted_for_int_columns(sig):
    # JSON has one number type: 52.0 is an int here.
    columns = sig.validate(record(age=52.0))
    assert columns["age"].dtype == np.int64 and columns["age"].tolist() == [52]
    as_floats = sig.validate({**{k: [v, v] for k, v in record().items()}, "age": [1.0, 2.0]})
    assert as_floats["age"].tolist() == [1, 2]
    columns = sig.validate({k: [v] for k, v in record(age=np.float64(3.0)).items()})
    assert columns["age"].dtype == np.int64 and columns["age"].tolist() == [3]


def test_ints_are_accepted_for_float_columns(sig):
    assert sig.validate(record(income=50_000))["income"].tolist() == [50_000.0]


def test_columns_the_signature_does_not_name_are_ignored(sig):
    columns = sig.validate(record(extra="anything", other=[1, 2, 3]))
    assert list(columns) == sig.names
    wide = ROWS.assign(unused=["p", "q"])
    assert list(sig.validate(wide)) == sig.names


def test_nulls_are_accepted_where_training_had_them():
    sig = infer_signature(
        pd.DataFrame(
            {
                "n": pd.array([1, None], dtype="Int64"),
                "s": ["a", None],
                "c": pd.Categorical(["x", None]),
            }
        )
    )
    columns = sig.validate({"n": None, "s": None, "c": None})
    assert np.isnan(columns["n"][0])
    assert columns["s"][0] is None and columns["c"][0] is None


def test_frame_gives_the_training_dtypes(sig):
    df = sig.frame(sig.validate(record()))
    assert list(df.columns) == sig.names
    assert df["age"].dtype == np.int64
    assert isinstance(df["region"].dtype, pd.CategoricalDtype)
    assert list(df["region"].cat.categories) == ["north", "south"]
    assert df["region"].tolist() == ["south"]


# -- validation: errors name the column --------------------------------------------------


def test_a_missing_column_is_named_with_what_the_model_takes(sig):
    request = record()
    del request["income"]
    with pytest.raises(InvalidInput, match=r"Missing column 'income' \(expected float\)") as e:
        sig.validate(request)
    assert "age, income, owner" in str(e.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"income": "a lot"}, r"Column 'income': expected float values, got str 'a lot'"),
        ({"age": "41"}, r"Column 'age': expected int values, got str '41'"),
        ({"age": 30.5}, r"Column 'age': expected int values, got 30\.5"),
        ({"age": True}, r"Column 'age': expected int values, got bool True"),
        ({"owner": 1}, r"Column 'owner': expected bool values"),
        ({"city": 7}, r"Column 'city': expected string values, got int 7"),
        ({"region": "west"}, r"Column 'region': unknown category 'west' \(allowed: 'north'"),
        ({"applied": "someday"}, r"Column 'applied': expected datetime values"),
    ],
)
def test_a_wrong_value_is_refused_naming_the_column(sig, change, message):
    with pytest.raises(InvalidInput, match=message):
        sig.validate(record(**change))


def test_the_bad_value_is_found_in_a_frame_of_many_rows(sig):
    rows = pd.concat([ROWS] * 50, ignore_index=True)
    rows["region"] = rows["region"].astype(str)
    rows.loc[77, "region"] = "west"
    with pytest.raises(InvalidInput, match="unknown category 'west'"):
        sig.validate(rows)
    rows = pd.concat([ROWS] * 50, ignore_index=True)
    rows["age"] = rows["age"].astype(float)
    rows.loc[12, "age"] = 30.5
    with pytest.raises(InvalidInput, match=r"'age': expected int values, got 30\.5"):
        sig.validate(rows)


@pytest.mark.parametrize("column", ["age", "owner", "city", "region"])
def test_a_null_is_refused_where_training_had_none(sig, column):
    with pytest.raises(InvalidInput, match=rf"Column '{column}'.*null") as e:
        sig.validate(record(**{column: None}))
    assert "trained without nulls" in str(e.value)


def test_an_unknown_category_in_a_categorical_frame_is_refused(sig):
    rows = ROWS.assign(region=pd.Categorical(["north", "east"]))
    with pytest.raises(InvalidInput, match="'region': unknown category 'east'"):
        sig.validate(rows)


def test_columns_of_different_lengths_are_refused(sig):
    request = {k: [v, v] for k, v in record().items()}
    request["city"] = ["Rome"]
    with pytest.raises(InvalidInput, match="Column 'city' has 1 values; the other columns have 2"):
        sig.validate(request)


def test_an_array_of_the_wrong_width_names_the_inputs(sig):
    with pytest.raises(InvalidInput, match=r"one column per model input \(6: age, income"):
        sig.validate(np.zeros((2, 4)))


def test_an_unsupported_input_type_is_refused(sig):
    with pytest.raises(InvalidInput, match="got int"):
        sig.validate(42)


def test_a_category_column_of_integers_accepts_its_training_frame():
    # Categories are stored as text; the frame the signature came from must still pass,
    # and so must a JSON request carrying the same integer.
    training = pd.DataFrame({"grade": pd.Categorical([1, 2, 3, 1])})
    sig = infer_signature(training)
    assert list(sig.validate(training)) == ["grade"]
    assert len(sig.validate({"grade": 2})["grade"]) == 1


def test_pandas_na_counts_as_a_null_in_numeric_columns():
    # A nullable int column of a DataFrame turned into a dict of columns (or a list of
    # records from an object array) carries pd.NA; it is the same null as None.
    sig = infer_signature(
        pd.DataFrame({"n": pd.array([1, None], dtype="Int64"), "f": [1.0, np.nan]})
    )
    columns = sig.validate({"n": [1, pd.NA], "f": [pd.NA, 2.0]})
    assert columns["n"][0] == 1 and np.isnan(columns["n"][1])
    assert np.isnan(columns["f"][0])


# -- JSON form ----------------------------------------------------------------------------


def test_to_dict_and_from_dict_round_trip(frame):
    sig = infer_signature(frame, pd.Series([0, 1, 0], name="default"))
    text = json.dumps(sig.to_dict())
    again = Signature.from_dict(json.loads(text))
    assert again == sig
    assert again.inputs[4].categories == ("north", "south")
    # The read-back signature validates like the original.
    assert again.validate(record())["age"].tolist() == [40]
    with pytest.raises(InvalidInput, match="unknown category"):
        again.validate(record(region="west"))


def test_from_dict_fills_defaults():
    sig = Signature.from_dict({"inputs": [{"name": "a", "type": "int"}]})
    assert sig.inputs == (ColumnSpec("a", "int"),)
    assert (sig.task, sig.classes, sig.target) == (None, None, None)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "must have 'inputs'"),
        ({"inputs": [{"name": "a"}]}, "must have 'inputs'"),
        ({"inputs": 5}, "must have 'inputs'"),
        ({"inputs": [{"name": "a", "type": "complex"}]}, "field 'type' must be one of"),
        ({"inputs": [], "task": "clustering"}, "field 'task' must be one of"),
        (
            {"inputs": [{"name": "a", "type": "int"}, {"name": "a", "type": "float"}]},
            r"repeated: \['a'\]",
        ),
        ({"inputs": [{"name": "c", "type": "category"}]}, "needs field 'categories'"),
    ],
)
def test_a_malformed_dict_is_refused(data, message):
    with pytest.raises(InvalidInput, match=message):
        Signature.from_dict(data)


def test_repeated_categories_are_refused_as_invalid_input():
    with pytest.raises(InvalidInput, match="'c'"):
        Signature.from_dict({"inputs": [{"name": "c", "type": "category", "categories": [1, "1"]}]})


_text = st.text(min_size=1, max_size=12)
_scalars = st.one_of(
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    _text,
)


@st.composite
def signatures(draw: st.DrawFn) -> Signature:
    names = draw(st.lists(_text, min_size=0, max_size=6, unique=True))
    inputs = []
    for name in names:
        kind = draw(st.sampled_from(["int", "float", "bool", "string", "category", "datetime"]))
        categories = (
            tuple(draw(st.lists(_text, max_size=6, unique=True))) if kind == "category" else None
        )
        inputs.append(ColumnSpec(name, kind, draw(st.booleans()), categories))
    task = draw(st.sampled_from([None, "classification", "regression"]))
    classes = draw(st.none() | st.lists(_scalars, max_size=5).map(tuple))
    return Signature(tuple(inputs), task, classes, draw(st.none() | _text))


@given(signatures())
def test_the_json_form_round_trips(sig):
    text = json.dumps(sig.to_dict())
    again = Signature.from_dict(json.loads(text))
    assert again == sig
    assert again.to_dict() == sig.to_dict()


@pytest.mark.parametrize("body", [{"": [None, []]}, {"age": [None, []]}, {"age": [[1], 2]}])
def test_ragged_columns_are_refused_as_invalid_input(body: dict[str, Any]) -> None:
    # found by the serving fuzz test: np.ndim raised ValueError on a ragged list (a 500)
    sig = Signature((ColumnSpec("age", "int"),))
    with pytest.raises(InvalidInput, match="age"):
        sig.validate(body)

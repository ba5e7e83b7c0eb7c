"""One rule for nulls, every type alike (issue 17): a column the signature marks non-nullable
refuses None / NaN / NaT with InvalidInput (422) naming the column and the rows; a nullable
column (training data had missing values there) accepts them. Float columns used to let NaN
through."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor

import shipyard as sy
from shipyard.errors import InvalidInput
from shipyard.models import infer_signature

CLEAN = pd.DataFrame(
    {
        "age": [31, 45, 58],
        "income": [52_000.0, 61_500.5, 48_250.0],
        "owner": [True, False, True],
        "city": ["Lyon", "Oslo", "Lima"],
        "region": pd.Categorical(["north", "south", "north"], categories=["north", "south"]),
        "applied": pd.to_datetime(["2024-01-02", "2024-02-03", "2024-03-04"]),
    }
)
GOOD: dict[str, Any] = {
    "age": 40,
    "income": 50_000.0,
    "owner": True,
    "city": "Rome",
    "region": "south",
    "applied": "2024-05-06",
}
NULLS = [None, float("nan"), np.nan, pd.NA]


def with_nulls() -> pd.DataFrame:
    frame = CLEAN.copy()
    frame["age"] = pd.array([31, None, 58], dtype="Int64")
    frame.loc[1, ["income", "city", "region", "applied"]] = [np.nan, None, np.nan, pd.NaT]
    frame["owner"] = pd.array([True, None, True], dtype="boolean")
    return frame


@pytest.mark.parametrize("column", list(GOOD))
@pytest.mark.parametrize("null", NULLS, ids=["None", "nan", "np.nan", "NA"])
def test_every_type_refuses_a_null_where_training_had_none(column, null):
    sig = infer_signature(CLEAN)
    with pytest.raises(InvalidInput, match=rf"^Column '{column}': .*null at row 0;") as info:
        sig.validate({**GOOD, column: null})
    assert info.value.http_status == 422
    assert "trained without nulls" in str(info.value)


@pytest.mark.parametrize("column", list(GOOD))
def test_every_type_accepts_a_null_where_training_had_one(column):
    sig = infer_signature(with_nulls())
    assert all(spec.nullable for spec in sig.inputs)
    for null in NULLS:
        sig.validate({**GOOD, column: null})
        sig.validate({name: [value, null] for name, value in GOOD.items()})


def test_the_rows_holding_nulls_are_named_in_every_input_form():
    sig = infer_signature(CLEAN)
    records = [dict(GOOD) for _ in range(30)]
    for row in (3, 17):
        records[row]["income"] = None
    expected = r"Column 'income': expected float values, got a null at rows 3, 17;"
    with pytest.raises(InvalidInput, match=expected):
        sig.validate(records)
    columns = {name: [r[name] for r in records] for name in GOOD}
    with pytest.raises(InvalidInput, match=expected):
        sig.validate(columns)
    frame = pd.DataFrame(records).astype({"income": float})
    with pytest.raises(InvalidInput, match=expected):
        sig.validate(frame)
    array = frame["income"].to_numpy()
    with pytest.raises(InvalidInput, match=expected):
        sig.validate({**columns, "income": array})
    many = pd.DataFrame([dict(GOOD) for _ in range(200)])
    many.loc[[5, 9, 150], "city"] = None
    with pytest.raises(InvalidInput, match=r"'city': .*null at rows 5, 9, 150;"):
        sig.validate(many)


def test_a_model_trained_with_missing_values_serves_them(home):
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"income": rng.normal(50, 10, 200), "age": rng.integers(18, 80, 200)})
    X.loc[::7, "income"] = np.nan
    y = X["age"] * 2.0
    sy.models.register("nullable-income", HistGradientBoostingRegressor().fit(X, y), X=X, y=y)
    model = sy.models.load("nullable-income@1")
    assert model.signature is not None
    assert [s.nullable for s in model.signature.inputs] == [True, False]
    assert np.isfinite(model.predict({"income": None, "age": 30})).all()
    with pytest.raises(InvalidInput, match="'age': expected int values, got a null at row 0"):
        model.predict({"income": 1.0, "age": None})

"""The bundled synthetic loan data: seeded, documented structure, drift knobs."""

from __future__ import annotations

import pandas as pd
import pytest

from shipyard.data import make_loans
from shipyard.errors import InvalidInput


def test_same_seed_same_data_and_documented_columns() -> None:
    a = make_loans(2_000, seed=3)
    b = make_loans(2_000, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(make_loans(2_000, seed=4))
    assert {"gender", "income", "credit_score", "purpose", "default", "applied_at"} <= set(a)
    assert a["application_id"].is_unique
    assert a["applied_at"].is_monotonic_increasing
    assert 0.12 < a["default"].mean() < 0.28
    assert 0.01 < a["employment_years"].isna().mean() < 0.06
    assert isinstance(a["gender"].dtype, pd.CategoricalDtype)


def test_sensitive_attribute_is_a_proxy_through_income() -> None:
    df = make_loans(20_000, seed=0)
    by_gender = df.groupby("gender", observed=True)["income"].median()
    assert by_gender["female"] < by_gender["male"]


def test_drift_knob_shifts_the_population() -> None:
    base = make_loans(10_000, seed=0)
    drifted = make_loans(10_000, seed=0, drift=1.0)
    assert drifted["income"].median() < 0.85 * base["income"].median()
    assert drifted["credit_score"].mean() < base["credit_score"].mean() - 20
    assert drifted["default"].mean() > base["default"].mean()


def test_concept_drift_changes_the_relationship_not_the_features() -> None:
    base = make_loans(20_000, seed=0)
    shifted = make_loans(20_000, seed=0, concept_drift=1.0)
    pd.testing.assert_series_equal(base["credit_score"], shifted["credit_score"])
    corr = lambda d: d["credit_score"].corr(d["default"])  # noqa: E731
    assert abs(corr(shifted)) < abs(corr(base))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"n_rows": 0}, "n_rows"),
        ({"drift": 1.5}, "drift"),
        ({"concept_drift": -0.1}, "concept_drift"),
    ],
)
def test_bad_arguments_name_the_field(kwargs: dict, field: str) -> None:
    args = {"n_rows": 100, **kwargs}
    with pytest.raises(InvalidInput, match=field):
        make_loans(**args)

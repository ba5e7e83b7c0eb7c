"""Multivariate drift by a domain classifier: no false alarms, joint changes the per-feature
tests miss, which columns separate the windows, and odd windows and arguments."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import shipyard as sy
from shipyard import monitoring
from shipyard.errors import InvalidInput
from shipyard.monitoring._domain import MIN_ROWS, DomainDrift, domain_drift


def _frame(
    n: int, rng: np.random.Generator, *, rho: float = 0.8, shift: float = 0.0
) -> pd.DataFrame:
    """Numbers (two correlated), a category and a date; ``shift`` moves ``score`` only."""
    x = rng.normal(0, 1, n)
    return pd.DataFrame(
        {
            "x": x,
            "y": rho * x + np.sqrt(1 - rho**2) * rng.normal(0, 1, n),
            "score": rng.normal(600 + 50 * shift, 50, n),
            "age": rng.integers(18, 80, n),
            "region": rng.choice(["north", "south", "east", "west"], n),
            "opened": pd.Timestamp("2020-01-01")
            + pd.to_timedelta(rng.integers(0, 3 * 365, n), unit="D"),
        }
    )


@pytest.mark.parametrize(("n", "seeds"), [(2000, range(4)), (150, range(6))])
def test_one_distribution_never_drifts(n: int, seeds: range) -> None:
    for seed in seeds:
        rng = np.random.default_rng(seed)
        result = domain_drift(_frame(n, rng), _frame(n, rng), seed=seed)
        assert not result.drifted and result.auc is not None and result.p_value is not None
        assert abs(result.auc - 0.5) < (0.03 if n > 1000 else 0.12)
        assert result.p_value > result.alpha
        assert result.reference_rows == result.current_rows == n and result.notes == ()


def _same_values(values: pd.Series, like: pd.Series) -> np.ndarray:
    """``like``'s values, in the rank order of ``values``: the marginal sample of one,
    the dependence (copula) of the other."""
    return np.sort(like.to_numpy())[np.argsort(np.argsort(values.to_numpy()))]


@pytest.mark.parametrize("n", [3000, 800])  # per-feature verdicts by effect size, by p-value
def test_a_joint_change_the_per_feature_tests_miss(n: int) -> None:
    rng = np.random.default_rng(10)
    ref, cur = _frame(n, rng, rho=0.8), _frame(n, rng, rho=-0.8)
    # x and y take exactly the reference's values, only paired the other way round
    cur["x"], cur["y"] = _same_values(cur["x"], ref["x"]), _same_values(cur["y"], ref["y"])
    per_feature = monitoring.drift(ref, cur)
    assert not per_feature.drifted and per_feature.drifted_features == []
    frame = per_feature.to_frame().set_index("feature")
    assert (frame.loc[["x", "y"], "ks"] == 0).all()
    assert (frame.loc[["x", "y"], "ks_p_value"] == 1).all()
    result = domain_drift(ref, cur)
    assert result.drifted and result.auc is not None and result.auc > 0.8
    assert result.p_value is not None and result.p_value < 1e-10
    assert set(result.features[:2]) == {"x", "y"}
    assert sum(result.importance.values()) == pytest.approx(1.0)


def test_a_shift_in_one_feature_drifts_and_ranks_it_first() -> None:
    rng = np.random.default_rng(11)
    result = domain_drift(_frame(3000, rng), _frame(3000, rng, shift=0.6))
    assert result.drifted and result.auc is not None and result.auc > 0.6
    assert result.features[0] == "score"
    shares = list(result.importance.values())
    assert shares == sorted(shares, reverse=True) and shares[0] > 0.5
    # a tiny shift on large windows is significant but below the effect threshold
    subtle = domain_drift(_frame(20_000, rng), _frame(20_000, rng, shift=0.15), folds=3)
    assert subtle.p_value is not None and subtle.p_value < subtle.alpha
    assert subtle.auc is not None and subtle.auc < subtle.threshold and not subtle.drifted
    strict = domain_drift(
        _frame(20_000, rng), _frame(20_000, rng, shift=0.15), folds=3, threshold=0.51
    )
    assert strict.drifted


def test_categories_shift_and_numbers_can_be_categories() -> None:
    rng = np.random.default_rng(12)
    ref, cur = _frame(3000, rng), _frame(3000, rng)
    cur["region"] = rng.choice(["north", "south", "east", "west"], 3000, p=[0.55, 0.15, 0.15, 0.15])
    result = domain_drift(ref, cur)
    assert result.drifted and result.features[0] == "region"
    # branch codes are labels, not quantities; a new branch opens in the current window
    ref["branch"] = rng.choice([101, 205, 317], 3000)
    cur["branch"] = rng.choice([101, 205, 317, 999], 3000)
    coded = domain_drift(
        ref.drop(columns="region"), cur.drop(columns="region"), categorical=["branch"]
    )
    assert coded.drifted and coded.features[0] == "branch"
    # a high-cardinality string (an id per row) is capped and tells the windows nothing
    ids = domain_drift(
        _frame(3000, rng).assign(id=[f"r{i}" for i in range(3000)]),
        _frame(3000, rng).assign(id=[f"c{i}" for i in range(3000)]),
    )
    assert not ids.drifted and "id" not in ids.columns
    assert ids.notes == ("'id' has only values rarer than 10 rows in the reference: left out",)


def test_datetime_columns_are_numbers_and_a_time_axis_is_left_out() -> None:
    rng = np.random.default_rng(13)
    ref, cur = _frame(3000, rng), _frame(3000, rng)
    cur["opened"] = cur["opened"] + pd.Timedelta(days=500)  # partly overlapping years
    result = domain_drift(ref, cur)
    assert result.drifted and result.features[0] == "opened"
    # dates, time zones and durations all become seconds; unchanged ones do not drift
    same = _frame(3000, rng)
    tables = []
    for frame in (ref, same):
        frame["day"] = frame["opened"].dt.date
        frame["wait"] = pd.to_timedelta(rng.integers(0, 90, len(frame)), unit="h")
        table = pa.Table.from_pandas(frame, preserve_index=False)
        # time-zone-aware stamps made in Arrow: pandas 3.1 warns when pyarrow converts them
        utc = pc.assume_timezone(table["opened"], "UTC")
        tables.append(table.append_column("utc", utc).drop_columns(["opened"]))
    calm = domain_drift(*tables)
    assert not calm.drifted and {"day", "utc", "wait"} <= set(calm.columns)
    # the windows' own timestamps never overlap: comparing them would always "drift"
    ref["event_time"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(3000), unit="min")
    same["event_time"] = ref["event_time"] + pd.Timedelta(days=7)
    axis = domain_drift(ref, same)
    assert "event_time" not in axis.columns and not axis.drifted
    assert any(note.startswith("'event_time' has no dates in common") for note in axis.notes)


def test_odd_columns_are_noted_and_never_drift() -> None:
    rng = np.random.default_rng(14)
    ref = _frame(1000, rng).assign(only_ref=1.0, empty=np.nan, kind="a", batch=7, flag=0)
    cur = _frame(1000, rng).assign(only_cur=2.0, empty=np.nan, kind=3.5, batch=8)
    cur["flag"] = rng.integers(0, 2, 1000)
    cur["nothing"] = pd.Series([None] * 1000, dtype=object)
    ref["nothing"] = rng.normal(0, 1, 1000)
    result = domain_drift(ref, cur)
    assert not result.drifted and result.auc is not None
    assert set(result.columns) == {"x", "y", "score", "age", "region", "opened"}
    assert set(result.notes) == {
        "'only_ref' is only in the reference: left out",
        "'only_cur' is only in the current window: left out",
        "'kind' holds categories in the reference but numbers in the current window: left out",
        "'empty' is all missing in the reference: left out",
        "'batch' is constant in the reference: left out",
        "'flag' is constant in the reference: left out",
        "'nothing' is all missing in the current window: left out",
    }
    lists = domain_drift(ref.assign(tags=[[1]] * 1000), cur.assign(tags=[[2]] * 1000))
    assert "'tags' holds list<item: int64>, which has no numeric meaning: left out" in lists.notes


def test_windows_too_small_or_without_columns_get_no_verdict() -> None:
    rng = np.random.default_rng(15)
    tiny = domain_drift(_frame(MIN_ROWS - 1, rng), _frame(500, rng, shift=3.0))
    assert not tiny.drifted and tiny.auc is None and tiny.p_value is None
    assert tiny.reference_rows == tiny.current_rows == 0
    assert tiny.notes[-1].startswith(f"too few rows to train on: the reference has {MIN_ROWS - 1}")
    nothing = domain_drift(pd.DataFrame({"a": [1.0] * 100}), pd.DataFrame({"a": [2.0] * 100}))
    assert not nothing.drifted and nothing.auc is None
    assert nothing.notes == (
        "'a' is constant in the reference: left out",
        "no column left to compare",
    )
    # just enough rows: a verdict, and a glaring shift is found
    small = domain_drift(_frame(MIN_ROWS, rng), _frame(MIN_ROWS, rng, shift=4.0))
    assert small.auc is not None and small.drifted


def test_inputs_balance_cap_determinism_and_to_dict(home: Path) -> None:
    rng = np.random.default_rng(16)
    ref, cur = _frame(4000, rng), _frame(1500, rng, shift=0.6)
    balanced = domain_drift(ref, cur)
    assert balanced.reference_rows == balanced.current_rows == 1500
    capped = domain_drift(ref, cur, max_rows=600, columns=["score", "x"], folds=3)
    assert capped.reference_rows == 600 and capped.columns == ("score", "x")
    version = sy.datasets.register("applications", ref)
    from_ref = domain_drift(version.ref, cur, seed=3)
    from_arrow = domain_drift(pa.Table.from_pandas(ref), pa.Table.from_pandas(cur), seed=3)
    assert from_ref == from_arrow == domain_drift(ref, cur, seed=3)
    assert domain_drift(ref, cur, seed=4).auc != from_ref.auc  # another subsample and folds
    payload = json.loads(json.dumps(balanced.to_dict()))
    assert payload["drifted"] is True and next(iter(payload["importance"])) == "score"
    assert set(payload) == {
        "drifted", "auc", "p_value", "threshold", "alpha", "reference_rows", "current_rows",
        "importance", "columns", "notes",
    }  # fmt: skip
    with pytest.raises(AttributeError):
        balanced.drifted = False  # type: ignore[misc]
    assert isinstance(balanced, DomainDrift)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"threshold": 0.5}, "threshold must be an AUC above 0.5"),
        ({"threshold": 1.2}, "threshold must be"),
        ({"threshold": "0.6"}, "threshold must be"),
        ({"alpha": 0}, "alpha must be a p-value"),
        ({"alpha": 1.0}, "alpha must be"),
        ({"folds": 1}, "folds must be an integer from 2 to 10; got 1"),
        ({"folds": 3.0}, "folds must be"),
        ({"folds": True}, "folds must be"),
        ({"max_rows": 10}, "max_rows must be an integer of at least 50"),
        ({"seed": "a"}, "seed must be an integer"),
        ({"columns": "x"}, "columns must be a list of column names"),
        ({"columns": []}, "columns must name at least one column"),
        ({"columns": ["x", 3]}, "columns must hold column names"),
        ({"columns": ["x", "nope"]}, "columns names columns neither window has: \\['nope'\\]"),
        ({"categorical": "region"}, "categorical must be a list"),
        ({"categorical": ["regoin"]}, "categorical names columns neither window has"),
    ],
)
def test_bad_arguments_are_named(arguments: dict[str, Any], message: str) -> None:
    rng = np.random.default_rng(17)
    with pytest.raises(InvalidInput, match=message):
        domain_drift(_frame(100, rng), _frame(100, rng), **arguments)


def test_inputs_that_are_not_tables_are_named() -> None:
    with pytest.raises(InvalidInput, match="current must be a DataFrame"):
        domain_drift(pd.DataFrame({"a": [1.0, 2.0]}), [1, 2, 3])

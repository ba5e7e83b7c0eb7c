"""Portfolios tried first, families chosen by promise afterwards, the "auto" executor and
families left out by their row limit."""

from __future__ import annotations

import warnings
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from optuna.distributions import CategoricalDistribution
from optuna.trial import FrozenTrial, TrialState

import shipyard as sy
from shipyard.automl._executors import AutoExecutor, LocalExecutor, ProcessExecutor
from shipyard.automl._families import FAMILIES, FAMILY_TABLE
from shipyard.automl._promise import next_family
from shipyard.automl._search import _chosen
from shipyard.automl._spaces import cheap_starts, make_pipeline, start_points
from shipyard.data import make_loans

TASKS = ["classification", "regression"]


@pytest.mark.parametrize("task", TASKS)
def test_every_portfolio_configuration_is_inside_its_family_space(task: str) -> None:
    features = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]})
    for name in FAMILIES:
        found = FAMILY_TABLE[name].portfolio(task)
        assert len(found) >= 4, name
        assert len({tuple(sorted(p.items())) for p in found}) == len(found), name  # distinct
        for params in found:
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # FixedTrial warns on a value out of range
                make_pipeline({"family": name, **params}, task, 0, features)


def test_start_points_are_cheap_starts_then_portfolios_interleaved_cheapest_first() -> None:
    families = ["mlp", "linear", "lightgbm"]
    points = start_points(families, "classification", 2)
    cheap = cheap_starts(families, "classification")
    assert points[: len(cheap)] == cheap
    rest = points[len(cheap) :]
    assert [p["family"] for p in rest] == ["linear", "lightgbm", "mlp"] * 2
    assert rest[1] == {"family": "lightgbm", **FAMILY_TABLE["lightgbm"].portfolio("regression")[0]}
    assert start_points(families, "classification", 0) == cheap


def test_a_search_tries_the_portfolio_then_repeats_itself(home: Path) -> None:
    def search() -> pd.DataFrame:
        return sy.automl(
            data=make_loans(300, seed=0),
            target="default",
            drop=["application_id"],
            families=["linear", "lightgbm"],
            n_trials=9,
            presets="fast",
            time_budget=120,
        ).leaderboard.sort_values("trial")

    board = search()
    # cheap starts, then 2 of each portfolio (linear's second is its cheap start: skipped)
    assert list(board["family"])[:5] == ["linear", "lightgbm", "linear", "lightgbm", "lightgbm"]
    assert board["params"].iloc[2] == "C=10"
    assert "learning_rate=0.05, num_leaves=63" in board["params"].iloc[4]
    again = search()
    assert list(again["params"]) == list(board["params"])  # promise and sampler: repeatable
    assert list(again["auc"].fillna(-1)) == list(board["auc"].fillna(-1))


def _trial(family: str, value: float | None, seconds: float = 1.0) -> Any:
    """A finished trial of ``family``: complete with ``value``, or pruned (None)."""
    start = datetime(2026, 1, 1)
    return FrozenTrial(
        number=0,
        state=TrialState.COMPLETE if value is not None else TrialState.PRUNED,
        value=value,
        datetime_start=start,
        datetime_complete=start + timedelta(seconds=seconds),
        params={"family": family},
        distributions={"family": CategoricalDistribution(["a", "b", "c"])},
        user_attrs={},
        system_attrs={},
        intermediate_values={},
        trial_id=0,
    )


def test_promise_favours_the_family_ahead_until_it_stalls() -> None:
    ahead = [_trial("a", 0.9), _trial("b", 0.7), _trial("c", 0.8)]
    assert next_family(ahead, ["a", "b", "c"], lower=False, measured=True) == "a"
    assert next_family(ahead[:2], ["a", "b", "c"], lower=False, measured=True) == "c"  # untried
    stalled = [*ahead, *(_trial("a", None) for _ in range(6))]
    assert next_family(stalled, ["a", "b", "c"], lower=False, measured=True) == "c"
    slow = [_trial("a", 0.9, seconds=100.0), _trial("b", 0.89), _trial("c", 0.5)]
    assert next_family(slow, ["a", "b", "c"], lower=False, measured=True) == "b"


def test_auto_runs_processes_for_long_searches_on_several_cores() -> None:
    frame = make_loans(50, seed=0)
    auto = AutoExecutor.start(frame, frame["default"], 2, None)
    assert isinstance(auto.choose(10.0, None), LocalExecutor)  # short budget
    assert isinstance(auto.choose(60.0, 5), LocalExecutor)  # n_trials: repeatable
    assert isinstance(AutoExecutor.start(frame, None, 1, None).choose(60.0, None), LocalExecutor)
    chosen = auto.choose(60.0, None)
    try:
        assert isinstance(chosen, ProcessExecutor) and chosen.workers == 2
    finally:
        chosen.close()


def test_families_above_their_row_limit_are_left_out_unless_asked_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    small = replace(FAMILY_TABLE["linear"], max_rows=1000)
    monkeypatch.setitem(FAMILY_TABLE, "linear", small)
    assert "linear" in _chosen(None, "tpe", 60.0, rows=1000)
    assert "linear" not in _chosen(None, "tpe", 60.0, rows=1001)
    assert _chosen(["linear"], "tpe", 60.0, rows=5000) == ["linear"]
    assert _chosen(None, "tpe", 60.0) == list(FAMILIES)

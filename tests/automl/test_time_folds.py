"""Searches over time-ordered folds: a class first seen late, rows no fold holds out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import shipyard as sy
from shipyard.automl._problem import score_values


def _late_class(rows: int = 240) -> pd.DataFrame:
    """Three classes over time, the third only in the last third of the rows."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"t": pd.date_range("2020-01-01", periods=rows, freq="D"), "x": rng.normal(size=rows)}
    )
    early = rng.choice(["a", "b"], rows)
    late = rng.choice(["a", "b", "c"], rows)
    frame["y"] = np.where(np.arange(rows) < 150, early, late)
    return frame


@pytest.mark.parametrize("metric", ["accuracy", "f1", "log_loss", "auc"])
def test_a_class_missing_from_a_folds_training_rows_is_scored_not_a_crash(
    home: Path, metric: str
) -> None:
    result = sy.automl(
        data=_late_class(),
        target="y",
        time_column="t",
        metric=metric,
        n_trials=3,
        families=["linear", "random_forest"],
        executor="local",
    )
    board = result.leaderboard
    assert (board["state"] == "complete").any()
    assert np.isfinite(result.best.metrics[metric])
    assert set(result.best.model.classes_) == {"a", "b", "c"}


def test_multiclass_auc_of_a_fold_without_some_class_averages_the_classes_present() -> None:
    y = np.array(["a", "b", "a", "b", "a"])
    values = np.array(
        [[0.7, 0.2, 0.1], [0.2, 0.6, 0.2], [0.5, 0.4, 0.1], [0.1, 0.7, 0.2], [0.6, 0.3, 0.1]]
    )
    scores = score_values(y, values, "classification", ["a", "b", "c"])
    assert scores["auc"] == pytest.approx(1.0)

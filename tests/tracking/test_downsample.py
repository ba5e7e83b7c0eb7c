"""Downsampling a metric series keeps its shape: extremes, ends, order, and short series whole."""

from __future__ import annotations

import numpy as np
import pytest

from shipyard.tracking import downsample


def test_short_series_are_kept_whole() -> None:
    assert downsample([1.0, 2.0, 3.0], 10).tolist() == [0, 1, 2]


def test_spikes_and_ends_survive_within_the_limit() -> None:
    values = np.sin(np.arange(100_000) / 1_000)
    values[12_345] = 50.0
    values[87_654] = -50.0
    kept = downsample(values, 1_000)
    assert len(kept) <= 1_000
    assert {0, 12_345, 87_654, 99_999} <= set(kept.tolist())
    assert (np.diff(kept) > 0).all()  # ascending, no repeats
    assert values[kept].max() == values.max() and values[kept].min() == values.min()


def test_nans_never_win_over_numbers() -> None:
    values = np.full(1_000, np.nan)
    values[500] = 1.0
    assert 500 in downsample(values, 10).tolist()


def test_a_limit_below_two_is_refused() -> None:
    with pytest.raises(ValueError, match="max_points"):
        downsample([1.0, 2.0, 3.0], 1)

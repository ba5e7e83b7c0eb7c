"""Drift verdicts on sampling noise: no alarm between samples of one distribution, power kept.

A few seeds of bench/drift_noise.py's tables (that script runs many, by hand).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from shipyard import monitoring
from shipyard.monitoring._inputs import Inputs
from shipyard.monitoring._statistics import statistic
from shipyard.monitoring._verdict import LARGE_ALPHA


def _labels(rng: np.random.Generator, shares: np.ndarray, rows: int) -> pa.Array:
    return pa.array(rng.choice(len(shares), rows, p=shares / shares.sum()).astype(str))


def _window(rng: np.random.Generator, rows: int) -> pa.Table:
    """Every column kind: numbers of several shapes, 3 to 5,000 categories, half missing."""
    flat = {k: np.ones(k) for k in (3, 1000, 5000)}
    zipf = {k: 1 / np.arange(1, k + 1) for k in (50, 1000, 5000)}
    return pa.table({
        "normal": rng.normal(0, 1, rows),
        "heavy_tailed": rng.standard_t(2, rows),
        "log_normal": rng.lognormal(3, 1.5, rows),
        "zero_inflated": np.where(rng.uniform(size=rows) < 0.7, 0.0, rng.lognormal(2, 1, rows)),
        "small_integers": rng.poisson(2, rows),
        "half_missing": pa.array(rng.normal(0, 1, rows), mask=rng.uniform(size=rows) < 0.5),
        **{f"flat_{k}": _labels(rng, s, rows) for k, s in flat.items()},
        **{f"zipf_{k}": _labels(rng, s, rows) for k, s in zipf.items()},
        "categories_half_missing": pa.array(
            rng.integers(0, 200, rows).astype(str), mask=rng.uniform(size=rows) < 0.5
        ),
    })  # fmt: skip


@pytest.mark.parametrize("rows", [5_000, 20_000])
def test_many_equally_likely_categories_do_not_cry_wolf(rows: int) -> None:
    # the issue: 1,000 equally likely values, Jensen–Shannon 0.23 and 0.11 between two samples
    rng = np.random.default_rng(rows)
    for _ in range(3):
        ref, cur = (pa.table({"c": rng.integers(0, 1000, rows).astype(str)}) for _ in "ab")
        exact, streamed = monitoring.drift(ref, cur), monitoring.drift_stream(ref, cur)
        feature = exact.features[0]
        assert feature.method == "jensenshannon" and feature.statistic > feature.threshold
        assert not feature.drifted and not exact.drifted
        assert feature.noise is not None and feature.noise > feature.statistic
        assert "but within sampling noise (noise level" in feature.rule
        assert streamed.features[0].rule == feature.rule  # the same counts, the same verdict


def test_no_false_alarm_for_any_column_kind_or_window_size() -> None:
    small = large = 0
    for rows, seeds in ((500, 8), (2_000, 4), (20_000, 2), (100_000, 1)):
        for seed in range(seeds):
            rng = np.random.default_rng([rows, seed])
            report = monitoring.drift(_window(rng, rows), _window(rng, rows))
            assert not report.drifted, (rows, seed)
            for f in report.features:
                assert f.method is not None, f.note
                if min(f.reference_rows * (1 - f.reference_missing), f.current_rows) <= 1000:
                    small += f.drifted  # p-values at 0.05: about 1 in 20 by design
                else:
                    assert not f.drifted, f"{rows} rows, seed {seed}: {f.feature}: {f.rule}"
                    large += 1
    assert small <= 10 and large > 80  # of 8 x 13 small-window verdicts: 5 expected


def test_the_noise_p_value_is_calibrated_not_merely_cautious() -> None:
    # p-values under no drift: uniform, so the verdict's false alarm rate is what it states
    js = statistic("jensenshannon")
    shares = 1 / np.arange(1, 2001)
    p_values = []
    for seed in range(300):
        rng = np.random.default_rng(seed)
        ref, cur = (rng.multinomial(4000, shares / shares.sum()).astype(float) for _ in "ab")
        seen = (ref + cur) > 0
        inputs = Inputs.of("categorical", ref[seen], cur[seen])
        p_values.append(js.beyond_noise(inputs, js.compute(inputs), LARGE_ALPHA).p_value)
    below = np.mean(np.array(p_values)[:, None] < [0.05, 0.2, 0.5], axis=0)
    assert below == pytest.approx([0.05, 0.2, 0.5], abs=0.05)


def test_power_is_kept_for_changes_that_matter(tmp_path: Path) -> None:
    rng = np.random.default_rng(20)
    rows = 20_000
    three = ["a", "b", "c"]
    ref = pa.table({
        "mean": rng.normal(0, 1, rows),
        "share": rng.choice(three, rows, p=[0.5, 0.3, 0.2]),
        "many": rng.integers(0, 1000, rows).astype(str),
    })  # fmt: skip
    many = np.full(1000, 0.8 / 1000)
    many[:10] += 0.02  # a fifth of the rows moved to 10 of 1,000 categories
    cur = pa.table({
        "mean": rng.normal(0.25, 1, rows),  # a quarter of a standard deviation
        "share": rng.choice(three, rows, p=[0.4, 0.3, 0.3]),  # 10 points moved
        "many": rng.choice(1000, rows, p=many).astype(str),
    })  # fmt: skip
    report = monitoring.drift(ref, cur)
    assert report.drifted_features == ["mean", "share", "many"]
    rules = {f.feature: f.rule for f in report.features}
    assert rules["mean"].startswith("normalised Wasserstein 0.2")
    assert "and beyond sampling noise (KS p=" in rules["mean"]
    assert rules["share"].startswith("Jensen–Shannon distance 0.08")
    assert "0.273 ≥ 0.05 and beyond sampling noise (noise level 0.12, p<1e-300)" in rules["many"]
    assert [f.rule for f in monitoring.drift_stream(ref, cur).features][1:] == [
        rules["share"],
        rules["many"],
    ]
    page = report.to_html(tmp_path / "drift.html").read_text()
    assert "beyond sampling noise" in page

"""Drift statistics of the table against hand computations."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from shipyard import monitoring
from shipyard.monitoring._statistics import METHODS, statistic


def test_hellinger_of_category_shares_by_hand() -> None:
    reference = pd.DataFrame({"c": ["a"] * 500 + ["b"] * 300 + ["c"] * 200})
    current = pd.DataFrame({"c": ["a"] * 200 + ["b"] * 300 + ["c"] * 500})
    feature = monitoring.drift(reference, current, methods={"c": "hellinger"}).features[0]
    p, q = [0.5, 0.3, 0.2], [0.2, 0.3, 0.5]
    want = math.sqrt(sum((math.sqrt(a) - math.sqrt(b)) ** 2 for a, b in zip(p, q, strict=True)) / 2)
    assert feature.stats["hellinger"] == pytest.approx(want, rel=1e-12)  # 0.2265
    assert feature.method == "hellinger" and feature.statistic == pytest.approx(want, rel=1e-12)
    assert feature.threshold == 0.1 and feature.drifted


def test_hellinger_of_numbers_is_computed_on_the_reference_deciles() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(0, 1, 5000), rng.normal(0.5, 1, 4000)
    stats = monitoring.drift(pd.DataFrame({"x": a}), pd.DataFrame({"x": b})).features[0].stats
    edges = np.unique(np.sort(a)[(np.arange(1, 10) * len(a)) // 10])
    bins = np.concatenate([[-np.inf], edges, [np.inf]])
    p = np.histogram(a, bins)[0] / len(a)
    q = np.histogram(b, bins)[0] / len(b)  # no empty bin: no 1e-4 floor to apply
    assert stats["hellinger"] == pytest.approx(math.sqrt(np.sum((p**0.5 - q**0.5) ** 2) / 2))
    assert stats["hellinger"] == pytest.approx(
        monitoring.drift_stream(pd.DataFrame({"x": a}), pd.DataFrame({"x": b}))
        .features[0]
        .stats["hellinger"],
        rel=1e-12,
    )


def test_every_judging_statistic_is_a_method_of_its_kinds() -> None:
    assert "hellinger" in METHODS["numeric"] and "hellinger" in METHODS["categorical"]
    assert statistic("hellinger").label == "Hellinger distance"

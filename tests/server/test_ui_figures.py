"""The web UI's charts as built on the server: downsampled series, JSON-safe numbers,
parallel-coordinate axes and the SVG preview drawn with the page."""

from __future__ import annotations

import math

from shipyard.server._ui import number, seconds
from shipyard.server._ui_figures import finite, lines, parallel, preview, series
from shipyard.tracking import Point


def test_a_long_series_arrives_downsampled_keeping_its_extremes() -> None:
    points = [Point("loss", float(i % 97), i, float(i)) for i in range(100_000)]
    points[54_321] = Point("loss", 1e6, 54_321, 0.0)  # a spike averaging would hide
    made = series(points, 1000)
    assert made["points"] == 100_000
    assert len(made["x"]) == len(made["y"]) <= 1000
    assert max(made["y"]) == 1e6 and 54_321 in made["x"]
    assert made["x"][0] == 0 and made["x"][-1] == 99_999


def test_numbers_json_cannot_carry_become_gaps() -> None:
    assert finite([1.0, math.nan, math.inf, -2]) == [1.0, None, None, -2.0]


def test_parallel_axes_are_numbers_or_categories() -> None:
    figure = parallel({"lr": ["0.1", "0.01"], "model": ["gbm", None]}, "auc", [0.8, 0.9])
    lr, model, auc = figure["data"][0]["dimensions"]
    assert lr["values"] == [0.1, 0.01] and "ticktext" not in lr
    assert model["ticktext"] == ["(none)", "gbm"] and model["values"] == [1, 0]
    assert auc == {"label": "auc", "values": [0.8, 0.9]}


def test_the_preview_draws_numeric_curves_only() -> None:
    drawn = str(preview(lines("", {"a": {"x": [0, 1, 2], "y": [1.0, None, 3.0]}})))
    assert drawn.count("<path") == 1 and "step 0 to 2" in drawn
    dates = {"data": [{"type": "scatter", "x": ["2026-01-01", "2026-01-02"], "y": [1, 2]}]}
    assert str(preview(dates)) == ""
    assert str(preview({"data": [{"type": "bar", "x": [1, 2], "y": [3, 4]}]})) == ""
    hostile = {"data": [{"x": [0, 1], "y": [0, 1], "line": {"color": '"/><script>'}}]}
    assert "<script>" not in str(preview(hostile))


def test_table_formats() -> None:
    assert [number(v) for v in (None, math.nan, 3.0, 1234, 0.123456, "gbm")] == [
        "", "", "3", "1,234", "0.1235", "gbm",
    ]  # fmt: skip
    assert [seconds(v) for v in (0.25, 12.34, 185, 7384)] == [
        "250 ms", "12.3 s", "3 m 05 s", "2 h 03 m",
    ]  # fmt: skip

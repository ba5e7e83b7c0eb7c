"""A run's DAG as an HTML page: every step with its state and time, layered by depth."""

from __future__ import annotations

from pathlib import Path

import core_flows as flows
import pytest

import shipyard as sy
from shipyard.errors import NotFound
from shipyard.pipelines._report import COLOURS, layers


@pytest.fixture(autouse=True)
def _home(home: Path) -> Path:
    return home


def test_the_page_shows_every_step_in_its_state(tmp_path: Path) -> None:
    run = flows.fan(n=3, width=2)
    failed = flows.broken(x=2)
    page = sy.pipelines.report(failed.id, tmp_path / "broken.html")
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!doctype html>") and "Plotly.newPlot" in text
    assert page.stat().st_size < 200_000 and (tmp_path / "plotly.min.js").is_file()
    for step in failed.steps:
        assert step.name in text
    assert COLOURS["failed"] in text and COLOURS["skipped"] in text
    assert "ValueError: boom 2" in text and failed.id in text

    latest = sy.pipelines.report("fan", tmp_path / "fan.html").read_text(encoding="utf-8")
    assert run.id in latest and "succeeded" in latest
    for step in run.steps:
        assert step.name in latest


def test_a_wider_run_than_the_registered_graph_is_drawn_from_its_code(tmp_path: Path) -> None:
    flows.fan(n=3, width=2)  # registers the version with two powers
    wide = flows.fan(n=3, width=4)
    text = sy.pipelines.report(wide.id, tmp_path / "wide.html").read_text(encoding="utf-8")
    assert "power-4" in text
    assert sy.pipelines.report("fan@1", tmp_path / "v1.html").exists()


def test_depth_is_one_more_than_the_deepest_upstream() -> None:
    upstream = {"a": [], "b": ["a"], "c": ["a", "b"], "d": []}
    assert layers(["a", "b", "c", "d"], upstream) == {"a": 0, "b": 1, "c": 2, "d": 0}


def test_a_pipeline_that_never_ran_or_an_unknown_run_is_not_found(tmp_path: Path) -> None:
    sy.pipelines.register(flows.kinds)
    with pytest.raises(NotFound, match="has no run yet"):
        sy.pipelines.report("kinds", tmp_path / "x.html")
    with pytest.raises(NotFound):
        sy.pipelines.report("0" * 32, tmp_path / "x.html")
    assert not (tmp_path / "x.html").exists()

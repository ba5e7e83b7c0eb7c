"""Bad input to the tracking SDK: refused with a clear error, and nothing stored changes."""

from __future__ import annotations

import math

import numpy as np
import pytest

import shipyard as sy
from shipyard.errors import Conflict, InvalidInput
from shipyard.tracking import Run

BAD_KEYS = [
    "",
    "/absolute",
    "a/../b",
    "..",
    "semi;colon",
    "quote'",
    "new\nline",
    "é",
    "x" * 251,
    None,
    3,
    b"bytes",
    ("a",),
]
BAD_NAMES = ["", "   ", "tab\tname", "new\nline", "x" * 257, 7, ["e"]]  # None: the default


def history(run: Run, key: str) -> list[tuple[int, float]]:
    return [(p.step, p.value) for p in run.metric_history(key)]  # flushes first


@pytest.fixture
def run(backend):
    with sy.start_run(experiment="validation") as run:
        yield run


@pytest.mark.parametrize("key", BAD_KEYS, ids=repr)
def test_bad_keys_are_refused_everywhere(run, key):
    calls = [
        ("Metric", lambda: run.log_metric(key, 1.0)),
        ("Metric", lambda: run.log_metrics({key: 1.0})),
        ("Param", lambda: run.log_param(key, 1)),
        ("Param", lambda: run.log_params({"fine": 1, key: 1})),
        ("Tag", lambda: run.set_tag(key, "v")),
        ("Tag", lambda: sy.start_run(experiment="e", tags={key: "v"})),
    ]
    if key not in ("", None):  # no name means the default name
        calls.append(("Artifact", lambda: run.log_artifact({"a": 1}, name=key)))
    for kind, call in calls:
        with pytest.raises(InvalidInput) as info:
            call()
        assert str(info.value).startswith(f"{kind} key")
    run.flush()
    data = run.data()
    assert (data.params, data.tags, data.metrics, data.artifacts) == ({}, {}, {}, [])
    assert sy.active_run() is run


def test_keys_may_use_the_documented_characters(run):
    key = "train/loss_v2-final.step:1 a"
    run.log_metric(key, 1.0)
    run.log_param(key, 1)
    run.set_tag(key, 1)
    run.flush()
    data = run.data()
    assert key in data.metrics and key in data.params and key in data.tags


@pytest.mark.parametrize("name", BAD_NAMES, ids=repr)
def test_bad_experiment_and_run_names_are_refused(backend, name):
    with pytest.raises(InvalidInput) as info:
        sy.start_run(experiment=name)
    assert "Experiment name" in str(info.value)
    with pytest.raises(InvalidInput) as info:
        sy.start_run(experiment="fine", name=name)
    assert "Run name" in str(info.value)
    assert sy.active_run() is None
    assert sy.list_experiments() == []


@pytest.mark.parametrize(
    "value", ["1.0", None, True, False, 1 + 2j, [1.0], np.array([1.0]), object()], ids=repr
)
def test_metric_values_must_be_real_numbers(run, value):
    with pytest.raises(InvalidInput) as info:
        run.log_metric("loss", value)
    assert "Metric 'loss' must be a real number" in str(info.value)
    with pytest.raises(InvalidInput):
        sy.log_metrics({"ok": 1.0, "loss": value})
    run.flush()
    assert run.data().metrics == {}  # not even the valid "ok" of the batch


@pytest.mark.parametrize(
    "value",
    [math.nan, math.inf, -math.inf, np.nan, np.float32("inf"), np.float64("-inf")],
    ids=repr,
)
def test_non_finite_metrics_are_refused_and_earlier_points_kept(run, value):
    run.log_metric("loss", 0.5)
    run.log_metric("loss", 0.4)
    with pytest.raises(InvalidInput) as info:
        run.log_metric("loss", value)
    assert "only finite values are stored" in str(info.value)
    with pytest.raises(InvalidInput):
        sy.log_metrics({"acc": 0.9, "loss": value})
    run.log_metric("loss", 0.3)  # the series goes on at the next step
    assert history(run, "loss") == [(0, 0.5), (1, 0.4), (2, 0.3)]
    latest = run.data().metrics
    assert set(latest) == {"loss"}
    assert (latest["loss"].value, latest["loss"].count) == (0.3, 3)


@pytest.mark.parametrize("step", [1.0, 2.5, "3", True, [1], np.float64(1)], ids=repr)
def test_steps_must_be_integers(run, step):
    run.log_metric("loss", 0.5)
    with pytest.raises(InvalidInput) as info:
        run.log_metric("loss", 0.4, step=step)
    assert "Step of metric 'loss' must be an integer" in str(info.value)
    with pytest.raises(InvalidInput):
        sy.log_metrics({"loss": 0.4}, step=step)
    run.log_metric("loss", 0.3)
    assert history(run, "loss") == [(0, 0.5), (1, 0.3)]


@pytest.mark.parametrize("timestamp", ["yesterday", math.nan, math.inf, True, [1.0]], ids=repr)
def test_timestamps_must_be_finite_numbers(run, timestamp):
    with pytest.raises(InvalidInput) as info:
        run.log_metric("loss", 0.4, timestamp=timestamp)
    assert "'loss'" in str(info.value)
    with pytest.raises(InvalidInput):
        run.log_metrics({"loss": 0.4}, timestamp=timestamp)
    assert history(run, "loss") == []


@pytest.mark.parametrize(
    "value", [object(), [1, 2], {"a": 1}, (1,), {1}, b"bytes", np.array([1])], ids=repr
)
def test_param_and_tag_values_must_be_scalars(run, value):
    with pytest.raises(InvalidInput) as info:
        run.log_param("p", value)
    assert "Param 'p' must be a string, number, bool or None" in str(info.value)
    with pytest.raises(InvalidInput):
        run.log_params({"fine": 1, "p": value})
    with pytest.raises(InvalidInput) as info:
        run.set_tag("t", value)
    assert "Tag 't'" in str(info.value)
    data = run.data()
    assert (data.params, data.tags) == ({}, {})


def test_too_long_values_are_refused(run):
    with pytest.raises(InvalidInput, match="at most 6000"):
        run.log_param("p", "x" * 6001)
    with pytest.raises(InvalidInput, match="at most 8000"):
        run.set_tag("t", "x" * 8001)
    run.log_param("p", "x" * 6000)
    run.set_tag("t", "x" * 8000)
    assert len(run.data().params["p"]) == 6000


@pytest.mark.parametrize("bad", [None, [("a", 1)], "a=1", 3])
def test_batches_must_be_mappings(run, bad):
    for call in (run.log_params, run.log_metrics, run.set_tags):
        with pytest.raises(InvalidInput, match="must be a mapping"):
            call(bad)


def test_a_param_is_write_once(run):
    run.log_params({"lr": 0.1, "model": "lgbm"})
    run.log_param("lr", 0.1)  # the same value again is fine
    run.log_params({"lr": "0.1", "model": "lgbm"})

    with pytest.raises(Conflict) as info:
        run.log_params({"depth": 6, "lr": 0.2})
    message = str(info.value)
    assert "'lr' is '0.1', not '0.2'" in message
    assert "Nothing was changed" in message
    assert "depth" not in message
    with pytest.raises(Conflict, match="'model' is 'lgbm', not 'xgb'"):
        sy.log_param("model", "xgb")

    assert run.data().params == {"lr": "0.1", "model": "lgbm"}  # depth was not stored
    run.log_param("depth", 6)  # the run is still usable
    assert run.data().params == {"lr": "0.1", "model": "lgbm", "depth": "6"}


def test_conflict_is_reported_for_another_process_view_of_the_run(run):
    """A resumed run (as another process would) sees the params already stored."""
    run.log_param("lr", 0.1)
    run.end()
    with sy.start_run(run_id=run.id) as again, pytest.raises(Conflict, match="'lr'"):
        again.log_param("lr", 0.5)
    assert sy.get_run(run.id).params == {"lr": "0.1"}


def test_unhashable_keys_are_invalid_input(home) -> None:
    with sy.start_run(experiment="keys") as run:
        with pytest.raises(InvalidInput, match="key must be a string"):
            run.log_metric(["a"], 1.0)  # type: ignore[arg-type]
        with pytest.raises(InvalidInput, match="key must be a string"):
            run.log_param(["a"], 1)  # type: ignore[arg-type]
        with pytest.raises(InvalidInput, match="key must be a string"):
            run.set_tag({"a": 1}, 1)  # type: ignore[arg-type]


def test_numeric_filter_on_a_huge_param_is_text_not_an_overflow(backend) -> None:
    with sy.start_run(experiment="huge") as run:
        run.log_param("x", "1e999")
    with sy.start_run(experiment="huge") as small:
        small.log_param("x", "5")
    found = sy.search_runs("huge", filter="params.x > 1")
    assert list(found["run_id"]) == [small.id]
    assert run.id not in set(found["run_id"])

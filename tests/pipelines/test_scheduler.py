"""The scheduler for real: triggers (dataset, model, alert, labelled rows) firing once per
event, the monitor → pipeline hop recorded both ways, two schedulers racing on one store,
and a ``shipyard scheduler`` process SIGKILLed mid-run and started again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sched_flows as flows
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

import shipyard as sy
from shipyard import monitoring
from shipyard.cli import app
from shipyard.data import make_loans
from shipyard.errors import InvalidInput
from shipyard.serving import InferenceLog

HERE = Path(__file__).parent


def _frame(seed: int) -> pd.DataFrame:
    return pd.DataFrame({"x": np.arange(5) + seed, "y": [seed] * 5})


def _scheduler(owner: str = "test") -> sy.pipelines.Scheduler:
    return sy.pipelines.Scheduler(owner=owner, max_runs=0, monitors=False)


def _keys(schedule_id: str) -> list[str]:
    return [f["key"] for f in sy.pipelines.list_firings(schedule_id)]


@pytest.fixture
def note(home: Path) -> Path:
    sy.pipelines.register(flows.note_pipeline)
    return home


def test_new_dataset_versions_fire_once_each_and_the_runs_run(note: Path, tmp_path: Path) -> None:
    sy.datasets.register("events", _frame(1))
    made = sy.pipelines.trigger(
        "sched-note", "dataset:events", params={"path": str(tmp_path / "ran")}
    )
    scheduler = _scheduler()
    assert scheduler.tick() == []  # version 1 was there before the trigger
    sy.datasets.register("events", _frame(2))
    sy.datasets.register("events", _frame(3))
    fired = scheduler.tick()
    assert len(fired) == 2 and scheduler.tick() == [] and _scheduler("other").tick() == []
    assert _keys(made.id) == ["dataset:events@2", "dataset:events@3"]
    run = sy.pipelines.get_run(fired[1])
    assert run.trigger is not None and run.trigger["ref"] == "events@3"
    worker = sy.pipelines.Scheduler(max_runs=2, monitors=False)
    worker.tick()
    assert worker.wait(60)
    assert {sy.pipelines.get_run(r).status for r in fired} == {"succeeded"}
    assert (tmp_path / "ran").read_text() == "ran\nran\n"


def test_model_versions_and_labelled_rows_fire_once_per_event(note: Path) -> None:
    X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})
    y = [0, 0, 1, 1]
    sy.models.register("scorer", LogisticRegression().fit(X, y), X=X, y=y)
    on_model = sy.pipelines.trigger("sched-note", "model:scorer")
    on_labels = sy.pipelines.trigger("sched-note", "labels:scorer", rows=5)
    scheduler = _scheduler()
    sy.models.register("scorer", LogisticRegression(C=0.5).fit(X, y), X=X, y=y)
    log = InferenceLog.of("scorer")
    for i in range(7):
        log.feedback(f"r{i}", label=i % 2)
    log.feedback("r-reward", reward=1.0)  # no label: not counted
    log.flush()
    fired = scheduler.tick(now=time.time() + 2.1)  # feedback is counted once 2 s old
    assert len(fired) == 2 and scheduler.tick(now=time.time() + 2.1) == []
    assert _keys(on_model.id) == ["model:scorer@2"]
    assert _keys(on_labels.id) == ["labels:7"]
    time.sleep(0.2)
    for i in range(3):
        log.feedback(f"s{i}", label=1)
    log.flush()
    assert scheduler.tick(now=time.time() + 2.1) == []  # 3 new, 5 needed
    for i in range(2):
        log.feedback(f"t{i}", label=0)
    log.flush()
    assert len(scheduler.tick(now=time.time() + 2.1)) == 1
    assert _keys(on_labels.id) == ["labels:7", "labels:12"]
    run = sy.pipelines.get_run(sy.pipelines.list_firings(on_labels.id)[-1]["run_id"])
    assert run.trigger is not None and run.trigger["kind"] == "labels"
    assert run.trigger["rows"] == 5 and run.trigger["deployment"] == "scorer"


def test_an_alert_starts_the_monitors_pipeline_and_each_names_the_other(note: Path) -> None:
    frame = make_loans(400, seed=3)
    sy.datasets.register("loans", frame)
    drifted = frame.assign(income=frame["income"] * 3, credit_score=frame["credit_score"] - 150)
    sy.datasets.register("loans", drifted)
    with pytest.raises(InvalidInput, match="on_alert entries must be 'pipeline:NAME'"):
        monitoring.create_monitor("bad", dataset="loans", reference="loans@1", on_alert=["x"])
    watch = monitoring.create_monitor(
        "watch", dataset="loans", reference="loans@1", on_alert=["pipeline:sched-note"]
    )
    assert watch.on_alert == ("pipeline:sched-note",)
    explicit = sy.pipelines.trigger("sched-note", "alert:watch", params={"tag": "explicit"})
    scheduler = _scheduler()
    assert scheduler.tick() == []
    kept = [s for s in sy.pipelines.list_schedules() if s.kind == "monitor"]
    assert [(s.on, s.pipeline) for s in kept] == [("alert:watch", "sched-note")]
    assert monitoring.check("watch").status == "alert"
    alert = monitoring.list_alerts(monitor="watch")[0]
    fired = scheduler.tick()
    assert len(fired) == 2 and scheduler.tick() == [] and _scheduler("b").tick() == []
    runs = [sy.pipelines.get_run(r) for r in fired]
    assert sorted(r.params.get("tag", "ran") for r in runs) == ["explicit", "ran"]
    for run in runs:
        assert run.trigger is not None
        assert (run.trigger["kind"], run.trigger["alert"], run.trigger["monitor"]) == (
            "alert",
            alert.id,
            "watch",
        )
    recorded = monitoring.get_alert(alert.id).deliveries
    started = [d for d in recorded if d["channel"] == "pipeline:sched-note"]
    assert sorted(d["run"] for d in started) == sorted(fired)
    assert all(d["ok"] and d["event"] == "opened" for d in started)
    assert _keys(explicit.id) == [f"alert:{alert.id}"]
    shown = CliRunner().invoke(app, ["alerts", "show", str(alert.id)])
    assert "pipeline:sched-note: started run" in shown.output and fired[0] in shown.output
    with pytest.raises(InvalidInput, match="on_alert"):
        sy.pipelines.delete_schedule(kept[0].id)
    monitoring.delete_monitor("watch")
    scheduler.tick()
    assert [s.kind for s in sy.pipelines.list_schedules()] == ["trigger"]
    command = ["monitors", "create", "w2", "--dataset", "loans", "--reference", "loans@1"]
    made = CliRunner().invoke(app, [*command, "--on-alert", "pipeline:sched-note"])
    assert made.exit_code == 0, made.output
    assert monitoring.get_monitor("w2").on_alert == ("pipeline:sched-note",)


def _race(schedulers: list[sy.pipelines.Scheduler], now: float) -> list[str]:
    barrier = threading.Barrier(len(schedulers))
    fired: list[str] = []
    errors: list[BaseException] = []

    def go(scheduler: sy.pipelines.Scheduler) -> None:
        try:
            barrier.wait()
            for _ in range(3):
                fired.extend(scheduler.tick(now=now))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(s,)) for s in schedulers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    return fired


def test_schedulers_racing_on_one_store_fire_each_firing_once(backend: str) -> None:
    sy.pipelines.register(flows.note_pipeline)
    sy.datasets.register("events", _frame(0))
    crons = [sy.pipelines.schedule("sched-note", "* * * * *") for _ in range(3)]
    on_data = sy.pipelines.trigger("sched-note", "dataset:events")
    for seed in range(1, 5):
        sy.datasets.register("events", _frame(seed))
    now = max(c.created_at for c in crons) + 300
    fired = _race([_scheduler("a"), _scheduler("b"), _scheduler("c")], now)
    firings = sy.pipelines.list_firings()
    pairs = [(f["schedule_id"], f["key"]) for f in firings]
    assert len(pairs) == len(set(pairs)) == 3 * 5 + 4
    assert sorted(fired) == sorted(f["run_id"] for f in firings)
    assert len(sy.pipelines.list_runs(status="queued", limit=1000)) == len(fired)
    assert _keys(on_data.id) == [f"dataset:events@{v}" for v in range(2, 6)]
    assert {f["claimed_by"] for f in firings} <= {"a", "b", "c"}


def test_scheduler_once_runs_what_is_queued(note: Path) -> None:
    queued = sy.pipelines.enqueue("sched-note", params={"tag": "queued"})
    result = CliRunner().invoke(app, ["scheduler", "--once", "--no-monitors"])
    assert result.exit_code == 0, result.output
    assert "Fired 0 run(s)." in result.output
    assert sy.pipelines.get_run(queued.id).status == "succeeded"


def _start(env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "shipyard.cli", "scheduler", "--interval", "0.2"]
    return subprocess.Popen([*command, "--no-monitors"], env=env, stderr=subprocess.DEVNULL)


def _until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.mark.slow
def test_a_killed_scheduler_started_again_neither_loses_nor_repeats_a_firing(
    home: Path, tmp_path: Path
) -> None:
    log = tmp_path / "hold.log"
    hold = Path(f"{log}.hold")
    hold.touch()
    sy.pipelines.register(flows.hold_pipeline)
    sy.datasets.register("events", _frame(1))
    made = sy.pipelines.trigger("sched-hold", "dataset:events", params={"path": str(log)})
    sy.datasets.register("events", _frame(2))
    path = os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    first = _start(env)
    try:
        _until(lambda: log.exists() and "start" in log.read_text(), 30, "the run to start")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    [cut] = sy.pipelines.list_firings(made.id)
    assert cut["key"] == "dataset:events@2"
    assert sy.pipelines.get_run(cut["run_id"]).status == "running"  # killed mid-run
    sy.datasets.register("events", _frame(3))  # while no scheduler runs
    hold.unlink()
    second = _start(env)
    try:
        _until(
            lambda: (
                [r.status for r in sy.pipelines.list_runs("sched-hold")].count("succeeded") == 2
            ),
            30,
            "the resumed run and the new one",
        )
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(20)
    keys = _keys(made.id)
    assert sorted(keys) == sorted(
        ["dataset:events@2", "dataset:events@3", f"resume:{cut['run_id']}"]
    )
    runs = sy.pipelines.list_runs("sched-hold")
    assert len(runs) == 3
    lost = sy.pipelines.get_run(cut["run_id"])
    assert lost.status == "failed"
    [resumed] = [r for r in runs if r.resumed_from == lost.id]
    assert resumed.status == "succeeded"
    # the step it was killed in ran again (or came from the other run's cache)
    assert sy.pipelines.get_run(resumed.id).step("hold").status in ("succeeded", "cached")

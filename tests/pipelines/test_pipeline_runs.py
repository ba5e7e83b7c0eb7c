"""Running pipelines for real: worker processes, the SQLite store, and every way a step can
fail (raising, unstorable output, timeout, SIGKILL), with caching, retries and resume."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import core_flows as flows
import numpy as np
import pytest

import shipyard as sy
from shipyard.errors import Conflict, InvalidInput, NotFound


@pytest.fixture(autouse=True)
def _home(home: Path) -> Path:
    return home


def test_fan_out_and_in_runs_and_records_every_step(backend: str) -> None:
    run = flows.fan(n=4, width=3)
    assert run.status == "succeeded", run.error
    assert [s.name for s in run.steps] == ["numbers", "power", "power-2", "power-3", "add_up"]
    assert all(s.status == "succeeded" and s.attempts == 1 for s in run.steps)
    assert sy.pipelines.output(run.id, "add_up") == 4 + 6 + 14
    assert run.step("numbers").logs == "making 4 numbers\n"
    assert run.params == {"n": 4, "width": 3}
    stored = sy.pipelines.get_run(run.id[:8])  # a unique prefix names a run
    assert stored.id == run.id
    assert stored.status == "succeeded" and stored.started_at and stored.ended_at
    assert stored.pipeline == "fan" and stored.version == 1


def test_dataframes_arrays_and_items_travel_between_steps() -> None:
    run = flows.kinds(n=5)
    assert run.status == "succeeded", run.error
    assert run.step("table").output_kind == "pickle"  # a dict holding a DataFrame
    assert sy.pipelines.output(run.id, "describe") == {"rows": 5, "sum": 10.0, "n": 5, "b0": "0"}
    frame = sy.pipelines.output(run.id, "table")["frame"]
    assert list(frame["a"]) == [0, 1, 2, 3, 4]
    assert isinstance(sy.pipelines.output(run.id, "table")["array"], np.ndarray)


def test_a_second_identical_run_is_served_from_the_cache(backend: str) -> None:
    first = flows.fan(n=4, width=2)
    again = flows.fan(n=4, width=2)
    assert {s.status for s in again.steps} == {"cached"}
    assert all(s.source_run == first.id for s in again.steps)
    assert sy.pipelines.output(again.id, "add_up") == sy.pipelines.output(first.id, "add_up")
    changed = flows.fan(n=5, width=2)  # numbers' input changed: everything below re-runs
    assert {s.status for s in changed.steps} == {"succeeded"}
    uncached = sy.pipelines.run(flows.fan, params={"n": 4, "width": 2}, cache=False)
    assert {s.status for s in uncached.steps} == {"succeeded"}


def test_retries_back_off_and_count_attempts(tmp_path: Path) -> None:
    run = flows.flaky_pipeline(path=str(tmp_path / "count"), fails=2)
    assert run.status == "succeeded", run.error
    step = run.step("flaky")
    assert step.attempts == 3
    assert sy.pipelines.output(run.id, "flaky") == "ok after 3"
    failed = flows.flaky_pipeline(path=str(tmp_path / "count2"), fails=5)
    assert failed.status == "failed"
    assert failed.step("flaky").attempts == 3
    assert "attempt 3: RuntimeError: attempt 3 fails" in (failed.step("flaky").error or "")
    assert "step 'flaky' failed" in (failed.error or "")


def test_a_step_past_its_timeout_is_killed_and_its_branch_skipped() -> None:
    started = time.monotonic()
    run = flows.timeouts(seconds=30.0)
    assert time.monotonic() - started < 15
    assert run.status == "failed"
    assert run.step("sleepy").status == "failed"
    assert "timed out after 1 s" in (run.step("sleepy").error or "")
    assert run.step("after_sleep").status == "skipped"
    assert run.step("quick").status == "succeeded"  # the independent branch ran
    assert sy.pipelines.output(run.id, "quick") == 42


def test_a_sigkilled_step_fails_the_run_and_resume_reuses_the_rest(
    tmp_path: Path, backend: str
) -> None:
    flag = tmp_path / "die"
    flag.write_text("1")
    run = flows.killed(path=str(flag))
    assert run.status == "failed"
    died = run.step("maybe_die")
    assert died.status == "failed" and "SIGKILL" in (died.error or ""), died.error
    assert run.step("first").status == "succeeded"
    assert run.step("last").status == "skipped"
    flag.unlink()
    resumed = sy.pipelines.resume(run.id)
    assert resumed.status == "succeeded", resumed.error
    assert resumed.resumed_from == run.id
    assert resumed.step("first").status == "reused"
    assert resumed.step("maybe_die").status == "succeeded"
    assert sy.pipelines.output(resumed.id, "last") == "first+alive"
    assert (tmp_path / "die.first").read_text() == "1"  # first ran once in all
    with pytest.raises(Conflict, match="only a failed or cancelled run resumes"):
        sy.pipelines.resume(resumed.id)


def test_a_raising_step_records_its_error_and_output() -> None:
    run = flows.broken(x=7)
    assert run.status == "failed"
    step = run.step("boom")
    assert step.error == "attempt 1: ValueError: boom 7"
    assert "about to fail" in (step.logs or "") and "Traceback" in (step.logs or "")
    assert run.step("downstream").status == "skipped"
    with pytest.raises(NotFound, match="has no output"):
        sy.pipelines.output(run.id, "downstream")


def test_an_output_that_cannot_be_stored_fails_its_step() -> None:
    run = flows.unstorable(x=3)
    assert run.status == "failed"
    error = run.step("generator").error or ""
    assert "Cannot store the output of step 'generator'" in error
    assert "generator" in error


def test_a_missing_item_of_an_output_fails_the_step_that_reads_it() -> None:
    run = flows.missing_item(x=1)
    assert run.step("pair").status == "succeeded"
    assert run.step("downstream").status == "failed"
    assert "has no item 'nope'" in (run.step("downstream").error or "")


def test_bad_graphs_are_refused_before_anything_is_stored() -> None:
    with pytest.raises(InvalidInput, match="has a cycle: "):
        flows.cycle(x=1)
    with pytest.raises(InvalidInput, match="bad parameters"):
        flows.fan(nope=1)
    with pytest.raises(InvalidInput, match="called with bad arguments"):
        sy.pipelines.run(sy.pipeline(name="bad-call")(lambda: flows.power([1])))
    with pytest.raises(InvalidInput, match="calls no step"):
        sy.pipelines.run(sy.pipeline(name="empty")(lambda: 1))
    assert sy.pipelines.list_pipelines() == []


def test_bad_step_options_are_refused() -> None:
    with pytest.raises(InvalidInput, match="retries of step 'f' must be 0 to 100"):
        sy.step(name="f", retries=-1)(lambda: 1)
    with pytest.raises(InvalidInput, match="timeout of step 'f' must be > 0"):
        sy.step(name="f", timeout=0)(lambda: 1)
    with pytest.raises(InvalidInput, match="memory must be bytes or a size"):
        sy.step(name="f", memory="lots")(lambda: 1)
    with pytest.raises(InvalidInput, match="step name must be"):
        sy.step(name="no spaces")(lambda: 1)


def test_independent_branches_run_at_the_same_time(tmp_path: Path) -> None:
    run = sy.pipelines.run(
        flows.parallel, params={"path": str(tmp_path), "seconds": 1.0}, workers=2
    )
    assert run.status == "succeeded", run.error
    (a0, a1), (b0, b1) = (sy.pipelines.output(run.id, n) for n in ("stamp", "stamp-2"))
    assert a0 < b1 and b0 < a1  # the two intervals overlap


def test_cancel_stops_a_running_run() -> None:
    result: dict[str, object] = {}
    thread = threading.Thread(target=lambda: result.update(run=flows.naps(seconds=20.0)))
    thread.start()
    deadline = time.monotonic() + 10
    runs: list[sy.pipelines.PipelineRun] = []
    while time.monotonic() < deadline and not runs:
        runs = sy.pipelines.list_runs(status="running")
        time.sleep(0.02)
    assert runs, "the run never started"
    started = time.monotonic()
    sy.pipelines.cancel(runs[0].id)
    thread.join(15)
    assert time.monotonic() - started < 5
    run = result["run"]
    assert isinstance(run, sy.pipelines.PipelineRun)
    assert run.status == "cancelled" and run.error == "cancelled"
    assert {s.status for s in run.steps} == {"cancelled"}
    with pytest.raises(Conflict, match="nothing to cancel"):
        sy.pipelines.cancel(run.id)


def test_a_registered_pipeline_runs_by_name_with_its_defaults() -> None:
    version = sy.pipelines.register(flows.fan, params={"n": 3})
    assert version.ref == "fan@1" and version.params == {"n": 3}
    assert [n["name"] for n in version.graph][:2] == ["numbers", "power"]
    run = sy.pipelines.run("fan")
    assert run.status == "succeeded" and run.params == {"n": 3, "width": 3}
    assert sy.pipelines.register(flows.fan, params={"n": 3}).version == 1  # same code
    assert sy.pipelines.get_pipeline("fan@1").entry == "core_flows:fan"
    listed = sy.pipelines.list_pipelines()
    assert [p["name"] for p in listed] == ["fan"] and listed[0]["last_run_status"] == "succeeded"
    with pytest.raises(NotFound, match="No pipeline named 'nope'"):
        sy.pipelines.run("nope")


def test_a_queued_run_is_claimed_once(backend: str) -> None:
    sy.pipelines.register(flows.fan)
    queued = sy.pipelines.enqueue("fan", params={"n": 2}, trigger={"kind": "test"})
    assert queued.status == "queued" and queued.trigger == {"kind": "test"}
    results: list[object] = []
    threads = [
        threading.Thread(target=lambda: results.append(sy.pipelines.run_queued(queued.id)))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    finished = [r for r in results if r is not None]
    assert len(finished) == 1
    run = sy.pipelines.get_run(queued.id)
    assert run.status == "succeeded" and sy.pipelines.output(run.id, "add_up") == 2 + 1 + 1
    with pytest.raises(InvalidInput, match="bad parameters"):
        sy.pipelines.enqueue("fan", params={"nope": 1})


def test_a_step_links_the_versions_and_tracking_run_it_made() -> None:
    run = flows.makes()
    assert run.status == "succeeded", run.error
    step = run.step("make_things")
    assert step.links == ("dataset:step-made@1",)
    assert step.output_kind == "dataset"
    assert step.tracking_run_id is not None
    assert sy.get_run(step.tracking_run_id).metrics["rows"].value == 3
    assert sy.pipelines.output(run.id, "make_things").version == 1


def test_a_run_whose_process_was_killed_is_lost_and_resumes(tmp_path: Path) -> None:
    flag = tmp_path / "hold"
    flag.write_text("1")
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); import core_flows; "
        "core_flows.held(path=sys.argv[2])"
    )
    folder = str(Path(flows.__file__).parent)
    child = subprocess.Popen([sys.executable, "-c", script, folder, str(flag)])
    try:
        deadline = time.monotonic() + 30
        run = None
        while time.monotonic() < deadline and run is None:
            running = sy.pipelines.list_runs(status="running")
            if running and sy.pipelines.get_run(running[0].id).step("hold").status == "running":
                run = running[0]
            time.sleep(0.05)
        assert run is not None, "the child never reached its held step"
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        child.kill()
    assert sy.pipelines.lost(sy.pipelines.get_run(run.id))
    flag.unlink()
    resumed = sy.pipelines.resume(run.id)
    assert resumed.status == "succeeded", resumed.error
    assert resumed.step("first").status == "reused"
    assert resumed.step("hold").status == "succeeded"
    old = sy.pipelines.get_run(run.id)
    assert old.status == "failed" and "coordinator stopped" in (old.error or "")


MODULE = """
import os
import shipyard as sy

@sy.step(cache=False)
def which() -> list:
    return [{version}, os.getpid()]

@sy.pipeline(name="which")
def which_pipeline():
    return which()
"""


def test_workers_are_reused_and_reload_a_module_edited_since(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    (tmp_path / "edited_flows.py").write_text(MODULE.format(version=1))
    monkeypatch.syspath_prepend(str(tmp_path))
    edited = importlib.import_module("edited_flows")
    first = sy.pipelines.run(edited.which_pipeline, workers=1)
    version, pid = sy.pipelines.output(first.id, "which")
    assert version == 1
    again = sy.pipelines.run(edited.which_pipeline, workers=1)
    assert sy.pipelines.output(again.id, "which") == [1, pid]  # the same worker, kept
    (tmp_path / "edited_flows.py").write_text(MODULE.format(version=2) + "\n# edited\n")
    importlib.reload(edited)
    changed = sy.pipelines.run(edited.which_pipeline, workers=1)
    assert sy.pipelines.output(changed.id, "which") == [2, pid]  # reloaded in that worker


def test_a_run_judged_lost_while_its_coordinator_lives_stops_and_keeps_that_verdict() -> None:
    from shipyard.pipelines._api import store

    result: dict[str, object] = {}
    thread = threading.Thread(target=lambda: result.update(run=flows.naps(seconds=20.0)))
    thread.start()
    deadline = time.monotonic() + 10
    runs: list[sy.pipelines.PipelineRun] = []
    while time.monotonic() < deadline and not runs:
        runs = sy.pipelines.list_runs(status="running")
        time.sleep(0.02)
    assert runs, "the run never started"
    started = time.monotonic()
    store().mark_lost(runs[0].id, "judged lost elsewhere")  # as resume does for a lost run
    thread.join(15)
    assert time.monotonic() - started < 5  # its coordinator noticed and stopped its steps
    run = sy.pipelines.get_run(runs[0].id)
    assert run.status == "failed" and run.error == "judged lost elsewhere"


def test_a_queued_run_takes_the_executor_its_pipeline_declares() -> None:
    sy.pipelines.register(flows.on_ray)
    assert sy.pipelines.enqueue("on-ray").executor == "ray"
    assert sy.pipelines.enqueue("on-ray", executor="local").executor == "local"

"""Metric points are buffered and written in batches, and never lost when a run ends,
fails, or the interpreter exits."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import create_engine, event, text

import shipyard as sy
from shipyard.config import get_settings
from shipyard.store import default_database


def stored_points(run_id: str) -> int:
    """Metric rows of a run, counted on a connection of our own (not Shipyard's)."""
    engine = create_engine(get_settings().db_url)
    try:
        with engine.connect() as conn:
            query = text("select count(*) from metrics where run_id = :id")
            return int(conn.execute(query, {"id": run_id}).scalar_one())
    finally:
        engine.dispose()


def test_points_are_written_in_batches_not_one_per_value(backend):
    inserts: list[int] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO METRICS"):
            inserts.append(len(parameters) if executemany else 1)

    engine = default_database().engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        with sy.start_run(experiment="batch") as run:
            for i in range(1000):
                run.log_metric("loss", 1 / (i + 1))
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert sum(inserts) == 1000
    assert len(inserts) <= 3  # one at the end, perhaps one or two by the background flusher
    assert stored_points(run.id) == 1000


@pytest.mark.slow
def test_nothing_is_written_before_the_flush_interval(backend, tmp_path, script_env):
    source = tmp_path / "logger.py"
    source.write_text(
        "import sys\n"
        "import shipyard as sy\n"
        "run = sy.start_run(experiment='buffered')\n"
        "for i in range(1000):\n"
        "    run.log_metric('loss', 1 / (i + 1))\n"
        "print(run.id, flush=True)\n"
        "sys.stdin.readline()\n"
        "run.end()\n"
        "print('ended', flush=True)\n"
    )
    with subprocess.Popen(
        [sys.executable, str(source)],
        env=script_env(SHIPYARD_FLUSH_INTERVAL="60"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            run_id = proc.stdout.readline().strip()
            assert run_id, proc.stderr.read()
            assert sy.get_run(run_id).info.status == "running"
            assert stored_points(run_id) == 0  # all 1,000 still in the logger's buffer
            out, err = proc.communicate("go\n", timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, err
    assert out.strip() == "ended"
    assert stored_points(run_id) == 1000
    assert sy.get_run(run_id).info.status == "finished"


def test_points_are_durable_once_the_run_ended(backend):
    with sy.start_run(experiment="durable") as run:
        for i in range(1000):
            sy.log_metric("loss", 1 / (i + 1))
            sy.log_metric("acc", i / 1000, step=i)
    assert stored_points(run.id) == 2000
    history = sy.get_metric_history(run.id, "acc")
    assert [p.step for p in history] == list(range(1000))
    assert [p.value for p in history] == [i / 1000 for i in range(1000)]
    latest = sy.get_run(run.id).metrics
    assert (latest["loss"].step, latest["loss"].value, latest["loss"].count) == (999, 0.001, 1000)


@pytest.mark.slow
def test_an_unended_run_is_flushed_and_finished_at_exit(backend, run_script):
    result = run_script(
        """
        import shipyard as sy
        run = sy.start_run(experiment="exit")  # no `with`, never ended
        print(run.id)
        for i in range(1500):
            sy.log_metric("loss", 1 / (i + 1))
        sy.log_param("lr", 0.1)
        with sy.start_run(experiment="exit", name="child") as child:  # ended normally
            child.log_metric("x", 1.0)
        nested = sy.start_run(name="nested-open")
        nested.log_metric("y", 2.0)
        print(nested.id)
        """,
        SHIPYARD_FLUSH_INTERVAL="60",
    )
    run_id, nested_id = result.stdout.split()
    data = sy.get_run(run_id)
    assert data.info.status == "finished"
    assert data.info.end_time is not None
    assert data.params == {"lr": "0.1"}
    assert data.metrics["loss"].count == 1500
    assert stored_points(run_id) == 1500
    nested = sy.get_run(nested_id)
    assert (nested.info.status, nested.metrics["y"].value) == ("finished", 2.0)
    assert nested.info.parent_id == run_id


@pytest.mark.slow
def test_an_uncaught_exception_marks_an_unended_run_failed(backend, run_script):
    result = run_script(
        """
        import shipyard as sy
        run = sy.start_run(experiment="crash")
        print(run.id, flush=True)
        for i in range(100):
            sy.log_metric("loss", 1 / (i + 1))
        raise RuntimeError("training diverged")
        """,
        check=False,
        SHIPYARD_FLUSH_INTERVAL="60",
    )
    assert result.returncode == 1
    assert "training diverged" in result.stderr
    data = sy.get_run(result.stdout.strip())
    assert data.info.status == "failed"
    assert data.metrics["loss"].count == 100

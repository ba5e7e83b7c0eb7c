"""Several processes on one store, and a process killed mid-run."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import create_engine, text

import shipyard as sy
from shipyard.config import get_settings

WORKERS = 4
POINTS = 2000

WORKER = """
import os, sys, time
import shipyard as sy

go, index = sys.argv[1], int(sys.argv[2])
print("ready", flush=True)
while not os.path.exists(go):
    time.sleep(0.002)
# Every worker races to create the experiment (and, on a new SQLite file, the schema).
with sy.start_run(experiment="race", name=f"worker-{index}") as run:
    for i in range(POINTS):
        run.log_metric("loss", index + i / POINTS)
        if i % 50 == 0:
            run.log_params({"worker": index, "batch": 64, f"p{i}": i})
            time.sleep(0.002)  # spread the points over several flushes
    print(run.id, flush=True)
""".replace("POINTS", str(POINTS))


def consistency_problems(run_id: str) -> list[str]:
    """Disagreements between a run's metric rows and its latest-metric rows."""
    engine = create_engine(get_settings().db_url)
    problems = []
    try:
        with engine.connect() as conn:
            series = conn.execute(
                text(
                    "select key, count(*), max(step), count(distinct step) from metrics "
                    "where run_id = :id group by key"
                ),
                {"id": run_id},
            ).all()
            latest = {
                r.key: r
                for r in conn.execute(
                    text("select key, step, count from latest_metrics where run_id = :id"),
                    {"id": run_id},
                )
            }
            if conn.dialect.name == "sqlite":
                check = conn.exec_driver_sql("PRAGMA integrity_check").scalar()
                if check != "ok":
                    problems.append(f"integrity_check: {check}")
    finally:
        engine.dispose()
    if {s[0] for s in series} != set(latest):
        problems.append(f"keys differ: {series} vs {latest}")
    for key, count, max_step, distinct in series:
        if distinct != count or max_step != count - 1:
            problems.append(f"{key}: steps are not 0..{count - 1} without gaps")
        if key in latest and (latest[key].count, latest[key].step) != (count, max_step):
            problems.append(f"{key}: latest says {latest[key]}, rows say {count}, {max_step}")
    return problems


@pytest.mark.slow
def test_concurrent_processes_lose_nothing(backend, tmp_path, script_env):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    go = tmp_path / "go"
    env = script_env(SHIPYARD_FLUSH_INTERVAL="0.05")
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(go), str(index)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in range(WORKERS)
    ]
    try:
        for proc in procs:
            assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        go.touch()
        results = [proc.communicate(timeout=120) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for proc, (_, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
    run_ids = [out.strip() for out, _ in results]

    assert [e.name for e in sy.list_experiments()] == ["race"]
    runs = sy.search_runs("race", order_by="name")
    assert list(runs["name"]) == [f"worker-{i}" for i in range(WORKERS)]
    assert set(runs["run_id"]) == set(run_ids)
    assert set(runs["status"]) == {"finished"}
    for index, run_id in enumerate(runs["run_id"]):
        data = sy.get_run(run_id)
        assert data.params["worker"] == str(index)
        assert len(data.params) == 2 + POINTS // 50
        history = sy.get_metric_history(run_id, "loss")
        assert [p.step for p in history] == list(range(POINTS))
        assert [p.value for p in history] == [index + i / POINTS for i in range(POINTS)]
        assert data.metrics["loss"].count == POINTS
        assert consistency_problems(run_id) == []


KILLED = """
import time
import shipyard as sy

run = sy.start_run(experiment="doomed")
print(run.id, flush=True)
i = 0
while True:
    run.log_metric("loss", 1 / (i + 1))
    run.log_metric("acc", i / 1e6)
    i += 1
    if i % 5 == 0:
        time.sleep(0.001)
"""


@pytest.mark.slow
def test_a_killed_process_leaves_a_consistent_store(backend, tmp_path, script_env):
    script = tmp_path / "doomed.py"
    script.write_text(KILLED)
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        env=script_env(SHIPYARD_FLUSH_INTERVAL="0.05"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        run_id = proc.stdout.readline().strip()
        assert run_id, proc.stderr.read()
        deadline = time.monotonic() + 60
        seen = 0
        while seen < 1000:  # several flushes have happened
            assert time.monotonic() < deadline, "the run never flushed"
            time.sleep(0.05)
            seen = len(sy.get_metric_history(run_id, "loss"))
        assert sy.get_run(run_id).info.status == "running"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL

    data = sy.get_run(run_id)
    assert data.info.status == "killed"
    assert data.info.start_time <= data.info.end_time <= time.time()
    loss = sy.get_metric_history(run_id, "loss")
    assert len(loss) >= seen  # everything flushed before the kill is there
    assert [p.value for p in loss] == [1 / (i + 1) for i in range(len(loss))]
    assert data.metrics["loss"].count == len(loss)
    assert consistency_problems(run_id) == []

    # The store is still usable, and the killed run stays killed.
    with sy.start_run(experiment="doomed") as after:
        after.log_metric("loss", 0.5)
    assert sy.get_run(after.id).info.status == "finished"
    assert sy.get_run(run_id).info.status == "killed"
    assert set(sy.search_runs("doomed")["status"]) == {"killed", "finished"}

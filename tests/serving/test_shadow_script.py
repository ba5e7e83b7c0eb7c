"""A user's script that serves a shadow deployment at top level, with no
``if __name__ == "__main__":`` guard, run as ``python script.py``: it runs once (the shadow
worker does not import the caller's ``__main__``, as multiprocessing's ``spawn`` did), its
shadow copies are answered, and the shadow worker ends with it, however it ends.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

SCRIPT = textwrap.dedent(
    """
    import json, os, signal, sys, time

    import httpx
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    import shipyard as sy
    from shipyard import serving
    from shipyard.serving import deployments

    with open(os.environ["SCRIPT_RUNS"], "a") as runs:  # one line per run of this script
        runs.write(f"{os.getpid()}\\n")

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    y = (X["a"] + X["b"] > 0).astype(int)
    sy.models.register("tiny", LogisticRegression().fit(X, y), X=X, y=y)
    sy.models.register("tiny", LogisticRegression(C=0.01).fit(X, y), X=X, y=y)
    deployments.create("tiny-shadow", {"main": "tiny@1", "copy": "tiny@2"}, policy="shadow")


    def shadow_rows(client):
        counts = {}
        for line in client.get("/metrics").text.splitlines():
            if line.startswith("shipyard_shadow_rows_total{"):
                outcome = line.split('outcome="', 1)[1].split('"', 1)[0]
                counts[outcome] = counts.get(outcome, 0) + float(line.rsplit(" ", 1)[1])
        return counts


    app = serving.create_app(deployment="tiny-shadow", poll=0.1)
    with serving.background(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        for i in range(50):
            row = {"a": float(rng.normal()), "b": float(rng.normal())}
            assert client.post("/predict", json=row).status_code == 200
        deadline = time.monotonic() + 60
        while sum(shadow_rows(client).values()) < 50 and time.monotonic() < deadline:
            time.sleep(0.1)
        worker = app.state.server.shadows.runner.pid
        print(json.dumps({"rows": shadow_rows(client), "worker": worker}), flush=True)
        if sys.argv[1:] == ["--killed"]:  # the server ends without a word to its worker
            os.kill(os.getpid(), signal.SIGKILL)
    """
)


def _run(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """The script run as ``python script.py`` in a fresh store; the lines of its runs."""
    script, runs = tmp_path / "script.py", tmp_path / "runs.txt"
    script.write_text(SCRIPT)
    env = {**os.environ, "SHIPYARD_HOME": str(tmp_path / "home"), "SCRIPT_RUNS": str(runs),
           "PYTHONPATH": os.pathsep.join(sys.path)}  # fmt: skip
    for var in ("SHIPYARD_DB_URL", "SHIPYARD_ARTIFACTS_URL", "SHIPYARD_CONFIG"):
        env.pop(var, None)
    done = subprocess.run(
        [sys.executable, str(script), *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    return done, runs.read_text().splitlines() if runs.exists() else []


def _report(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1, f"no report:\n{done.stdout}\n{done.stderr}"
    report: dict[str, Any] = json.loads(lines[0])
    return report


def _gone(pid: int) -> bool:
    """Whether ``pid`` has ended (a zombie waiting for its new parent counts as ended)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status


def _wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not _gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_a_script_without_a_main_guard_runs_once(tmp_path: Path) -> None:
    done, runs = _run(tmp_path)
    assert done.returncode == 0, done.stderr
    assert len(runs) == 1, f"the script ran {len(runs)} times:\n{done.stderr}"
    report = _report(done)
    rows = report["rows"]
    assert rows.get("agree", 0) + rows.get("differ", 0) == 50, rows  # every copy answered
    assert rows.get("error", 0) == 0, rows
    assert isinstance(report["worker"], int) and report["worker"] != int(runs[0])
    if Path("/proc").is_dir():
        assert _wait_gone(report["worker"], 30), "the shadow worker outlived its server"


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc (Linux)")
def test_the_shadow_worker_ends_when_its_server_is_killed(tmp_path: Path) -> None:
    done, runs = _run(tmp_path, "--killed")
    assert done.returncode == -9, done.stderr
    assert len(runs) == 1, f"the script ran {len(runs)} times:\n{done.stderr}"
    worker = _report(done)["worker"]
    assert isinstance(worker, int)
    assert _wait_gone(worker, 30), "the shadow worker outlived its killed server"


def test_a_shadow_worker_that_cannot_start_loses_its_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shipyard.serving._shadow_worker import ShadowWorker, WorkerLost

    worker = ShadowWorker({"SHIPYARD_HOME": str(tmp_path / "home")}, timeout=60)
    with monkeypatch.context() as patch:
        patch.setattr(sys, "executable", str(tmp_path / "no-python"))
        with pytest.raises(WorkerLost, match="did not start"):
            worker.run([])
    assert worker.started == 0
    assert worker.run([]) == []  # the next batch starts one (after the restart pause)
    assert worker.started == 1 and worker.pid is not None
    pid = worker.pid
    worker.kill()
    assert _wait_gone(pid, 10)

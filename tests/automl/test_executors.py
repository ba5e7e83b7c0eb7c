"""Trials side by side: local worker processes and a local Ray cluster, tracked in one store."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import shipyard as sy
from shipyard.data import make_loans
from shipyard.errors import InvalidInput

DROP = ["application_id"]


def _search(executor: str, **kwargs: Any) -> Any:
    frame = make_loans(600, seed=0)
    return sy.automl(
        data=frame,
        target="default",
        drop=DROP,
        n_trials=6,
        time_budget=120,
        families=["linear", "lightgbm"],
        executor=executor,
        **kwargs,
    )


def _children(result: Any) -> Any:
    return sy.search_runs("automl", filter=f"parent_id = '{result.run_id}'")


def _listening() -> set[str]:
    found = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True, check=False)
    return {line.split()[3] for line in found.stdout.splitlines() if line.strip()}


@pytest.mark.slow
def test_worker_processes_run_trials_side_by_side(home: Path) -> None:
    result = _search("processes", workers=2)
    children = _children(result)
    assert len(result.leaderboard) == 6 and len(children) == 6
    assert set(children["status"]) == {"finished"}
    assert set(children["tags.state"]) <= {"complete", "pruned", "stopped"}
    assert result.best.metrics["auc"] > 0.6


def test_bad_executor_settings_are_refused(home: Path) -> None:
    with pytest.raises(InvalidInput, match="executor must be one of"):
        _search("threads")
    with pytest.raises(InvalidInput, match="workers must be at least 1"):
        _search("processes", workers=0)


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[set[str]]:
    """A local Ray cluster; yields the sockets that were listening before it started."""
    # Keep every socket on 127.0.0.1 (Ray binds the machine's network address by default)
    # and skip token auth; Ray reads these when it is imported.
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray = pytest.importorskip("ray", reason="the ray extra is not installed")
    before = _listening()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    try:
        yield before
    finally:
        ray.shutdown()


@pytest.mark.slow
@pytest.mark.ray
def test_a_local_ray_cluster_runs_the_trials(home: Path, ray_cluster: set[str]) -> None:
    result = _search("ray")
    children = _children(result)
    assert len(children) == 6 and set(children["status"]) == {"finished"}
    opened = _listening() - ray_cluster
    assert opened, "Ray should listen somewhere"
    hosts = {a: a.rsplit(":", 1)[0].strip("[]").removeprefix("::ffff:") for a in opened}
    outside = [a for a, h in hosts.items() if not (h.startswith("127.") or h == "::1")]
    assert outside == [], f"Ray listens beyond loopback: {outside}"

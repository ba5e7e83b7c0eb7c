"""Pipelines on a local Ray cluster (127.0.0.1 only): fan-out, a raising step, a timeout and
a SIGKILLed worker in one real run, then a resume; the cluster starts once per session."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray_flows as flows

import shipyard as sy
from shipyard.config import reset_settings
from shipyard.errors import InvalidInput
from shipyard.pipelines._executor_ray import RayExecutor, check_reachable

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def _listening() -> set[str]:
    found = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True, check=False)
    return {line.split()[3] for line in found.stdout.splitlines() if line.strip()}


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[set[str]]:
    """The local cluster the executor starts on first use (address=None); yields the
    sockets that were listening before it started."""
    # no token auth in tests (a local cluster on 127.0.0.1); read when Ray is imported
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray = pytest.importorskip("ray", reason="the ray extra is not installed")
    before = _listening()
    started = not ray.is_initialized()
    assert RayExecutor(None, None, {}).slots >= 1  # joins, or starts the cluster
    try:
        yield before
    finally:
        if started:
            ray.shutdown()


def test_a_run_on_ray_records_fan_out_failures_timeouts_and_crashes(
    home: Path, tmp_path: Path, ray_cluster: set[str]
) -> None:
    trigger = tmp_path / "die"
    trigger.touch()
    run = sy.pipelines.run(flows.mix, params={"path": str(trigger)}, executor="ray")
    assert run.status == "failed" and run.executor == "ray"
    steps = {s.name: s for s in run.steps}
    fanned = ["numbers", "power", "power-2", "power-3", "add_up"]
    assert all(steps[name].status == "succeeded" for name in fanned)
    assert sy.pipelines.output(run.id, "add_up") == 6 + 14 + 4
    assert steps["numbers"].logs == "making 4 numbers\n"
    assert steps["boom"].status == "failed"
    assert "ValueError: boom 4" in (steps["boom"].error or "")
    assert "about to fail" in (steps["boom"].logs or "")
    assert steps["sleepy"].status == "failed"
    assert "timed out after 1 s" in (steps["sleepy"].error or "")
    assert (steps["sleepy"].duration or 99) < 10
    assert steps["maybe_die"].status == "failed"
    assert "Ray worker died" in (steps["maybe_die"].error or "")
    assert {steps[n].status for n in ("after", "after-2", "after-3")} == {"skipped"}

    trigger.unlink()  # the worker survives now: resume re-runs what failed, on Ray again
    again = sy.pipelines.resume(run.id, executor="ray")
    steps = {s.name: s for s in again.steps}
    assert steps["maybe_die"].status == "succeeded" and steps["add_up"].status == "reused"
    assert steps["after-3"].status == "succeeded"
    assert sy.pipelines.output(again.id, "after-3") == [24, "alive"]

    opened = _listening() - ray_cluster
    hosts = {a: a.rsplit(":", 1)[0].strip("[]").removeprefix("::ffff:") for a in opened}
    outside = [a for a, h in hosts.items() if not (h.startswith("127.") or h == "::1")]
    assert outside == [], f"Ray listens beyond loopback: {outside}"


def test_a_step_asking_more_cpus_than_the_local_cluster_fails_at_once(
    home: Path, ray_cluster: set[str]
) -> None:
    run = sy.pipelines.run(flows.too_big, executor="ray")
    assert run.status == "failed"
    assert "asks for 64 CPUs and the local Ray cluster has" in (run.step("greedy").error or "")


def test_a_wide_fan_out_runs_at_the_cluster_s_width(home: Path, ray_cluster: set[str]) -> None:
    run = sy.pipelines.run(flows.wide, params={"width": 20}, executor="ray", workers=2)
    assert run.status == "succeeded", run.error
    assert sy.pipelines.output(run.id, "gather") == sum(range(20))
    assert run.options["workers"] == 2


def test_steps_see_the_store_settings_of_their_run(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ray_cluster: set[str]
) -> None:
    first = sy.pipelines.run(flows.where, executor="ray")
    assert sy.pipelines.output(first.id, "settings")["home"] == str(home)
    other = tmp_path / "other-home"
    monkeypatch.setenv("SHIPYARD_HOME", str(other))
    reset_settings()  # the same Ray workers serve a run on another store
    second = sy.pipelines.run(flows.where, executor="ray", cache=False)
    assert sy.pipelines.output(second.id, "settings") == {
        "home": str(other),
        "db": f"sqlite:///{other / 'shipyard.db'}",
    }


def test_one_process_joins_one_cluster_and_a_dead_address_fails_fast(
    home: Path, ray_cluster: set[str]
) -> None:
    with pytest.raises(InvalidInput, match=r"cannot join '127\.0\.0\.1:9'"):
        sy.pipelines.run(flows.wide, params={"width": 2}, executor="ray", address="127.0.0.1:9")
    with pytest.raises(InvalidInput, match=r"nothing answers at 'ray://127\.0\.0\.1:9'"):
        check_reachable("ray://127.0.0.1:9")

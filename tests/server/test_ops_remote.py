"""Deployments, monitors and alerts in remote mode: with SHIPYARD_URL set, the SDK's
functions go through a real platform server (a child process over the test's store) and
give what the local calls give: the same moves, history, statistics, checks and errors."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sklearn.linear_model import LogisticRegression

import shipyard as sy
from shipyard import monitoring
from shipyard.config import reset_settings
from shipyard.data import make_loans
from shipyard.errors import Conflict, InvalidInput, NotFound
from shipyard.serving import deployments
from shipyard.testing.servers import platform_server

sys.path.insert(0, str(Path(__file__).parents[1] / "pipelines"))
import core_flows as flows

FEATURES = ["age", "income", "credit_score"]


def _fill_store() -> None:
    """Two model versions, a dataset with a drifted second version and a monitor of it, and
    one run of a small pipeline, in the current (local) store."""
    frame = make_loans(300, seed=0)
    X, y = frame[FEATURES], frame["default"]
    for c in (0.1, 1.0):
        sy.models.register("scorer", LogisticRegression(C=c, max_iter=500).fit(X, y), X=X, y=y)
    sy.datasets.register("applications", make_loans(1000, seed=0))
    monitoring.create_monitor(
        "drift", dataset="applications", reference="applications@1", detectors=["data_drift"],
        drift_share=0.1,
    )  # fmt: skip
    moved = make_loans(1000, seed=1)
    moved["income"] = moved["income"] * 1.8
    moved["credit_score"] = moved["credit_score"] - 80
    sy.datasets.register("applications", moved)
    flows.fan(n=3, width=2)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The module's store (filled once: the tests read it, and each changes only what it
    made) and a platform server over it; (its URL, the folder to put client homes in)."""
    root = tmp_path_factory.mktemp("ops-remote")
    with pytest.MonkeyPatch.context() as patch:
        for var in [k for k in os.environ if k.startswith("SHIPYARD_")]:
            patch.delenv(var)
        patch.setenv("SHIPYARD_HOME", str(root / "server-home"))
        reset_settings()
        try:
            _fill_store()
        finally:
            reset_settings()
    flows_folder = str(Path(__file__).parents[1] / "pipelines")  # the server imports core_flows
    with platform_server(root / "server-home", pythonpath=[flows_folder]) as url:
        yield url, root


@pytest.fixture
def server(served: tuple[str, Path], home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """This process in remote mode against the module's server (no local store)."""
    url, _ = served
    monkeypatch.setenv("SHIPYARD_URL", url)
    reset_settings()
    try:
        yield url
    finally:
        reset_settings()


def test_the_moves_go_through_the_server(server: str) -> None:
    made = deployments.create(
        "scoring", {"old": "scorer@1", "new": "scorer@2"}, policy="canary", reason="try it"
    )
    assert made.split == {"old": 95.0, "new": 5.0} and made.revision >= 1
    served = httpx.get(f"{server}/api/deployments").json()["items"]
    assert [d["name"] for d in served] == ["scoring"]  # stored by the server
    assert [d.name for d in deployments.list_deployments()] == ["scoring"]
    assert deployments.get("scoring") == made
    assert deployments.revision("scoring") == (made.id, made.revision)
    promoted = deployments.promote("scoring", reason="looks good")
    assert promoted.split == {"old": 0.0, "new": 100.0}
    assert deployments.rollback("scoring").split == {"old": 95.0, "new": 5.0}
    changed = deployments.set_policy("scoring", "fixed", split={"old": 50, "new": 50})
    assert changed.policy["kind"] == "fixed" and changed.split == {"old": 50.0, "new": 50.0}
    pointed = deployments.set_route("scoring", "new", "scorer@1")
    assert pointed.route("new").model == "scorer@1"
    kinds = [e.kind for e in deployments.history("scoring")]
    assert kinds == ["route", "policy", "rolled-back", "promoted", "created"]
    assert [e.kind for e in deployments.history("scoring", limit=2)] == ["route", "policy"]
    assert deployments.history("scoring")[3].reason == "looks good"
    assert abs(deployments.history("scoring")[-1].at - made.created_at) < 1.0
    stats = deployments.statistics("scoring")
    assert set(stats) == {"old", "new"} and stats["old"].requests == 0
    shown = deployments.as_dict(deployments.get("scoring"), details=True)
    assert shown["evidence"]["new"]["requests"] == 0
    current = deployments.get("scoring")
    stale = deployments.record_decision(
        "scoring", current.revision - 1, current.policy, current.split, "ab-concluded", {}
    )
    assert stale is None  # someone changed it since: dropped, as locally


def test_errors_are_the_local_ones(server: str) -> None:
    with pytest.raises(NotFound, match="nosuch"):
        deployments.get("nosuch")
    deployments.create("two", {"a": "scorer@1", "b": "scorer@2"})
    with pytest.raises(Conflict):
        deployments.create("two", {"a": "scorer@1"})
    with pytest.raises(Conflict, match="no change left to roll back"):
        deployments.rollback("two")
    deployments.delete("two")
    with pytest.raises(NotFound):
        deployments.get("two")


def test_monitors_checks_and_alerts_go_through_the_server(server: str) -> None:
    assert [m.name for m in monitoring.list_monitors()] == ["drift"]
    monitor = monitoring.get_monitor("drift")
    assert monitor.target == "applications" and monitor.detectors == ("data_drift",)
    ran = monitoring.check("drift")  # on the server, where the dataset is
    assert ran.status == "alert" and ran.detectors["data_drift"]["flagged"] is True
    assert monitoring.get_monitor("drift").last_check_at == pytest.approx(ran.at, abs=1e-3)
    assert [c.id for c in monitoring.checks("drift")] == [ran.id]
    income = monitoring.series("drift", feature="income")
    assert len(income) >= 1 and bool(income["flagged"].any())
    assert list(income.columns) == ["at", "check_id", "detector", "feature", "metric", "value",
                                    "threshold", "flagged"]  # fmt: skip
    (alert,) = monitoring.list_alerts(status="open")
    assert alert.monitor == "drift" and alert.opened_at == pytest.approx(ran.at, abs=5)
    assert monitoring.get_alert(alert.id) == alert
    acked = monitoring.acknowledge(alert.id)
    assert acked.status == "acknowledged" and acked.acknowledged_by
    with pytest.raises(Conflict):
        monitoring.acknowledge(alert.id)  # no longer open
    assert monitoring.resolve(alert.id).status == "resolved"
    assert monitoring.list_alerts(status="active") == []
    with pytest.raises(NotFound):
        monitoring.get_monitor("nope")
    with pytest.raises(InvalidInput, match="local store only: unset SHIPYARD_URL"):
        monitoring.set_monitor_enabled("drift", False)


def test_pipelines_runs_and_queueing_go_through_the_server(server: str) -> None:
    listed = sy.pipelines.list_pipelines()
    assert [p["name"] for p in listed] == ["fan"] and listed[0]["last_run_status"] == "succeeded"
    assert isinstance(listed[0]["last_run_at"], float)
    assert sy.pipelines.get_pipeline("fan").ref == "fan@1"
    (done,) = sy.pipelines.list_runs("fan")
    run = sy.pipelines.get_run(done.id)
    assert run.status == "succeeded" and run.created_at == done.created_at
    assert [s.name for s in run.steps] == ["numbers", "power", "power-2", "add_up"]
    assert run.step("numbers").logs == "making 3 numbers\n"
    queued = sy.pipelines.enqueue("fan", {"n": 2})
    assert queued.status == "queued" and queued.params["n"] == 2
    assert sy.pipelines.cancel(queued.id).status == "cancelled"
    assert [r.status for r in sy.pipelines.list_runs("fan")] == ["cancelled", "succeeded"]
    assert sy.pipelines.list_schedules("fan") == []
    with pytest.raises(InvalidInput, match="local store only: unset SHIPYARD_URL"):
        sy.pipelines.schedule("fan", "0 3 * * *")  # not over HTTP yet: refused, not local
    with pytest.raises(NotFound):
        sy.pipelines.get_run("0" * 32)

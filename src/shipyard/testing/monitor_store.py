"""The contract of a monitor store (``MonitorStore`` and its ``alerts``): checks any backend
passes, given an empty store.

Each ``check_*`` function takes a fresh, empty store and raises AssertionError (naming what
failed) when the backend breaks the contract; ``CHECKS`` lists them so a test can
parametrize over (backend, check)::

    @pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
    def test_monitor_store_contract(backend, check):
        check(SqlMonitorStore(default_database()))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shipyard.errors import Conflict, NotFound
from shipyard.monitoring._monitor_store import CheckRecord, MonitorStore
from shipyard.monitoring._values import Finding, Monitor

__all__ = [
    "CHECKS",
    "check_alert_lifecycle",
    "check_checks_and_results",
    "check_monitor_crud",
]

SPEC: dict[str, Any] = {
    "reference": "loans@1", "window": {"rows": 100.0}, "detectors": ["data_drift"],
    "channels": ["log"], "cooldown": 0.0, "drift_share": 0.5, "thresholds": {},
    "categorical": [], "metric": None, "metric_threshold": None, "min_rows": 30,
    "weighted": True,
}  # fmt: skip


def _raises(kind: type[Exception], action: Callable[[], object], what: str) -> None:
    try:
        action()
    except kind:
        return
    raise AssertionError(f"{what}: expected {kind.__name__}")


def _record(at: float, status: str = "ok") -> CheckRecord:
    return CheckRecord(at, status, at - 60, at, 100, 200, {"error": "", "detectors": {}}, 0.1)


def check_monitor_crud(store: MonitorStore) -> None:
    """Insert, read, list by name, pause, delete; a taken name is a Conflict and a missing
    monitor NotFound."""
    made = store.insert("b-watch", "deployment", "loans", SPEC, 3600.0)
    assert isinstance(made, Monitor) and made.name == "b-watch" and made.enabled
    assert made.every == 3600.0 and made.channels == ("log",) and made.last_check_at is None
    store.insert("a-watch", "dataset", "loans", {**SPEC, "window": {}}, None)
    assert [m.name for m in store.monitors()] == ["a-watch", "b-watch"]
    assert store.get("b-watch") == made
    _raises(Conflict, lambda: store.insert("b-watch", "dataset", "x", SPEC, None), "a taken name")
    paused = store.set_enabled("b-watch", False)
    assert not paused.enabled and not store.get("b-watch").enabled
    _raises(NotFound, lambda: store.set_enabled("nope", True), "pausing no monitor")
    store.delete("b-watch")
    _raises(NotFound, lambda: store.get("b-watch"), "a deleted monitor")
    _raises(NotFound, lambda: store.delete("b-watch"), "deleting it again")
    assert [m.name for m in store.monitors()] == ["a-watch"]


def check_checks_and_results(store: MonitorStore) -> None:
    """Checks come back newest first with their detail; results oldest first, filtered by
    feature, metric and first check; the monitor remembers its last check."""
    monitor = store.insert("watch", "deployment", "loans", SPEC, None)
    ids = []
    for i, at in enumerate((100.0, 200.0)):
        results = [
            ("data_drift", "age", "psi", 0.01 * (i + 1), 0.1, False),
            ("data_drift", "income", "psi", None, None, False),
        ]
        check_id, notices = store.record_check(monitor, _record(at), results, {})
        assert notices == [], "no findings, no notices"
        ids.append(check_id)
    assert ids[1] > ids[0], "check ids grow"
    found = store.checks(monitor, 10)
    assert [c.id for c in found] == ids[::-1] and found[0].at == 200.0
    assert found[0].rows == 100 and found[0].reference_rows == 200 and found[0].status == "ok"
    assert len(store.checks(monitor, 1)) == 1
    rows = store.results(monitor, feature="age")
    assert [(r[0], r[5]) for r in rows] == [(100.0, 0.01), (200.0, 0.02)]
    assert len(store.results(monitor, metric="psi", from_check=ids[1])) == 2
    assert store.results(monitor, feature="income")[0][5] is None
    assert store.get("watch").last_check_at == 200.0
    store.delete("watch")
    _raises(NotFound, lambda: store.record_check(monitor, _record(300.0), [], {}), "deleted")


def check_alert_lifecycle(store: MonitorStore) -> None:
    """A flagged finding opens one alert (one notice); flagging again adds an occurrence
    (no notice); recovering resolves it (cooldown 0); by hand: acknowledge, resolve,
    deliveries recorded; a finding of None changes nothing."""
    monitor = store.insert("watch", "deployment", "loans", SPEC, None)
    alerts = store.alerts
    drifted = Finding(True, "data drift", {"share": float("nan")})
    _, notices = store.record_check(monitor, _record(100.0), [], {"data_drift": drifted})
    assert [(n.event, n.channels) for n in notices] == [("opened", None)]
    opened = alerts.get(notices[0].alert_id)
    assert opened.status == "open" and opened.evidence == {"share": None}
    alerts.record_deliveries(opened.id, [{"channel": "log", "ok": True, "event": "opened"}])
    _, again = store.record_check(monitor, _record(200.0), [], {"data_drift": drifted})
    assert again == [] and alerts.get(opened.id).occurrences == 2
    _, none = store.record_check(monitor, _record(250.0), [], {"data_drift": None})
    assert none == [] and alerts.get(opened.id).status == "open"
    calm = Finding(False, "no data drift")
    _, resolved = store.record_check(monitor, _record(300.0), [], {"data_drift": calm})
    assert [n.event for n in resolved] == ["resolved"]
    assert alerts.get(opened.id).status == "resolved"
    _, notices = store.record_check(monitor, _record(400.0), [], {"data_drift": drifted})
    second = notices[0].alert_id
    assert [a.id for a in alerts.find("watch", None, 10)] == [second, opened.id]
    assert [a.id for a in alerts.find(None, ("open",), 10)] == [second]
    alerts.acknowledge(second, "ana", 450.0)
    assert alerts.get(second).acknowledged_by == "ana"
    _raises(Conflict, lambda: alerts.acknowledge(second, "ana", 460.0), "acknowledging twice")
    assert alerts.resolve(second, "ana", 470.0) == "watch"
    _raises(Conflict, lambda: alerts.resolve(second, "ana", 480.0), "resolving twice")
    _raises(NotFound, lambda: alerts.get(10**12), "no such alert")
    _raises(NotFound, lambda: alerts.find("nope", None, 10), "alerts of no monitor")
    assert len(alerts.get(opened.id).deliveries) == 1


CHECKS: tuple[Callable[[MonitorStore], None], ...] = (
    check_monitor_crud,
    check_checks_and_results,
    check_alert_lifecycle,
)

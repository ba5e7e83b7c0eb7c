"""Monitors and alerts in remote mode (``SHIPYARD_URL``): the public functions read and
act through the platform server's monitoring routes, and get the same values back (times
as epoch seconds, errors as the server raised them). A check runs on the server, where the
inference logs and datasets are; acknowledging or resolving records the server's caller."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any
from urllib.parse import quote

from shipyard._time import epoch, epoch_times
from shipyard.errors import InvalidInput
from shipyard.monitoring._values import Alert, Check, Monitor
from shipyard.store import RemoteClient

__all__ = [
    "alert_of",
    "check_of",
    "client",
    "monitor_of",
    "monitor_path",
    "refuse_remote",
    "remote_alerts",
    "remote_checks",
    "remote_series",
]

_TUPLES = ("detectors", "channels", "categorical", "on_alert")
_MONITOR_TIMES = ("created_at", "updated_at", "last_check_at")


def client() -> RemoteClient | None:
    """The platform server's client in remote mode, else None (local stores)."""
    from shipyard.config import get_settings

    if not get_settings().remote:
        return None
    from shipyard.store import remote_client

    return remote_client()


def refuse_remote(what: str) -> None:
    """InvalidInput in remote mode for what only works on a local store."""
    from shipyard.config import get_settings

    if get_settings().remote:
        raise InvalidInput(
            f"{what} works on a local store only: unset SHIPYARD_URL (or run it on the "
            "server's host)."
        )


def monitor_path(name: str, *rest: str) -> str:
    return "/".join(["/api/monitors", quote(name, safe=""), *rest])


def monitor_of(data: Mapping[str, Any]) -> Monitor:
    """A monitor rebuilt from the API's JSON."""
    names = {f.name for f in fields(Monitor)}
    values = {k: v for k, v in data.items() if k in names}
    for key in _TUPLES:
        values[key] = tuple(values.get(key) or ())
    for key in _MONITOR_TIMES:
        values[key] = epoch(values.get(key))
    values["created_at"] = values["created_at"] or 0.0
    values["updated_at"] = values["updated_at"] or 0.0
    return Monitor(**values)


def check_of(data: Mapping[str, Any]) -> Check:
    """A check rebuilt from the API's JSON."""
    return Check(
        id=int(data["id"]),
        monitor=str(data["monitor"]),
        at=epoch(data["at"]) or 0.0,
        status=str(data["status"]),
        rows=int(data["rows"]),
        reference_rows=int(data["reference_rows"]),
        window_start=epoch(data.get("window_start")),
        window_end=epoch(data.get("window_end")),
        seconds=float(data["seconds"]),
        detectors=dict(data.get("detectors") or {}),
        error=str(data.get("error") or ""),
    )


def alert_of(data: Mapping[str, Any]) -> Alert:
    """An alert rebuilt from the API's JSON."""
    names = {f.name for f in fields(Alert)}
    values = {k: v for k, v in data.items() if k in names}
    for key in ("opened_at", "updated_at"):
        values[key] = epoch(values[key]) or 0.0
    for key in ("acknowledged_at", "resolved_at"):
        values[key] = epoch(values.get(key))
    values["deliveries"] = tuple(epoch_times(list(values.get("deliveries") or ())))
    values["evidence"] = epoch_times(values.get("evidence") or {})
    return Alert(**values)


def remote_alerts(
    remote: RemoteClient, monitor: str | None, status: str | None, limit: int
) -> list[Alert]:
    """Alerts, newest first, at most ``limit``."""
    found: list[Alert] = []
    pages = remote.pages("/api/alerts", monitor=monitor, status=status, page_size=min(limit, 1000))
    for item in pages:
        found.append(alert_of(item))
        if len(found) >= limit:
            break
    return found


def remote_checks(remote: RemoteClient, name: str, limit: int) -> list[Check]:
    """A monitor's checks, newest first, at most ``limit``."""
    found: list[Check] = []
    for item in remote.pages(monitor_path(name, "checks"), page_size=min(limit, 1000)):
        found.append(check_of(item))
        if len(found) >= limit:
            break
    return found


def remote_series(
    remote: RemoteClient,
    name: str,
    feature: str | None,
    metric: str | None,
    from_check: int | None,
) -> list[dict[str, Any]]:
    """A monitor's stored results as records, oldest first (times as epoch seconds)."""
    params = {"feature": feature, "metric": metric, "from_check": from_check, "page_size": 1000}
    rows = []
    for item in remote.pages(monitor_path(name, "series"), **params):
        rows.append({**item, "at": epoch(item["at"])})
    return rows

"""What a trigger watches: one entry of :data:`TRIGGERS` per kind (the ``KIND`` of
``on="KIND:TARGET"``).

An entry checks its target when a trigger is created, gives the cursor a new trigger
starts from (what exists now is not an event), and polls for the events after a cursor:
each :class:`Event` has its firing key (unique per schedule: ``dataset:loans@4``,
``alert:17``, ``labels:1200``), what is recorded on the run as its trigger, and the cursor
once it has fired. ``fired`` is told the run a firing queued (an alert records it). Adding
a kind is adding an entry here.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from shipyard._refs import check_name
from shipyard.errors import InvalidInput

__all__ = ["SETTLE", "TRIGGERS", "Event", "Trigger", "parse_on"]

#: Feedback is counted up to this many seconds ago (servers write it every second).
SETTLE = 2.0
#: At most this many events of one trigger per poll (the rest at the next).
MOST = 100


@dataclass(frozen=True)
class Event:
    """One thing a trigger saw: its firing key, the run's ``trigger`` record, the cursor
    after it."""

    key: str
    trigger: dict[str, Any]
    cursor: dict[str, Any]


class Trigger(Protocol):
    """One kind of trigger (see the module docstring)."""

    kind: str
    help: str
    #: whether it takes ``rows`` (how many new things make one event)
    counts: bool

    def check(self, target: str) -> None:
        """Raise NotFound / InvalidInput when ``target`` cannot be watched."""

    def start(self, target: str, now: float) -> dict[str, Any]:
        """The cursor of a trigger created at ``now`` (what exists is not an event)."""

    def poll(
        self, target: str, rows: int | None, cursor: Mapping[str, Any], now: float
    ) -> list[Event]:
        """The events after ``cursor``, oldest first."""

    def fired(self, event: Event, pipeline: str, run_id: str) -> None:
        """A firing of ``event`` queued ``run_id`` of ``pipeline``."""


class _Versions:
    """New versions of a registered thing (datasets, models): one event per version. Its
    module (``get``, ``versions``) is imported when first used: importing the pipelines
    stays light."""

    def __init__(self, kind: str, label: str, module: str) -> None:
        self.kind = kind
        self.label = label
        self.module = module
        self.help = f"a new version of {label} NAME"
        self.counts = False

    @property
    def api(self) -> Any:
        return importlib.import_module(self.module)

    def check(self, target: str) -> None:
        self.api.get(f"{check_name(self.label.capitalize(), target)}@latest")

    def start(self, target: str, now: float) -> dict[str, Any]:
        return {"version": int(self.api.get(f"{target}@latest").version)}

    def poll(
        self, target: str, rows: int | None, cursor: Mapping[str, Any], now: float
    ) -> list[Event]:
        seen = int(cursor.get("version", 0))
        if int(self.api.get(f"{target}@latest").version) <= seen:
            return []
        numbers = sorted(int(v.version) for v in self.api.versions(target))
        return [
            Event(
                f"{self.kind}:{target}@{n}",
                {"kind": self.kind, self.kind: target, "version": n, "ref": f"{target}@{n}"},
                {"version": n},
            )
            for n in numbers
            if n > seen
        ][:MOST]

    def fired(self, event: Event, pipeline: str, run_id: str) -> None:
        return None


class _Alerts:
    """Alerts opened by a monitor: one event per alert; the alert records the run."""

    kind = "alert"
    help = "an alert opened by monitor MONITOR"
    counts = False

    def check(self, target: str) -> None:
        from shipyard import monitoring

        monitoring.get_monitor(target)

    def start(self, target: str, now: float) -> dict[str, Any]:
        from shipyard import monitoring

        newest = monitoring.list_alerts(monitor=target, limit=1)
        return {"alert": newest[0].id if newest else 0}

    def poll(
        self, target: str, rows: int | None, cursor: Mapping[str, Any], now: float
    ) -> list[Event]:
        from shipyard import monitoring

        seen = int(cursor.get("alert", 0))
        found = monitoring.list_alerts(monitor=target, limit=MOST)
        # the alerts one check opened (data drift, prediction drift, ...) are one event:
        # one run, which every one of them records
        opened: dict[Any, list[Any]] = {}
        for alert in sorted(found, key=lambda a: a.id):
            if alert.id > seen:
                opened.setdefault(alert.first_check_id or f"alert{alert.id}", []).append(alert)
        return [
            Event(
                f"alert:{group[0].id}",
                {
                    "kind": "alert",
                    "alert": group[0].id,
                    "alerts": [a.id for a in group],
                    "monitor": target,
                },
                {"alert": group[-1].id},
            )
            for group in opened.values()
        ]

    def fired(self, event: Event, pipeline: str, run_id: str) -> None:
        from shipyard import monitoring

        for alert_id in event.trigger.get("alerts") or [event.trigger["alert"]]:
            monitoring.record_action(int(alert_id), f"pipeline:{pipeline}", run_id)


class _Labels:
    """Labelled rows (feedback with a label) in a deployment's inference log: an event
    each time ``rows`` new ones have come since the last."""

    kind = "labels"
    help = "ROWS new labelled rows (feedback with a label) in deployment DEPLOYMENT's log"
    counts = True

    def check(self, target: str) -> None:
        from shipyard.serving import deployments

        deployments.served(target)  # a deployment, or a model served plainly

    def start(self, target: str, now: float) -> dict[str, Any]:
        return {"at": now, "total": 0}

    def poll(
        self, target: str, rows: int | None, cursor: Mapping[str, Any], now: float
    ) -> list[Event]:
        since = float(cursor.get("at", 0.0))
        until = now - SETTLE
        if rows is None or until <= since:
            return []
        from shipyard.serving import read_feedback

        table = read_feedback(target, since=since, until=until)
        labelled = 0 if table is None else table.num_rows - table.column("label").null_count
        if labelled < rows:
            return []
        total = int(cursor.get("total", 0)) + labelled
        return [
            Event(
                f"labels:{total}",
                {"kind": "labels", "deployment": target, "rows": labelled, "total": total},
                {"at": until, "total": total},
            )
        ]

    def fired(self, event: Event, pipeline: str, run_id: str) -> None:
        return None


#: Each kind of trigger by the word before the colon of ``on``.
TRIGGERS: dict[str, Trigger] = {
    "dataset": _Versions("dataset", "dataset", "shipyard.data"),
    "model": _Versions("model", "model", "shipyard.models"),
    "alert": _Alerts(),
    "labels": _Labels(),
}


def parse_on(on: object, rows: object) -> tuple[Trigger, str, int | None]:
    """The entry, target and rows of ``on="KIND:TARGET"`` (InvalidInput naming the field)."""
    kinds = ", ".join(f"{k}:..." for k in TRIGGERS)
    kind, _, target = on.partition(":") if isinstance(on, str) else ("", "", "")
    entry = TRIGGERS.get(kind)
    if entry is None or not target:
        raise InvalidInput(f"on must be one of {kinds}; got {on!r}.")
    if not entry.counts:
        if rows is not None:
            raise InvalidInput(f"rows applies to labels triggers only; got rows={rows!r}.")
        return entry, target, None
    if isinstance(rows, bool) or not isinstance(rows, int) or not 1 <= rows <= 10**9:
        raise InvalidInput(f"rows must be a whole number >= 1 for {kind} triggers; got {rows!r}.")
    return entry, target, rows

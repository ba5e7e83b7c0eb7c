"""Schedules and triggers: what runs a registered pipeline without anyone typing.

``schedule("retrain-loans", "0 3 * * *", timezone="Europe/Paris")`` runs it every night at
03:00 Paris time; ``trigger("retrain-loans", on="dataset:loans")`` on each new version of
the dataset (also ``model:NAME``, ``alert:MONITOR``, ``labels:DEPLOYMENT`` with ``rows=``).
``shipyard scheduler`` fires them (see :mod:`shipyard.pipelines._scheduler`). A monitor's
``on_alert=["pipeline:NAME"]`` is kept by the scheduler as a schedule of kind ``monitor``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from typing import Any

from shipyard._refs import check_name
from shipyard.errors import InvalidInput, NotFound
from shipyard.pipelines._api import load_pipeline, store
from shipyard.pipelines._cron import check_cron, check_zone, wall
from shipyard.pipelines._http import refuse_remote, remote_pipelines
from shipyard.pipelines._params import json_params
from shipyard.pipelines._schedule_store import Schedule, ScheduleStore, check_id, new_id
from shipyard.pipelines._triggers import parse_on
from shipyard.store import default_database

__all__ = [
    "Schedule",
    "delete_schedule",
    "list_firings",
    "list_schedules",
    "monitor_schedule",
    "schedule",
    "schedule_store",
    "set_schedule_enabled",
    "trigger",
]


def schedule_store() -> ScheduleStore:
    """The schedule store on the default database."""
    refuse_remote("schedules and triggers (but list_schedules)")
    return ScheduleStore(default_database())


def _params(pipeline: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The pipeline is registered, and ``params`` are JSON values it takes."""
    check_name("Pipeline", pipeline)
    version = store().version(pipeline)  # NotFound names the pipeline
    if params is not None and not isinstance(params, Mapping):
        raise InvalidInput(f"params must be a mapping of parameter names; got {params!r}.")
    given = json_params(dict(params or {}))
    try:
        target = load_pipeline(version)
    except NotFound:  # its code is not importable here: it is checked when it runs
        return given
    target.bind((), {**version.params, **given})
    return given


def schedule(
    pipeline: str, cron: str, *, timezone: str = "UTC", params: Mapping[str, Any] | None = None
) -> Schedule:
    """Run the registered ``pipeline`` at the times of ``cron`` in ``timezone``.

    Args:
        cron: five fields (minute hour day month weekday), ``"0 3 * * 1-5"``, or
            ``@hourly``, ``@daily``...
        timezone: an IANA zone (``Europe/Paris``); DST changes: see ``_cron``.
        params: parameters of its runs (over the registered defaults).

    Returns:
        The :class:`Schedule`; it first fires at the first time after now.

    Raises:
        InvalidInput: a bad cron, zone or parameter, named. NotFound: no such pipeline.
    """
    expr = check_cron(cron)
    zone = check_zone(timezone)
    given = _params(pipeline, params)
    now = time.time()
    made = Schedule(
        id=new_id(),
        pipeline=pipeline,
        kind="cron",
        cron=expr,
        timezone=timezone,
        on=None,
        rows=None,
        params=given,
        enabled=True,
        cursor={"after": wall(now, zone).isoformat()},
        created_at=now,
    )
    return schedule_store().insert(made)


def trigger(
    pipeline: str,
    on: str,
    *,
    rows: int | None = None,
    params: Mapping[str, Any] | None = None,
) -> Schedule:
    """Run the registered ``pipeline`` on each event ``on`` names.

    Args:
        on: ``dataset:NAME`` (a new version of the dataset), ``model:NAME`` (a new model
            version registered), ``alert:MONITOR`` (an alert the monitor opens) or
            ``labels:DEPLOYMENT`` (``rows`` new labelled rows in the deployment's inference
            log since the last firing).
        rows: for ``labels`` only.
        params: parameters of its runs.

    Events before the trigger exists do not fire it.

    Raises:
        InvalidInput: a bad ``on``, ``rows`` or parameter, named. NotFound: no such
        pipeline, dataset, model, monitor or deployment.
    """
    entry, target, threshold = parse_on(on, rows)
    given = _params(pipeline, params)
    entry.check(target)
    now = time.time()
    made = Schedule(
        id=new_id(),
        pipeline=pipeline,
        kind="trigger",
        cron=None,
        timezone=None,
        on=f"{entry.kind}:{target}",
        rows=threshold,
        params=given,
        enabled=True,
        cursor=entry.start(target, now),
        created_at=now,
    )
    return schedule_store().insert(made)


def monitor_schedule(monitor_id: str, monitor: str, pipeline: str, created_at: float) -> Schedule:
    """The schedule that runs ``pipeline`` on every alert of a monitor with ``on_alert``
    (its id is derived from both, so every scheduler keeps the same one)."""
    digest = hashlib.sha256(f"{monitor_id}:{pipeline}".encode()).hexdigest()[:32]
    return Schedule(
        id=digest,
        pipeline=pipeline,
        kind="monitor",
        cron=None,
        timezone=None,
        on=f"alert:{monitor}",
        rows=None,
        params={},
        enabled=True,
        cursor={"alert": 0},  # every alert of the monitor: on_alert was there from the start
        created_at=created_at,
    )


def list_schedules(pipeline: str | None = None) -> list[Schedule]:
    """Every schedule and trigger, oldest first (``pipeline`` filters; in remote mode it
    is required)."""
    if (remote := remote_pipelines()) is not None:
        if pipeline is None:
            raise InvalidInput("pipeline: name one in remote mode (SHIPYARD_URL).")
        return remote.list_schedules(pipeline)
    return schedule_store().schedules(pipeline)


def delete_schedule(schedule_id: str) -> None:
    """Delete a schedule or trigger (its runs stay)."""
    found = schedule_store().get(check_id(schedule_id))
    if found.kind == "monitor":
        raise InvalidInput(
            f"Schedule {schedule_id} comes from monitor {found.on}'s on_alert; change the "
            "monitor instead."
        )
    schedule_store().delete(schedule_id)


def set_schedule_enabled(schedule_id: str, enabled: bool) -> Schedule:
    """Pause (False) or resume (True) a schedule. Cron times passed while paused are not
    fired; trigger events that happened meanwhile are."""
    if not isinstance(enabled, bool):
        raise InvalidInput(f"enabled must be True or False; got {enabled!r}.")
    schedules = schedule_store()
    found = schedules.get(check_id(schedule_id))
    if enabled and not found.enabled and found.kind == "cron":
        zone = check_zone(found.timezone or "UTC")
        schedules.set_cursor(found, {"after": wall(time.time(), zone).isoformat()})
    return schedules.set_enabled(schedule_id, enabled)


def list_firings(schedule_id: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
    """What schedules fired, oldest first: ``schedule_id``, ``key`` (``cron:<UTC time>``,
    ``dataset:loans@4``, ``alert:17``, ``labels:1200``, ``skipped:<first>..<last>``,
    ``resume:<run id>``), ``fired_at``, ``run_id``, ``claimed_by``."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100_000:
        raise InvalidInput(f"limit must be 1 to 100000; got {limit!r}.")
    return schedule_store().firings(schedule_id, limit)

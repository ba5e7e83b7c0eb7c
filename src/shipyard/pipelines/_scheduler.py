"""The scheduler: fires schedules and triggers, runs queued runs, checks due monitors.

Each :meth:`Scheduler.tick`:

1. recovers: a running run that a firing started (or that resumes one) whose coordinator
   is gone (its process on this machine ended, or no heartbeat for ``LOST_AFTER`` seconds)
   is resumed — claimed as the firing ``resume:<run id>`` so exactly one scheduler does it;
   it is never fired again;
2. keeps one schedule of kind ``monitor`` per monitor ``on_alert`` entry;
3. fires what is due: every cron time since the schedule's cursor (after a long stop the
   newest ``CATCH_UP``; the older ones are recorded as one ``skipped:<first>..<last>``
   firing and logged), and every trigger event since its cursor. Each firing is claimed
   in one transaction with its queued run (``_schedule_store``), so two schedulers on one
   store never queue a firing twice and a killed scheduler loses none;
4. runs queued runs (``run_queued``: claimed atomically) in threads, ``max_runs`` at once;
5. checks the monitors that are due (``shipyard.monitoring.run_due``) in a thread.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from shipyard.errors import NotFound, ShipyardError
from shipyard.pipelines._api import lost, resume, run_queued, store
from shipyard.pipelines._cron import check_zone as zone_of
from shipyard.pipelines._cron import due, instant, key_of
from shipyard.pipelines._runner import owner as this_owner
from shipyard.pipelines._schedule_store import Lost, Schedule, ScheduleStore
from shipyard.pipelines._schedules import monitor_schedule, schedule_store
from shipyard.pipelines._triggers import Event, parse_on

__all__ = ["Scheduler"]

log = logging.getLogger("shipyard.pipelines")


class Scheduler:
    """Fires schedules and runs pipelines (see the module docstring). The constructor only
    stores its arguments; :meth:`tick` does one round, :meth:`serve_forever` loops.

    Args:
        owner: who claims firings and runs (default ``host:pid``).
        max_runs: runs (and resumes) at once in this process (0: only fire, and leave the
            runs to other schedulers).
        monitors: also check the monitors that are due.
    """

    def __init__(self, owner: str | None = None, max_runs: int = 2, monitors: bool = True) -> None:
        self.owner = owner
        self.max_runs = max_runs
        self.monitors = monitors
        self._threads: dict[str, threading.Thread] = {}
        self._monitor_thread: threading.Thread | None = None
        self._warned: set[str] = set()
        self._lock = threading.Lock()
        self._started = False

    @property
    def who(self) -> str:
        return self.owner or this_owner()

    # -- one round ---------------------------------------------------------------------------

    def tick(self, now: float | None = None) -> list[str]:
        """One round (see the module docstring); the ids of the runs it queued."""
        at = time.time() if now is None else now
        schedules = schedule_store()
        if not self._started:
            self._finish_hooks(schedules)
            self._started = True
        self.recover(schedules)
        self._keep_monitor_schedules(schedules)
        fired: list[str] = []
        for found in schedules.schedules():
            if not found.enabled:
                continue
            try:
                self._fire(schedules, found, at, fired)
            except Lost:
                continue  # another scheduler moved it: the next round reads it again
            except Exception as exc:
                self._warn(found, exc)
        self._start_queued()
        self._check_monitors()
        return fired

    def _fire(self, schedules: ScheduleStore, found: Schedule, at: float, fired: list[str]) -> None:
        """Fire what is due of one schedule, adding each run queued to ``fired`` as it goes
        (a round cut short by another scheduler keeps what it fired)."""
        if found.kind == "cron":
            self._fire_cron(schedules, found, at, fired)
            return
        entry, target, rows = parse_on(found.on, found.rows)
        for event in entry.poll(target, rows, found.cursor, at):
            run_id = self._queue(schedules, found, event.key, event.cursor, event.trigger)
            found = dataclasses.replace(found, cursor=event.cursor)
            if run_id is not None:
                fired.append(run_id)
                entry.fired(event, found.pipeline, run_id)

    def _fire_cron(
        self, schedules: ScheduleStore, found: Schedule, at: float, fired: list[str]
    ) -> None:
        zone = zone_of(found.timezone or "UTC")
        times = due(str(found.cron), zone, datetime.fromisoformat(found.cursor["after"]), at)
        if times.skipped is not None:
            first, last = (key_of(instant(t, zone))[5:] for t in times.skipped)
            cursor = {"after": times.skipped[1].isoformat()}
            schedules.record(found, f"skipped:{first}..{last}", self.who, cursor)
            found = dataclasses.replace(found, cursor=cursor)
            log.warning(
                "schedule %s (%s): missed cron times %s to %s were skipped (only the newest "
                "are caught up); recorded as a firing",
                found.id, found.pipeline, first, last,
            )  # fmt: skip
        for local, moment in times.times:
            cursor = {"after": local.isoformat()}
            trigger = {"kind": "cron", "at": moment.isoformat(), "cron": found.cron}
            run_id = self._queue(schedules, found, key_of(moment), cursor, trigger)
            found = dataclasses.replace(found, cursor=cursor)
            if run_id is not None:
                fired.append(run_id)

    def _queue(
        self,
        schedules: ScheduleStore,
        found: Schedule,
        key: str,
        cursor: dict[str, Any],
        trigger: dict[str, Any],
    ) -> str | None:
        version = store().version(found.pipeline)
        run_id = schedules.fire(store(), found, key, cursor, version, trigger, self.who)
        if run_id is not None:
            log.info("schedule %s fired %s: run %s of %s", found.id, key, run_id, found.pipeline)
        return run_id

    def _finish_hooks(self, schedules: ScheduleStore, recent: int = 20) -> None:
        """Tell the triggers again of their recent firings (an alert records its run): a
        scheduler killed between a firing and its hook leaves nothing unsaid. Hooks are
        idempotent."""
        for found in schedules.schedules():
            if found.kind == "cron":
                continue
            try:
                entry = parse_on(found.on, found.rows)[0]
                for firing in schedules.firings(found.id, recent, newest=True):
                    if firing["run_id"] is None:
                        continue
                    trigger = store().run(firing["run_id"]).trigger or {}
                    event = Event(firing["key"], trigger, found.cursor)
                    entry.fired(event, found.pipeline, firing["run_id"])
            except Exception as exc:
                self._warn(found, exc)

    def _warn(self, found: Schedule, exc: Exception) -> None:
        """Log a schedule that cannot fire, once per cause (it is tried every round)."""
        text = f"{found.id}: {exc}"
        if text not in self._warned:
            self._warned.add(text)
            detail = str(exc) if isinstance(exc, ShipyardError) else repr(exc)
            log.warning("schedule %s (%s) cannot fire: %s", found.id, found.pipeline, detail)

    # -- monitors ----------------------------------------------------------------------------

    def _keep_monitor_schedules(self, schedules: ScheduleStore) -> None:
        """One ``monitor`` schedule per monitor ``on_alert`` entry; none for the others."""
        from shipyard import monitoring

        wanted = {}
        for monitor in monitoring.list_monitors():
            for action in monitor.on_alert:
                pipeline = action.partition(":")[2]
                made = monitor_schedule(monitor.id, monitor.name, pipeline, monitor.created_at)
                wanted[made.id] = made
        kept = {s.id for s in schedules.schedules() if s.kind == "monitor"}
        for schedule_id in kept - set(wanted):
            with contextlib.suppress(NotFound):
                schedules.delete(schedule_id)
        for schedule_id in set(wanted) - kept:
            schedules.insert(wanted[schedule_id], exist_ok=True)

    def _check_monitors(self) -> None:
        if not self.monitors:
            return
        if self._monitor_thread is None or not self._monitor_thread.is_alive():
            self._monitor_thread = threading.Thread(
                target=_run_due, name="scheduler-monitors", daemon=True
            )
            self._monitor_thread.start()

    # -- running -----------------------------------------------------------------------------

    def active(self) -> list[str]:
        """What this scheduler runs now: run ids (and ``resume:<run id>``)."""
        with self._lock:
            for name in [n for n, t in self._threads.items() if not t.is_alive()]:
                del self._threads[name]
            return list(self._threads)

    def _free(self) -> int:
        return self.max_runs - len(self.active())

    def _start(self, name: str, work: Callable[[], Any]) -> None:
        thread = threading.Thread(target=_work, args=(name, work), name=name, daemon=True)
        with self._lock:
            self._threads[name] = thread
        thread.start()

    def _start_queued(self) -> None:
        free = self._free()
        if free <= 0:
            return
        busy = set(self.active())
        for run_id in store().queued(limit=free + len(busy)):
            if run_id in busy:
                continue
            self._start(run_id, functools.partial(run_queued, run_id))
            free -= 1
            if free == 0:
                return

    def recover(self, schedules: ScheduleStore | None = None) -> list[str]:
        """Resume the runs that firings started whose coordinator is gone (claimed as the
        firing ``resume:<run id>``: exactly one scheduler resumes each); their ids."""
        schedules = schedules or schedule_store()
        resumed = []
        for run_id in schedules.running():
            if self._free() <= 0:
                break
            try:
                if not lost(store().run(run_id)):
                    continue
                origin = schedules.origin(run_id)
                if origin is None:
                    continue
                if not schedules.record(schedules.get(origin), f"resume:{run_id}", self.who):
                    continue  # another scheduler resumes it
            except NotFound:
                continue
            log.warning("run %s lost its coordinator: resuming it", run_id)
            self._start(f"resume:{run_id}", functools.partial(resume, run_id))
            resumed.append(run_id)
        return resumed

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the runs (and the monitor checks) this scheduler started; whether they
        all ended within ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads.values())
        if self._monitor_thread is not None:
            threads.append(self._monitor_thread)
        for thread in threads:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(left)
        return not any(t.is_alive() for t in threads)

    def serve_forever(
        self, interval: float = 1.0, stop_event: threading.Event | None = None
    ) -> None:
        """Tick every ``interval`` seconds until ``stop_event`` is set (a failed round, a
        database down say, is logged and the next one tried)."""
        stop = stop_event or threading.Event()
        while not stop.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("scheduler round failed")
            stop.wait(interval)


def _work(name: str, work: Callable[[], Any]) -> None:
    try:
        work()
    except Exception:
        log.exception("scheduler: %s failed", name)


def _run_due() -> None:
    from shipyard import monitoring

    try:
        monitoring.run_due()
    except Exception:
        log.exception("scheduler: checking monitors failed")

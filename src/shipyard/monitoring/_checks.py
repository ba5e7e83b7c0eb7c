"""Running a monitor: read its windows (``_windows``), run its detectors (``_detectors``),
store the results, act on alerts.

Everything is stored in one transaction: the check (with each detector's evidence and the
distributions its report charts), one result row per feature and statistic (the time
series), and the alerts it opens, updates or resolves. Notices go out after it commits.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shipyard.errors import InvalidInput, NotFound, ShipyardError
from shipyard.monitoring._alerts import notify
from shipyard.monitoring._channels import finite
from shipyard.monitoring._detectors import DETECTOR_TABLE, Outcome, finite_number
from shipyard.monitoring._http import (
    check_of,
    client,
    monitor_path,
    remote_checks,
    remote_series,
)
from shipyard.monitoring._monitor_store import RESULT_COLUMNS, CheckRecord, MonitorStore, Result
from shipyard.monitoring._monitors import get, list_monitors, monitor_store
from shipyard.monitoring._values import Check, Monitor
from shipyard.monitoring._windows import Windows, read_windows

__all__ = ["Check", "check", "checks", "run_due", "series"]

log = logging.getLogger("shipyard.monitoring")


def check(name: str, *, now: float | None = None, log_dir: str | Path | None = None) -> Check:
    """Run the monitor ``name`` once over its current window and store what it found.

    A failure to read the windows (a deleted dataset, an unreadable log) is stored as a
    ``failed`` check and returned, so a schedule goes on; a detector that fails (a broken
    model) fails alone, with its error in ``detectors[name]["error"]``, and the others
    still judge. Alerts of a detector without a verdict are left as they are.

    Raises:
        NotFound: no such monitor (or it was deleted while the check ran).
    """
    remote = client()
    if remote is not None:  # the server reads the windows, stores and alerts
        return check_of(remote.post(monitor_path(name, "check")))
    monitor = get(name)
    started = time.perf_counter()
    now = time.time() if now is None else now
    windows: Windows | None = None
    detectors: dict[str, Outcome] = {}
    error = ""
    try:
        windows = read_windows(monitor, now, log_dir)
    except ShipyardError as exc:
        error = str(exc)
    except Exception as exc:  # an unreadable file: recorded as a failed check
        error = f"{type(exc).__name__}: {exc}"
    ready = windows is not None and windows.current is not None and windows.reference is not None
    if ready and windows is not None and windows.current.num_rows >= monitor.min_rows:
        for detector in monitor.detectors:
            detectors[detector] = _detect(detector, monitor, windows, log_dir)
    seconds = time.perf_counter() - started
    return _store(monitor_store(), monitor, now, windows, detectors, error, seconds)


def _detect(
    detector: str, monitor: Monitor, windows: Windows, log_dir: str | Path | None
) -> Outcome:
    try:
        outcome: Outcome = DETECTOR_TABLE[detector].run(monitor, windows, log_dir)
        return outcome
    except ShipyardError as exc:
        return Outcome(None, note=str(exc), error=True)
    except Exception as exc:  # a model that raises on the window: this detector fails alone
        log.warning("monitor %s: %s failed", monitor.name, detector, exc_info=True)
        return Outcome(None, note=f"{type(exc).__name__}: {exc}", error=True)


def run_due(*, log_dir: str | Path | None = None) -> list[Check]:
    """Check every enabled monitor whose schedule says it is due. A monitor deleted
    meanwhile is skipped; one that cannot be checked does not stop the others."""
    done = []
    for monitor in list_monitors():
        if not monitor.due:
            continue
        try:
            done.append(check(monitor.name, log_dir=log_dir))
        except NotFound:
            continue
        except Exception:
            log.exception("monitor %s could not be checked", monitor.name)
    return done


def checks(name: str, limit: int = 50) -> list[Check]:
    """A monitor's checks, newest first."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidInput(f"limit must be a positive number of checks; got {limit!r}.")
    remote = client()
    if remote is not None:
        return remote_checks(remote, name, limit)
    monitor = get(name)
    return monitor_store().checks(monitor, limit)


def series(
    name: str,
    *,
    feature: str | None = None,
    metric: str | None = None,
    from_check: int | None = None,
) -> Any:
    """A monitor's stored results as a DataFrame (``at``, ``check_id``, ``detector``,
    ``feature``, ``metric``, ``value``, ``threshold``, ``flagged``), oldest first: the
    statistic of each feature over time (from the check ``from_check`` on, if given)."""
    import pandas as pd

    if from_check is not None and (
        isinstance(from_check, bool) or not isinstance(from_check, int)
        or not 0 < from_check < 2**63
    ):  # fmt: skip
        raise InvalidInput(
            f"from_check must be a check id (a positive integer); got {from_check!r}."
        )
    remote = client()
    if remote is not None:
        records = remote_series(remote, name, feature, metric, from_check)
        rows: Any = [[r[c] for c in RESULT_COLUMNS] for r in records]
    else:
        store = monitor_store()
        rows = store.results(store.get(name), feature, metric, from_check)
    frame = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    types = {"at": "float64", "check_id": "int64", "value": "float64", "threshold": "float64"}
    for column in ("detector", "feature", "metric"):
        types[column] = "str"
    frame = frame.astype(types)
    frame["flagged"] = frame["flagged"].astype(bool)
    return frame


# -- storing -------------------------------------------------------------------------------


def _store(
    store: MonitorStore,
    monitor: Monitor,
    now: float,
    windows: Windows | None,
    detectors: Mapping[str, Outcome],
    error: str,
    seconds: float,
) -> Check:
    """Store the check, its results and alerts (one transaction), then send the notices."""
    rows = 0 if windows is None or windows.current is None else windows.current.num_rows
    reference_rows = (
        0 if windows is None or windows.reference is None else windows.reference.num_rows
    )
    detail = finite(_detail(monitor, windows, detectors, error, rows))
    start = None if windows is None else windows.start
    end = None if windows is None else windows.end
    status = _status(detectors, error)
    record = CheckRecord(now, status, start, end, rows, reference_rows, detail, seconds)
    results: list[Result] = [
        (name, _feature_key(feature), metric, finite_number(value), threshold, flagged)
        for name, outcome in detectors.items()
        for feature, metric, value, threshold, flagged in outcome.results
    ]
    findings = None if error else {n: o.finding for n, o in detectors.items()}
    check_id, notices = store.record_check(monitor, record, results, findings)
    notify(monitor, notices, store.alerts)
    return Check(
        check_id, monitor.name, now, status, rows, reference_rows, start, end, seconds,
        detail["detectors"], error,
    )  # fmt: skip


def _status(detectors: Mapping[str, Outcome], error: str) -> str:
    """alert (a detector flagged), failed (reading or a detector failed), ok, or no data."""
    verdicts = [o.finding for o in detectors.values() if o.finding is not None]
    if any(f.flagged for f in verdicts):
        return "alert"
    if error or any(o.error for o in detectors.values()):
        return "failed"
    return "ok" if verdicts else "no data"


def _detail(
    monitor: Monitor,
    windows: Windows | None,
    detectors: Mapping[str, Outcome],
    error: str,
    rows: int,
) -> dict[str, Any]:
    """What each detector found (for the check's record), or why none ran."""
    detail: dict[str, Any] = {"error": error, "detectors": {}}
    if not detectors and not error:
        detail["note"] = (
            f"{rows} rows in the window; a check needs {monitor.min_rows}"
            if rows < monitor.min_rows
            else "no reference rows"
        )
        if windows is not None and windows.note:
            detail["note"] += f" ({windows.note})"
    for name, outcome in detectors.items():
        found = outcome.finding
        title = found.title if found is not None else (
            f"failed: {outcome.note}" if outcome.error else f"no verdict: {outcome.note}"
        )  # fmt: skip
        detail["detectors"][name] = {
            "flagged": None if found is None else found.flagged,
            "title": title,
            "evidence": {} if found is None else found.evidence,
            "charts": outcome.charts,
            "error": outcome.note if outcome.error else "",
        }
    return detail


def _feature_key(name: str) -> str:
    """A column name as stored in the results: names beyond 1,000 characters are cut and
    made unique with a hash (the key is indexed)."""
    if len(name) <= 1000:
        return name
    return name[:980] + "…" + hashlib.sha256(name.encode()).hexdigest()[:16]

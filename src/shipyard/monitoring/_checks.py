"""Running a monitor: read its windows (``_windows``), run its detectors (``_detectors``),
store the results, act on alerts.

Everything is stored in one transaction: the check (with each detector's evidence and the
distributions its report charts), one result row per feature and statistic (the time
series), and the alerts it opens, updates or resolves. Notices go out after it commits.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shipyard.errors import InvalidInput, NotFound, ShipyardError
from shipyard.monitoring._alerts import apply_findings, notify
from shipyard.monitoring._channels import finite
from shipyard.monitoring._detectors import RUNNERS, Outcome, finite_number
from shipyard.monitoring._monitors import Monitor, get, list_monitors
from shipyard.monitoring._tables import CHECKS, MONITORS, RESULTS
from shipyard.monitoring._windows import Windows, read_windows
from shipyard.store import default_database

__all__ = ["Check", "check", "checks", "run_due", "series"]

log = logging.getLogger("shipyard.monitoring")


@dataclass(frozen=True)
class Check:
    """One run of a monitor: its status (``ok``, ``alert``, ``no data``, ``failed``), the
    windows it read, and what each detector found (``detectors[name]``: flagged, title,
    evidence)."""

    id: int
    monitor: str
    at: float
    status: str
    rows: int
    reference_rows: int
    window_start: float | None
    window_end: float | None
    seconds: float
    detectors: dict[str, dict[str, Any]] = field(default_factory=dict)
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "monitor": self.monitor,
            "at": self.at,
            "status": self.status,
            "rows": self.rows,
            "reference_rows": self.reference_rows,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "seconds": self.seconds,
            "error": self.error,
            "detectors": {
                name: {k: v for k, v in found.items() if k != "charts"}
                for name, found in self.detectors.items()
            },
        }


def check(name: str, *, now: float | None = None, log_dir: str | Path | None = None) -> Check:
    """Run the monitor ``name`` once over its current window and store what it found.

    A failure to read the windows (a deleted dataset, an unreadable log) is stored as a
    ``failed`` check and returned, so a schedule goes on; a detector that fails (a broken
    model) fails alone, with its error in ``detectors[name]["error"]``, and the others
    still judge. Alerts of a detector without a verdict are left as they are.

    Raises:
        NotFound: no such monitor (or it was deleted while the check ran).
    """
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
    return _store(monitor, now, windows, detectors, error, seconds)


def _detect(
    detector: str, monitor: Monitor, windows: Windows, log_dir: str | Path | None
) -> Outcome:
    try:
        return RUNNERS[detector](monitor, windows, log_dir)
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
    from sqlalchemy import select

    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidInput(f"limit must be a positive number of checks; got {limit!r}.")
    monitor = get(name)
    with default_database().read() as conn:
        rows = conn.execute(
            select(CHECKS)
            .where(CHECKS.c.monitor_id == monitor.id)
            .order_by(CHECKS.c.id.desc())
            .limit(limit)
        ).all()
    return [_check(monitor.name, row) for row in rows]


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
    from sqlalchemy import select

    if from_check is not None and (
        isinstance(from_check, bool) or not isinstance(from_check, int)
        or not 0 < from_check < 2**63
    ):  # fmt: skip
        raise InvalidInput(
            f"from_check must be a check id (a positive integer); got {from_check!r}."
        )
    monitor = get(name)
    query = select(
        RESULTS.c.at, RESULTS.c.check_id, RESULTS.c.detector, RESULTS.c.feature,
        RESULTS.c.metric, RESULTS.c.value, RESULTS.c.threshold, RESULTS.c.flagged,
    ).where(RESULTS.c.monitor_id == monitor.id)  # fmt: skip
    if feature is not None:
        query = query.where(RESULTS.c.feature == feature)
    if metric is not None:
        query = query.where(RESULTS.c.metric == metric)
    if from_check is not None:
        query = query.where(RESULTS.c.check_id >= from_check)
    with default_database().read() as conn:
        rows = conn.execute(query.order_by(RESULTS.c.at, RESULTS.c.check_id)).all()
    columns = ["at", "check_id", "detector", "feature", "metric", "value", "threshold", "flagged"]
    frame = pd.DataFrame([tuple(r) for r in rows], columns=columns)
    types = {"at": "float64", "check_id": "int64", "value": "float64", "threshold": "float64"}
    for column in ("detector", "feature", "metric"):
        types[column] = "str"
    frame = frame.astype(types)
    frame["flagged"] = frame["flagged"].astype(bool)
    return frame


# -- storing -------------------------------------------------------------------------------


def _store(
    monitor: Monitor,
    now: float,
    windows: Windows | None,
    detectors: Mapping[str, Outcome],
    error: str,
    seconds: float,
) -> Check:
    from sqlalchemy import insert, select, update

    rows = 0 if windows is None or windows.current is None else windows.current.num_rows
    reference_rows = (
        0 if windows is None or windows.reference is None else windows.reference.num_rows
    )
    verdicts = [o.finding for o in detectors.values() if o.finding is not None]
    if any(f.flagged for f in verdicts):
        status = "alert"
    elif error or any(o.error for o in detectors.values()):
        status = "failed"
    else:
        status = "ok" if verdicts else "no data"
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
    detail = finite(detail)
    start = None if windows is None else windows.start
    end = None if windows is None else windows.end
    with default_database().write() as conn:
        if (
            conn.scalar(select(MONITORS.c.id).where(MONITORS.c.id == monitor.id).with_for_update())
            is None
        ):
            raise NotFound(f"Monitor {monitor.name!r} was deleted while it was being checked.")
        result = conn.execute(
            insert(CHECKS).values(
                monitor_id=monitor.id,
                at=now,
                status=status,
                window_start=start,
                window_end=end,
                rows=rows,
                reference_rows=reference_rows,
                detail=json.dumps(detail, default=_json_default, allow_nan=False),
                seconds=seconds,
            )
        )
        key = result.inserted_primary_key
        assert key is not None
        check_id = int(key[0])
        values = [
            {
                "check_id": check_id,
                "monitor_id": monitor.id,
                "at": now,
                "detector": name,
                "feature": _feature_key(feature),
                "metric": metric,
                "value": finite_number(value),
                "threshold": threshold,
                "flagged": flagged,
            }
            for name, outcome in detectors.items()
            for feature, metric, value, threshold, flagged in outcome.results
        ]
        if values:
            conn.execute(insert(RESULTS), values)
        notices = apply_findings(
            conn, monitor, check_id, {n: o.finding for n, o in detectors.items()}, now
        ) if not error else []  # fmt: skip
        conn.execute(update(MONITORS).where(MONITORS.c.id == monitor.id).values(last_check_at=now))
    notify(monitor, notices)
    return Check(
        check_id, monitor.name, now, status, rows, reference_rows, start, end, seconds,
        detail["detectors"], error,
    )  # fmt: skip


def _feature_key(name: str) -> str:
    """A column name as stored in the results: names beyond 1,000 characters are cut and
    made unique with a hash (the key is indexed)."""
    if len(name) <= 1000:
        return name
    return name[:980] + "…" + hashlib.sha256(name.encode()).hexdigest()[:16]


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer, np.floating)):
        number = value.item()
        return None if isinstance(number, float) and not math.isfinite(number) else number
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _check(name: str, row: Any) -> Check:
    detail = json.loads(row.detail)
    return Check(
        int(row.id), name, row.at, row.status, row.rows, row.reference_rows,
        row.window_start, row.window_end, row.seconds, detail.get("detectors", {}),
        detail.get("error", ""),
    )  # fmt: skip

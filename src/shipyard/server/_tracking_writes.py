"""The tracking writes of remote mode: runs created, resumed, finished, deleted; params,
tags, metric batches and artifact records (editor role).

Each route checks its input as the SDK does before it reaches the store (a bad key, name or
value is a 422 naming it) and calls the SQL store's primitive of the same name. A metric
batch is the hot path: its body, ``{"points": [[key, value, step, timestamp], ...]}``, is
read with orjson and checked in one pass (no per-point pydantic objects), then written with
one ``executemany``. A batch may carry the client's id in an ``Idempotency-Key`` header:
it is recorded with the points, and the same batch sent again (its first answer lost) is
answered as done, unwritten (an older server ignores the header and still takes the batch).
"""

from __future__ import annotations

import gc
import math
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from shipyard import _validate as check
from shipyard._time import FIRST, LAST, iso
from shipyard.errors import InvalidInput
from shipyard.server._access import EDITOR
from shipyard.server._tracking_schemas import (
    METRIC_POINTS_SCHEMA,
    Artifacts,
    Deleted,
    Heartbeat,
    NewRun,
    Params,
    Reap,
    Reaped,
    Resume,
    RunInfo,
    Tags,
    documented,
)
from shipyard.serving._openapi import CHANGES, KEYED, errors
from shipyard.store import Blob
from shipyard.tracking._api import local_store
from shipyard.tracking._backend import RawPoint
from shipyard.tracking._process import ProcessInfo
from shipyard.tracking._types import ExperimentId, RunId

__all__ = ["parse_points", "router"]

_CHANGE = errors(*CHANGES, *KEYED, 404, 409, 422)
_DONE: dict[int | str, dict[str, Any]] = {204: {"description": "Done."}}

router = APIRouter(tags=["tracking"])


@router.post(
    "/runs",
    dependencies=[EDITOR],
    response_model=None,
    responses={**documented(RunInfo, "The new run, running."), **_CHANGE},
)
def create_run(body: NewRun) -> dict[str, Any]:
    """Start a run in an experiment (by id), owned by ``process``, with initial tags."""
    store = local_store()
    info = store.create_run(
        ExperimentId(store.get_experiment(body.experiment_id).id),
        check.check_name("Run", body.name),
        parent_id=RunId(body.parent_id) if body.parent_id else None,
        process=ProcessInfo(body.process.host, body.process.pid, body.process.started),
        source=body.source.model_dump(),
        environment=body.environment,
        tags=_texts("Tag", body.tags, check.MAX_TAG_VALUE),
        start_time=_seconds("start_time", body.start_time),
    )
    return asdict(info)


@router.post(
    "/runs/heartbeat",
    dependencies=[EDITOR],
    status_code=204,
    response_class=Response,
    responses={**_DONE, **_CHANGE},
)
def heartbeat(body: Heartbeat) -> Response:
    """Record that the processes owning ``run_ids`` are alive."""
    local_store().heartbeat([RunId(r) for r in body.run_ids], _seconds("now", body.now))
    return Response(status_code=204)


@router.post(
    "/runs/reap",
    dependencies=[EDITOR],
    response_model=None,
    responses={**documented(Reaped, "The runs marked killed."), **_CHANGE},
)
def reap(body: Reap) -> dict[str, Any]:
    """Mark running runs whose process is gone (no heartbeat) as killed."""
    return {"reaped": local_store().reap(_seconds("now", body.now))}


@router.post(
    "/runs/{run_id}/resume",
    dependencies=[EDITOR],
    response_model=None,
    responses={**documented(RunInfo, "The run, running again."), **_CHANGE},
)
def resume_run(run_id: str, body: Resume) -> dict[str, Any]:
    """Mark a run running again, owned by ``process``."""
    process = ProcessInfo(body.process.host, body.process.pid, body.process.started)
    return asdict(local_store().resume_run(RunId(run_id), process))


_BATCH_HEADER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "pattern": "^[0-9A-Za-z_-]{1,64}$"},
    "description": "The client's id of this batch of points (a uuid4 hex): the batch sent "
    "again under an id the run already has is answered as done, its points not written twice.",
}
_POINTS_BODY = {
    "parameters": [_BATCH_HEADER],
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["points"],
                    "additionalProperties": False,
                    "properties": {
                        "points": METRIC_POINTS_SCHEMA,
                        "heartbeat_at": {"type": ["number", "null"]},
                    },
                }
            }
        },
    },
}
_FINISH_BODY = {
    "parameters": [_BATCH_HEADER],
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["status"],
                    "additionalProperties": False,
                    "properties": {
                        "status": {"type": "string", "enum": ["finished", "failed", "killed"]},
                        "points": METRIC_POINTS_SCHEMA,
                        "end_time": {"type": ["number", "null"]},
                    },
                }
            }
        },
    },
}


@router.post(
    "/runs/{run_id}/metrics",
    dependencies=[EDITOR],
    status_code=204,
    response_class=Response,
    responses={**_DONE, **_CHANGE},
    openapi_extra=_POINTS_BODY,
)
async def write_metrics(run_id: str, request: Request) -> Response:
    """Append a batch of metric points (one transaction); ``heartbeat_at`` also records
    that the run's process is alive. An ``Idempotency-Key`` the run already has: done, not
    written twice."""
    batch = _batch_id(request.headers.get("idempotency-key"))
    await run_in_threadpool(_write_metrics, RunId(run_id), await request.body(), batch)
    return Response(status_code=204)


def _write_metrics(run_id: RunId, raw: bytes, batch: str | None) -> None:
    """Parse and write a batch in a worker thread: parsing a large batch on the event loop
    stalled every other request for seconds."""
    with gc_paused():
        body = _object(raw, {"points", "heartbeat_at"})
        points = parse_points(body.get("points"))
        beat = _seconds("heartbeat_at", body.get("heartbeat_at"))
        local_store().write_metrics(run_id, points, beat, batch_id=batch)


@router.post(
    "/runs/{run_id}/finish",
    dependencies=[EDITOR],
    status_code=204,
    response_class=Response,
    responses={**_DONE, **_CHANGE},
    openapi_extra=_FINISH_BODY,
)
async def finish_run(run_id: str, request: Request) -> Response:
    """Write the last metric points and the final status in one transaction (the points
    not again under an ``Idempotency-Key`` the run already has)."""
    batch = _batch_id(request.headers.get("idempotency-key"))
    await run_in_threadpool(_finish_run, RunId(run_id), await request.body(), batch)
    return Response(status_code=204)


def _finish_run(run_id: RunId, raw: bytes, batch: str | None) -> None:
    """Parse the last batch and finish the run, in a worker thread (see _write_metrics)."""
    with gc_paused():
        body = _object(raw, {"status", "points", "end_time"})
        status = check.final_status(body.get("status"))
        points = parse_points(body.get("points", []))
        end = _seconds("end_time", body.get("end_time"))
        local_store().finish_run(run_id, status, points, end, batch_id=batch)


@router.delete(
    "/runs/{run_id}",
    dependencies=[EDITOR],
    response_model=None,
    responses={**documented(Deleted, "The runs deleted."), **_CHANGE},
)
def delete_run(
    run_id: str,
    purge: Annotated[bool, Query(description="Remove the rows, not just hide them.")] = False,
) -> dict[str, Any]:
    """Delete a run and its child runs (hidden from searches; ``purge``: removed)."""
    store = local_store()
    return {"deleted": store.delete_run(store.get_run(run_id).info.id, purge=purge)}


@router.post(
    "/runs/{run_id}/params",
    dependencies=[EDITOR],
    status_code=204,
    response_class=Response,
    responses={**_DONE, **_CHANGE},
)
def log_params(run_id: str, body: Params) -> Response:
    """Record params (write-once: another value for a stored key is a 409)."""
    clean = _texts("Param", body.params, check.MAX_PARAM_VALUE)
    local_store().log_params(RunId(run_id), clean)
    return Response(status_code=204)


@router.post(
    "/runs/{run_id}/tags",
    dependencies=[EDITOR],
    status_code=204,
    response_class=Response,
    responses={**_DONE, **_CHANGE},
)
def set_tags(run_id: str, body: Tags) -> Response:
    """Set tags, replacing earlier values of the same keys."""
    local_store().set_tags(RunId(run_id), _texts("Tag", body.tags, check.MAX_TAG_VALUE))
    return Response(status_code=204)


@router.post(
    "/runs/{run_id}/artifacts",
    dependencies=[EDITOR],
    status_code=204,
    response_class=Response,
    responses={**_DONE, **_CHANGE},
)
def add_artifacts(run_id: str, body: Artifacts) -> Response:
    """Record artifact files (path, sha256 digest, size, kind) whose content is in the
    artifact store; a path recorded again points at the new content."""
    entries = [
        (check.check_key("Artifact", a.path), Blob(a.digest, a.size), a.kind)
        for a in body.artifacts
    ]
    local_store().add_artifacts(RunId(run_id), entries)
    return Response(status_code=204)


# -- checking input ------------------------------------------------------------------------


def parse_points(raw: Any) -> list[RawPoint]:
    """``[[key, value, step, timestamp], ...]`` checked as ``run.log_metric`` checks one
    point (keys, finite numbers, 64-bit steps); InvalidInput naming the first bad point.

    One tight pass: JSON numbers parsed as floats are finite already (orjson refuses NaN
    and infinities), so only integers are converted (and may overflow)."""
    if not isinstance(raw, list):
        raise InvalidInput("points: expected a list of [key, value, step, timestamp].")
    points: list[RawPoint] = []
    append = points.append
    for i, point in enumerate(raw):
        if type(point) is not list or len(point) != 4:
            raise InvalidInput(f"points[{i}]: expected [key, value, step, timestamp].")
        key, value, step, ts = point
        if type(value) is not float:
            value = _number(i, point, value)
        if type(ts) is not float:
            ts = _number(i, point, ts)
        if type(key) is not str or type(step) is not int:
            raise _bad_point(i, point)
        if not FIRST <= ts <= LAST:  # answered as ISO 8601: a time of the calendar
            raise InvalidInput(
                f"points[{i}]: the timestamp {ts!r} is not between the years 1 and 9999."
            )
        if step >= _STEP_LIMIT or step < -_STEP_LIMIT:
            raise InvalidInput(f"points[{i}]: the step {step} does not fit in 64 bits.")
        append((key, value, step, ts))
    for key in {p[0] for p in points}:
        check.check_key("Metric", key)
    return points


_STEP_LIMIT = 2**63


def _number(i: int, point: list[Any], value: Any) -> float:
    if type(value) is not int:
        raise _bad_point(i, point)
    try:
        return float(value)
    except OverflowError:
        raise InvalidInput(f"points[{i}]: the value or timestamp is too large.") from None


def _bad_point(i: int, point: list[Any]) -> InvalidInput:
    return InvalidInput(
        f"points[{i}]: expected [key (text), value (number), step (integer), timestamp "
        f"(epoch seconds)], got {point!r:.200}."
    )


@contextmanager
def gc_paused() -> Iterator[None]:
    """No garbage collection while a metric batch is parsed and written: its tens of
    thousands of small lists and tuples would otherwise set off full collections that walk
    the whole heap, several times per batch (they more than doubled the time of a
    50,000-point batch). None of them form cycles; collection resumes after."""
    global _paused
    with _gc_lock:
        if _paused == 0:
            _was_enabled[0] = gc.isenabled()
            gc.disable()
        _paused += 1
    try:
        yield
    finally:
        with _gc_lock:
            _paused -= 1
            if _paused == 0 and _was_enabled[0]:
                gc.enable()


_gc_lock = threading.Lock()
_paused = 0
_was_enabled = [True]


def _object(body: bytes, fields: set[str]) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"body: not JSON ({exc}).") from None
    if not isinstance(data, dict):
        raise InvalidInput("body: expected a JSON object.")
    unknown = sorted(set(data) - fields)
    if unknown:
        raise InvalidInput(f"body: unknown field {unknown[0]!r} (expected {sorted(fields)}).")
    return data


def _seconds(field: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput(f"{field}: expected epoch seconds (a finite number), got {value!r}.")
    try:  # answered as ISO 8601 later: a time no calendar holds would break every listing
        iso(value)
    except (ValueError, OverflowError, OSError):
        raise InvalidInput(
            f"{field}: {value!r} epoch seconds is not a time between the years 1 and 9999."
        ) from None
    return float(value)


def _batch_id(value: str | None) -> str | None:
    if value is None or _BATCH_ID.fullmatch(value):
        return value
    raise InvalidInput(
        "Idempotency-Key: expected 1 to 64 letters, digits, '-' or '_' (a uuid4 hex), "
        f"got {value!r:.80}."
    )


_BATCH_ID = re.compile("[0-9A-Za-z_-]{1,64}")


def _texts(kind: str, values: dict[str, str], limit: int) -> dict[str, str]:
    return {
        check.check_key(kind, k): check.text_value(kind, k, v, limit) for k, v in values.items()
    }

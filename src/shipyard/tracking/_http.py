"""The tracking store of remote mode: the same primitives, each one request to the platform
server's tracking routes (``shipyard.server._tracking``), which call the SQL store's.

Metric points travel as the client buffered them, compact arrays ``[key, value, step,
timestamp]`` in one request per flush. Answers are rebuilt into the same frozen
dataclasses the SQL store returns (the API's ISO times back to epoch seconds), and error
answers are raised as the same :class:`~shipyard.errors.ShipyardError` kinds.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from shipyard._time import epoch, epochs
from shipyard.errors import InvalidFilter, InvalidInput
from shipyard.store import Blob, RemoteClient
from shipyard.tracking._backend import RawPoint, TrackingBackend
from shipyard.tracking._process import ProcessInfo
from shipyard.tracking._types import (
    ArtifactInfo,
    Experiment,
    ExperimentId,
    LatestMetric,
    Point,
    RunData,
    RunId,
    RunInfo,
    RunsPage,
)

__all__ = ["HttpTrackingBackend"]

#: the most runs the server answers in one page
MAX_PAGE = 1000


class HttpTrackingBackend(TrackingBackend):
    """Tracking records kept by a platform server, reached with a
    :class:`~shipyard.store.RemoteClient`. Thread-safe (the client pools connections).
    The constructor only stores its argument."""

    def __init__(self, client: RemoteClient) -> None:
        self.client = client
        self._experiments: dict[str, Experiment] = {}

    # -- experiments ---------------------------------------------------------------------

    def experiment(self, name: str, *, create: bool = True) -> Experiment:
        """The experiment called ``name``, created when missing (remembered once known)."""
        known = self._experiments.get(name)
        if known is not None:
            return known
        if create:
            found = _experiment(self.client.post("/api/experiments", {"name": name}))
        else:
            found = self.get_experiment(name)
        self._experiments[name] = found
        return found

    def get_experiment(self, name_or_id: str) -> Experiment:
        return _experiment(self.client.get(f"/api/experiments/{_segment(name_or_id)}"))

    def list_experiments(self) -> list[Experiment]:
        return [_experiment(e) for e in self.client.pages("/api/experiments", page_size=MAX_PAGE)]

    # -- run lifecycle -------------------------------------------------------------------

    def create_run(
        self,
        experiment_id: ExperimentId,
        name: str,
        *,
        parent_id: RunId | None,
        process: ProcessInfo,
        source: Mapping[str, Any],
        environment: Mapping[str, Any],
        tags: Mapping[str, str] | None = None,
        start_time: float | None = None,
    ) -> RunInfo:
        body = {
            "experiment_id": experiment_id,
            "name": name,
            "parent_id": parent_id,
            "process": _process(process),
            "source": dict(source),
            "environment": dict(environment),
            "tags": dict(tags or {}),
            "start_time": start_time,
        }
        return _run_info(self.client.post("/api/runs", body))

    def resume_run(self, run_id: RunId, process: ProcessInfo) -> RunInfo:
        body = {"process": _process(process)}
        return _run_info(self.client.post(f"/api/runs/{_segment(run_id)}/resume", body))

    def finish_run(
        self,
        run_id: RunId,
        status: str,
        points: Sequence[RawPoint] = (),
        end_time: float | None = None,
        batch_id: str | None = None,
    ) -> None:
        body = {"status": status, "points": list(points), "end_time": end_time}
        path = f"/api/runs/{_segment(run_id)}/finish"
        self.client.request("POST", path, json=body, headers=_batch_header(batch_id))

    def heartbeat(self, run_ids: Sequence[RunId], now: float | None = None) -> None:
        if run_ids:
            self.client.post("/api/runs/heartbeat", {"run_ids": list(run_ids), "now": now})

    def reap(self, now: float | None = None) -> list[RunId]:
        answer = self.client.post("/api/runs/reap", {"now": now})
        return [RunId(r) for r in answer["reaped"]]

    def delete_run(self, run_id: RunId, *, purge: bool = False) -> list[RunId]:
        answer = self.client.delete(f"/api/runs/{_segment(run_id)}", purge=purge)
        return [RunId(r) for r in answer["deleted"]]

    # -- params, tags, metrics, artifacts ------------------------------------------------

    def log_params(self, run_id: RunId, params: Mapping[str, str]) -> None:
        if params:
            self.client.post(f"/api/runs/{_segment(run_id)}/params", {"params": dict(params)})

    def set_tags(self, run_id: RunId, tags: Mapping[str, str]) -> None:
        if tags:
            self.client.post(f"/api/runs/{_segment(run_id)}/tags", {"tags": dict(tags)})

    def write_metrics(
        self,
        run_id: RunId,
        points: Sequence[RawPoint],
        heartbeat_at: float | None = None,
        batch_id: str | None = None,
    ) -> None:
        """One request for the whole batch (orjson encodes the tuples as arrays), its id in
        the ``Idempotency-Key`` header (which a server too old to know it ignores)."""
        if points:
            body = {"points": points, "heartbeat_at": heartbeat_at}
            path = f"/api/runs/{_segment(run_id)}/metrics"
            self.client.request("POST", path, json=body, headers=_batch_header(batch_id))

    def new_batch_id(self) -> str:
        """A fresh id (uuid4 hex): a request whose answer is lost may still have been
        written, so the batch is sent again under the same id and the server keeps it once."""
        return uuid.uuid4().hex

    def read_metrics(self, run_id: RunId, key: str) -> list[Point]:
        answer = self.client.get(f"/api/runs/{_segment(run_id)}/metrics/{_segment(key)}")
        return [
            Point(key, value, step, ts)
            for step, value, ts in zip(
                answer["steps"], answer["values"], epochs(answer["timestamps"]), strict=True
            )
        ]

    def add_artifacts(self, run_id: RunId, entries: Iterable[tuple[str, Blob, str]]) -> None:
        artifacts = [
            {"path": path, "digest": blob.digest, "size": blob.size, "kind": kind}
            for path, blob, kind in entries
        ]
        if artifacts:
            self.client.post(f"/api/runs/{_segment(run_id)}/artifacts", {"artifacts": artifacts})

    def get_run(self, run_id: str) -> RunData:
        return _run_data(self.client.get(f"/api/runs/{_segment(run_id)}"))

    def search_runs(
        self,
        experiments: Sequence[str] = (),
        filter: str | None = None,
        order_by: Sequence[str] = (),
        max_results: int = 1000,
        page_token: str | None = None,
        columns: Sequence[str] | None = None,
        include_deleted: bool = False,
    ) -> RunsPage:
        """One page of ``max_results`` runs: the server answers at most 1,000 at a time, so
        a larger page is several requests, each continuing from the last one's token."""
        from shipyard.tracking._search import check_max_results

        check_max_results(max_results)
        rows: list[dict[str, Any]] = []
        token = page_token
        while True:
            answer = _filter_errors(
                self.client.get,
                "/api/runs",
                experiment=list(experiments) or None,
                filter=filter,
                order_by=list(order_by) or None,
                columns=None if columns is None else ",".join(columns),
                include_deleted=include_deleted,
                page_size=min(MAX_PAGE, max_results - len(rows)),
                page_token=token,
            )
            rows.extend(_row(r) for r in answer["items"])
            token = answer["next_page_token"]
            if token is None or len(rows) >= max_results:
                return RunsPage(rows, token)


# -- JSON back into the SDK's values -----------------------------------------------------


def _filter_errors(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``call(...)``, a filter the server could not parse raised as the
    :class:`~shipyard.errors.InvalidFilter` the local search raises (rebuilt from its
    message: the text, then a line of ``^`` under the offending token)."""
    try:
        return call(*args, **kwargs)
    except InvalidInput as exc:
        lines = str(exc).split("\n")
        if len(lines) < 3 or not lines[-2].startswith("  ") or set(lines[-1].strip()) != {"^"}:
            raise
        *head, text, pointer = lines
        carets = pointer.strip()
        position = len(pointer) - len(pointer.lstrip(" ")) - 2
        raise InvalidFilter("\n".join(head), text[2:], position, len(carets)) from None


def _batch_header(batch_id: str | None) -> dict[str, str] | None:
    return None if batch_id is None else {"Idempotency-Key": batch_id}


def _segment(text: str) -> str:
    """``text`` as one path segment (``/`` and dots escaped: keys may hold them)."""
    return quote(text, safe="").replace(".", "%2E")


def _process(process: ProcessInfo) -> dict[str, Any]:
    return {"host": process.host, "pid": process.pid, "started": process.started}


def _experiment(data: dict[str, Any]) -> Experiment:
    return Experiment(
        ExperimentId(data["id"]),
        data["name"],
        _epoch(data["created_at"]),
        data.get("description"),
        data.get("run_count"),
    )


def _run_info(data: dict[str, Any]) -> RunInfo:
    return RunInfo(
        id=RunId(data["id"]),
        experiment_id=ExperimentId(data["experiment_id"]),
        name=data["name"],
        status=data["status"],
        start_time=_epoch(data["start_time"]),
        end_time=epoch(data["end_time"]),
        parent_id=RunId(data["parent_id"]) if data["parent_id"] else None,
        host=data["host"],
        pid=data["pid"],
        source_commit=data["source_commit"],
        source_dirty=data["source_dirty"],
        entry_point=data["entry_point"],
        environment=data["environment"],
        deleted=data["deleted"],
    )


def _run_data(data: dict[str, Any]) -> RunData:
    return RunData(
        _run_info(data["info"]),
        data["experiment"],
        data["params"],
        data["tags"],
        {
            k: LatestMetric(k, m["value"], m["step"], _epoch(m["timestamp"]), m["count"])
            for k, m in data["metrics"].items()
        },
        [
            ArtifactInfo(a["path"], a["digest"], a["size"], a["kind"], _epoch(a["created_at"]))
            for a in data["artifacts"]
        ],
        [RunId(c) for c in data["children"]],
    )


def _row(data: dict[str, Any]) -> dict[str, Any]:
    data["start_time"] = epoch(data["start_time"])
    data["end_time"] = epoch(data["end_time"])
    return data


def _epoch(value: str | float) -> float:
    seconds = epoch(value)
    assert seconds is not None
    return seconds

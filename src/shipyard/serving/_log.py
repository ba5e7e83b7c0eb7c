"""The inference log: sampled requests and their answers, and feedback, as Parquet files.

Requests are queued on the request path (a deque append) and written by a background
thread in batches, so logging never waits on a disk. Layout under the log folder
(``SHIPYARD_HOME/inference`` by default)::

    <deployment>/requests/<model>/v<version>/<date>/<time>-<uuid>.parquet
    <deployment>/feedback/<date>/<time>-<uuid>.parquet

A request file has ``request_id``, ``row`` (its place in the request), ``at`` (epoch
seconds), ``route``, ``model``, ``version``, ``latency_ms``, ``prediction`` (its label or
value), ``probability`` (the top class's, for classifiers), ``shadow`` (answered by a shadow
route) and one column per model input.
Feedback has ``request_id``, ``at``, ``label`` (JSON text) and ``reward``. Monitoring reads
them with DuckDB (``read_inference_log``) and joins on ``request_id``. Files are written to a
temporary name and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["InferenceLog", "read_feedback", "read_requests"]

log = logging.getLogger("shipyard.serving")


class InferenceLog:
    """Batches of sampled requests and feedback, written off the request path."""

    def __init__(
        self,
        folder: str | Path,
        deployment: str,
        sample: float = 1.0,
        flush_rows: int = 5_000,
        flush_seconds: float = 1.0,
    ) -> None:
        self.root = Path(folder) / deployment
        self.sample = sample
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self._requests: deque[dict[str, Any]] = deque()
        self._feedback: deque[dict[str, Any]] = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._random = np.random.default_rng()
        self._thread = threading.Thread(target=self._run, name="inference-log", daemon=True)
        self._thread.start()
        self.written = 0

    def wanted(self) -> bool:
        """Whether to log this request (sampling)."""
        return self.sample >= 1 or (self.sample > 0 and self._random.random() < self.sample)

    def request(
        self,
        request_id: str,
        route: str,
        model: str,
        version: int,
        latency: float,
        columns: Mapping[str, np.ndarray],
        labels: np.ndarray,
        proba: np.ndarray | None,
        shadow: bool = False,
    ) -> None:
        self._requests.append(
            {
                "request_id": request_id,
                "at": time.time(),
                "route": route,
                "model": model,
                "version": version,
                "latency_ms": latency * 1e3,
                "columns": columns,
                "labels": labels,
                "proba": proba,
                "shadow": shadow,
            }
        )
        if len(self._requests) >= self.flush_rows:
            self._wake.set()

    def feedback(self, request_id: str, label: Any = None, reward: float | None = None) -> None:
        self._feedback.append(
            {
                "request_id": request_id,
                "at": time.time(),
                "label": None if label is None else json.dumps(label),
                "reward": reward,
            }
        )

    def close(self) -> None:
        """Write what is queued and stop the writer."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=30)

    def flush(self) -> None:
        """Write what is queued now (the writer thread also does this every second)."""
        self._write_requests()
        self._write_feedback()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            try:
                self.flush()
            except Exception:
                log.exception("could not write the inference log")
        self.flush()

    def _write_requests(self) -> None:
        taken = _drain(self._requests)
        if not taken:
            return
        groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for item in taken:
            groups.setdefault((item["model"], item["version"]), []).append(item)
        for (model, version), items in groups.items():
            table = _table_of(items)
            if table is not None:
                self._write(self.root / "requests" / model / f"v{version}", table)
        self.written += len(taken)

    def _write_feedback(self) -> None:
        taken = _drain(self._feedback)
        if taken:
            import pyarrow as pa

            self._write(self.root / "feedback", pa.Table.from_pylist(taken))

    @staticmethod
    def _write(folder: Path, table: Any) -> None:
        import pyarrow.parquet as pq

        day = folder / time.strftime("%Y-%m-%d", time.gmtime())
        day.mkdir(parents=True, exist_ok=True)
        name = f"{time.strftime('%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:12]}.parquet"
        temporary = day / f".{name}.tmp"
        pq.write_table(table, temporary)
        os.replace(temporary, day / name)


def _table_of(items: list[dict[str, Any]]) -> Any:
    """The Arrow table of a group; an entry that cannot be written is dropped alone (logged),
    never the whole group."""
    try:
        return _request_table(items)
    except Exception:
        good = []
        for item in items:
            try:
                _request_table([item])
            except Exception:
                log.exception("inference log: dropped the entry of request %s", item["request_id"])
            else:
                good.append(item)
        return _request_table(good) if good else None


def _drain(queue: deque[dict[str, Any]]) -> list[dict[str, Any]]:
    taken = []
    while queue:
        taken.append(queue.popleft())
    return taken


def _request_table(items: list[dict[str, Any]]) -> Any:
    """One row per input row of every request (a 1,000-row request logs 1,000 rows)."""
    import pyarrow as pa

    counts = [len(item["labels"]) for item in items]

    def repeat(key: str) -> np.ndarray:
        return np.repeat([item[key] for item in items], counts)

    labels = np.concatenate([np.asarray(item["labels"]) for item in items])
    data: dict[str, Any] = {
        "request_id": repeat("request_id"),
        "row": np.concatenate([np.arange(n, dtype=np.int32) for n in counts]),
        "at": repeat("at"),
        "route": repeat("route"),
        "model": repeat("model"),
        "version": repeat("version").astype(np.int64),
        "latency_ms": repeat("latency_ms"),
        "shadow": repeat("shadow").astype(bool),
        "prediction": labels if labels.dtype.kind != "O" else labels.astype(str),
    }
    if all(item["proba"] is not None for item in items):
        data["probability"] = np.concatenate([np.max(item["proba"], axis=1) for item in items])
    names = list(items[0]["columns"])
    for name in names:
        if name in data:
            continue
        values = np.concatenate([np.asarray(item["columns"][name]) for item in items])
        if values.dtype.kind == "O":
            values = np.array([None if v is None else str(v) for v in values], dtype=object)
        data[name] = values
    return pa.table({k: pa.array(v) for k, v in data.items()})


def read_requests(deployment: str, folder: str | Path | None = None) -> Any:
    """Every logged request row of a deployment (or served model) as an Arrow table, None
    before any (DuckDB; columns of different versions are unioned by name). ``folder``: the
    server's ``log_dir`` (default ``SHIPYARD_HOME/inference``)."""
    pattern = _folder(folder) / deployment / "requests" / "**" / "*.parquet"
    return _read(pattern, '"at", request_id, "row"')


def read_feedback(deployment: str, folder: str | Path | None = None) -> Any:
    """Feedback posted to a deployment's server (request id, label, reward), or None."""
    return _read(_folder(folder) / deployment / "feedback" / "**" / "*.parquet", '"at"')


def _folder(folder: str | Path | None) -> Path:
    if folder is not None:
        return Path(folder)
    from shipyard.config import get_settings

    return get_settings().home / "inference"


def _read(pattern: Path, order: str) -> Any:
    import duckdb

    if not list(Path(str(pattern).split("**")[0]).rglob("*.parquet")):
        return None
    quoted = str(pattern).replace("'", "''")
    query = f"SELECT * FROM read_parquet('{quoted}', union_by_name = true) ORDER BY {order}"
    relation = duckdb.sql(query)
    assert relation is not None
    return relation.to_arrow_table()

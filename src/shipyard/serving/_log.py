"""The inference log: sampled requests and their answers, and feedback, as Parquet files.

:class:`InferenceLog` is its one owner: the columns, where it lives, how it is written
(serving), how it is read (monitoring, ``read_requests``) and which rows are the answers
(not shadow copies). One log per served name: a deployment's name, or a model's name when
a reference is served plainly (``shipyard serve churn@champion`` logs under ``churn``).

Location: ``<folder>/<name>/`` where ``folder`` is the server's ``log_dir`` or, by default,
``SHIPYARD_HOME/inference`` when artifacts are on a local disk and
``<SHIPYARD_ARTIFACTS_URL>/inference`` when they are in object storage (any fsspec URL:
``s3://``, ``gs://``, ``memory://``)::

    <name>/requests/<model>/v<version>/<date>/<time>-<uuid>.parquet
    <name>/feedback/<date>/<time>-<uuid>.parquet

A request file has :data:`COLUMNS` (``request_id``, ``row`` (its place in the request),
``at`` (epoch seconds), ``route``, ``model``, ``version``, ``latency_ms``, ``prediction``,
``probability`` (the top class's, for classifiers), ``shadow``) and one column per model
input. Feedback has ``request_id``, ``at``, ``label`` (JSON text) and ``reward``. Requests
are queued on the request path and written by a background thread (:meth:`start`) in
batches; local files are written to a temporary name and renamed, so a reader never sees
half a file (object stores put whole objects).
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
from typing import Any, NamedTuple

import numpy as np

from shipyard.errors import InvalidInput
from shipyard.serving._logbuffer import Buffer

__all__ = ["COLUMNS", "InferenceLog", "default_folder", "read_feedback", "read_requests"]

log = logging.getLogger("shipyard.serving")

# the columns the log adds around a model's inputs
COLUMNS = (
    "request_id", "row", "at", "route", "model", "version", "latency_ms",
    "prediction", "probability", "shadow",
)  # fmt: skip


# the writer sorts this many queued requests between chances for the server's thread to
# take the GIL (~0.3 ms of work), rather than holding it for up to the 5 ms switch interval
YIELD_EVERY = 256


def default_folder() -> str | Path:
    """Where logs live by default: ``SHIPYARD_HOME/inference`` beside local artifacts,
    ``<SHIPYARD_ARTIFACTS_URL>/inference`` in object storage."""
    from shipyard.config import get_settings

    settings = get_settings()
    url = str(settings.artifacts_url)
    if "://" in url and not url.startswith("file://"):
        return url.rstrip("/") + "/inference"
    return settings.home / "inference"


def _is_url(folder: str | Path) -> bool:
    text = str(folder)
    return not isinstance(folder, Path) and "://" in text and not text.startswith("file://")


class InferenceLog:
    """The inference log of one served name: written by a server, read by monitors.

    The constructor only keeps its arguments; :meth:`start` starts the writer thread
    (without it, :meth:`flush` and :meth:`close` write in the caller's thread). Queuing
    (:meth:`request`, :meth:`feedback`) is thread-safe; so is reading, from any thread.
    Readers raise InvalidInput for bounds that do not parse.
    """

    def __init__(
        self,
        folder: str | Path,
        deployment: str,
        sample: float = 1.0,
        flush_rows: int = 5_000,
        flush_seconds: float = 1.0,
    ) -> None:
        self.folder = folder
        self.name = deployment
        self.sample = sample
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self.written = 0
        self._buffers: dict[tuple[str, int, tuple[str, ...]], Buffer] = {}
        self._pending: list[tuple[Any, ...]] = []  # requests queued, not yet in a buffer
        self._lock = threading.Lock()
        self._queued = 0
        self._feedback: deque[dict[str, Any]] = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._random = np.random.default_rng()
        self._thread: threading.Thread | None = None

    @classmethod
    def of(cls, name: str, folder: str | Path | None = None, **options: Any) -> InferenceLog:
        """The log of ``name`` in ``folder`` (default: :func:`default_folder`)."""
        return cls(folder if folder is not None else default_folder(), name, **options)

    # -- where ---------------------------------------------------------------------------
    @property
    def location(self) -> str:
        """The log's folder or URL (``<folder>/<name>``)."""
        if _is_url(self.folder):
            return f"{str(self.folder).rstrip('/')}/{self.name}"
        return str(Path(self.folder) / self.name)

    def exists(self) -> bool:
        """Whether anything was ever written here."""
        if not _is_url(self.folder):
            return Path(self.location).is_dir()
        fs, path = _filesystem(self.location)
        return bool(fs.exists(path))

    # -- writing -------------------------------------------------------------------------
    def start(self) -> InferenceLog:
        """Start the writer thread: it writes what is queued every ``flush_seconds`` (or
        at ``flush_rows`` queued rows) until :meth:`close`."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="inference-log", daemon=True)
            self._thread.start()
        return self

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
        """Queue a request's rows: one append on the request path (a fraction of a
        microsecond); the writer thread sorts them into column lists per model version
        (:meth:`collect`) and turns those into Arrow columns in C."""
        kept: Any = columns
        matrix = getattr(columns, "matrix", None)
        if matrix is not None:  # RowColumns: its matrix alone (the column views die sooner)
            kept = _Matrix(columns.names, matrix)  # type: ignore[attr-defined]
        entry = (request_id, route, model, version, latency, shadow, kept, labels, proba)
        with self._lock:
            self._pending.append((*entry, time.time()))
            self._queued += len(labels)
        if self._queued >= self.flush_rows:
            self._wake.set()

    def collect(self) -> None:
        """Move the queued requests into their buffers (the writer does this before each
        write; the values are only read, so this runs outside the request path). One-row
        requests whose inputs are one matrix go in runs, each run added in a few calls."""
        with self._lock:
            taken, self._pending = self._pending, []
        runs: dict[tuple[str, int, tuple[str, ...]], list[tuple[Any, ...]]] = {}
        for done, entry in enumerate(taken, 1):
            if done % YIELD_EVERY == 0:  # let the event loop's thread have the GIL meanwhile
                time.sleep(0)
            columns, labels = entry[6], entry[7]
            names = getattr(columns, "names", None)  # a _Matrix: its names, in order
            key = (entry[2], entry[3], names if names is not None else tuple(columns))
            buffer = self._buffers.get(key)
            if buffer is None:
                buffer = self._buffers[key] = Buffer(key[2])
            if names is not None and len(labels) == 1 and labels.ndim == 1:
                runs.setdefault(key, []).append(entry)
                continue
            if key in runs:  # the rows queued before this request go first
                buffer.add_rows(runs.pop(key))
            request_id, route, _, _, latency, shadow, _, _, proba, at = entry
            buffer.add(request_id, route, latency, shadow, columns, labels, proba, len(labels), at)
        for key, run in runs.items():
            self._buffers[key].add_rows(run)

    def feedback(self, request_id: str, label: Any = None, reward: float | None = None) -> None:
        """Queue a label and/or reward for a request."""
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
        if self._thread is None:
            self.flush()
            return
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
        with self._lock:
            self._queued = 0
        self.collect()
        with self._lock:  # collect runs only here, in one thread at a time
            taken, self._buffers = self._buffers, {}
        for (model, version, _), buffer in taken.items():
            try:
                table = buffer.table(model, version)
            except Exception:
                log.exception(
                    "inference log: dropped %d rows of %s v%s", buffer.rows, model, version
                )
                continue
            self._write(f"requests/{model}/v{version}", table)
            self.written += buffer.rows

    def _write_feedback(self) -> None:
        taken = []
        while self._feedback:
            taken.append(self._feedback.popleft())
        if taken:
            import pyarrow as pa

            self._write("feedback", pa.Table.from_pylist(taken))

    def _write(self, part: str, table: Any) -> None:
        import pyarrow.parquet as pq

        day = time.strftime("%Y-%m-%d", time.gmtime())
        name = f"{time.strftime('%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:12]}.parquet"
        if _is_url(self.folder):  # object storage: a put is whole or absent
            fs, path = _filesystem(f"{self.location}/{part}/{day}")
            fs.makedirs(path, exist_ok=True)
            with fs.open(f"{path}/{name}", "wb") as out:
                pq.write_table(table, out, use_dictionary=_dictionary_columns(table))
            return
        folder = Path(self.location) / part / day
        folder.mkdir(parents=True, exist_ok=True)
        temporary = folder / f".{name}.tmp"
        pq.write_table(table, temporary, use_dictionary=_dictionary_columns(table))
        os.replace(temporary, folder / name)

    # -- reading -------------------------------------------------------------------------
    def requests(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        first: int | None = None,
        last: int | None = None,
        shadow: bool | None = None,
    ) -> Any:
        """Logged request rows as an Arrow table ordered by time, None when there are none
        (columns of different versions are unioned by name). ``since``/``until`` bound
        ``at`` (``since <= at < until``); ``first`` or ``last`` keep the oldest or newest
        rows within them; ``shadow`` keeps only the answers (False) or only the shadow
        copies (True)."""
        if first is not None and last is not None:
            raise InvalidInput("read_requests takes first or last, not both.")
        limit = first if first is not None else last
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 1
        ):
            raise InvalidInput(f"first/last must be a positive number of rows; got {limit!r}.")
        conditions, params = _bounds(since, until)
        if shadow is not None:
            conditions.append("shadow" if shadow else "NOT shadow")
        order = '"at", request_id, "row"'
        if last is not None:  # the newest rows, still returned oldest first
            order = '"at" DESC, request_id DESC, "row" DESC'
        table = self._read("requests", order, conditions, params, limit)
        if table is not None and last is not None:
            table = table.take(list(range(table.num_rows - 1, -1, -1)))
        return table

    def answered(self, **bounds: Any) -> Any:
        """The rows answered to callers, by whichever route answered (the main route
        rule: shadow copies are left out). Takes :meth:`requests`' bounds."""
        return self.requests(shadow=False, **bounds)

    def feedback_rows(self, *, since: float | None = None, until: float | None = None) -> Any:
        """Feedback posted (request id, label, reward), or None; ``since``/``until`` bound
        the time it was posted."""
        conditions, params = _bounds(since, until)
        return self._read("feedback", '"at"', conditions, params)

    @staticmethod
    def inputs(table: Any) -> list[str]:
        """The model-input columns of a table of request rows (all but :data:`COLUMNS`)."""
        return [c for c in table.column_names if c not in COLUMNS]

    def _read(
        self,
        part: str,
        order: str,
        conditions: list[str],
        params: dict[str, Any],
        limit: int | None = None,
    ) -> Any:
        """The rows of every Parquet file under ``part`` matching ``conditions``.

        The files are listed here and handed to DuckDB as a list, not a glob (a folder
        named ``logs[prod]`` is a path, not a pattern), on a connection of this call's own:
        DuckDB's default connection serves one query at a time, and monitors read from
        many threads. Object storage is read through its fsspec filesystem."""
        import duckdb

        files, fs = self._files(part)
        if not files:
            return None
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        tail = f" LIMIT {int(limit)}" if limit is not None else ""
        query = (
            "SELECT * FROM read_parquet($files, union_by_name = true)"
            f"{where} ORDER BY {order}{tail}"
        )
        with duckdb.connect() as connection:
            if fs is not None:
                connection.register_filesystem(fs)
            return connection.sql(query, params={"files": files, **params}).to_arrow_table()

    def _files(self, part: str) -> tuple[list[str], Any]:
        if not _is_url(self.folder):
            root = Path(self.location) / part
            return (sorted(str(f) for f in root.rglob("*.parquet")) if root.is_dir() else []), None
        fs, path = _filesystem(f"{self.location}/{part}")
        if not fs.exists(path):
            return [], fs
        found = [f for f in fs.find(path) if f.endswith(".parquet")]
        return sorted(fs.unstrip_protocol(f) for f in found), fs


class _Matrix(NamedTuple):
    """A queued request's float inputs as one matrix (rows × names), as ``RowColumns``
    carry them: what :class:`Buffer` stacks."""

    names: tuple[str, ...]
    matrix: np.ndarray


def _dictionary_columns(table: Any) -> list[str]:
    """The columns worth Parquet's dictionary encoding: text (ids, routes, categories) repeats;
    numbers mostly do not, and trying a dictionary on them made writing ~8x slower (and the
    files larger) than plain encoding."""
    import pyarrow as pa

    return [
        f.name
        for f in table.schema
        if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
    ]


def _filesystem(url: str) -> tuple[Any, str]:
    import fsspec

    fs, path = fsspec.core.url_to_fs(url)
    return fs, path


def _bounds(since: float | None, until: float | None) -> tuple[list[str], dict[str, float]]:
    conditions, params = [], {}
    for name, value, operator in (("since", since, ">="), ("until", until, "<")):
        if value is None:
            continue
        try:
            params[name] = float(value)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"{name} must be epoch seconds; got {value!r}.") from exc
        conditions.append(f'"at" {operator} ${name}')
    return conditions, params


def read_requests(
    deployment: str,
    folder: str | Path | None = None,
    *,
    since: float | None = None,
    until: float | None = None,
    first: int | None = None,
    last: int | None = None,
    shadow: bool | None = None,
) -> Any:
    """Logged request rows of a deployment (or served model) as an Arrow table ordered by
    time, None when there are none. ``folder``: the server's ``log_dir`` (default: see
    :func:`default_folder`). See :meth:`InferenceLog.requests` for the bounds. Safe from
    any thread."""
    return InferenceLog.of(deployment, folder).requests(
        since=since, until=until, first=first, last=last, shadow=shadow
    )


def read_feedback(
    deployment: str,
    folder: str | Path | None = None,
    *,
    since: float | None = None,
    until: float | None = None,
) -> Any:
    """Feedback posted to a deployment's server (request id, label, reward), or None;
    ``since``/``until`` bound the time it was posted."""
    return InferenceLog.of(deployment, folder).feedback_rows(since=since, until=until)

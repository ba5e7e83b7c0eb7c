"""The active run a user logs to: buffered metrics, background flushing, heartbeats."""

from __future__ import annotations

import atexit
import logging
import os
import random
import sys
import threading
import time
import weakref
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from types import TracebackType
from typing import Any

from shipyard import _validate as check
from shipyard.config import get_settings
from shipyard.errors import InvalidInput, NotFound, ShipyardError
from shipyard.store import BlobStore
from shipyard.tracking._backend import RawPoint, TrackingBackend
from shipyard.tracking._objects import serialize, with_extension
from shipyard.tracking._process import ProcessInfo, environment_info, source_info
from shipyard.tracking._types import ArtifactInfo, Point, RunData, RunId, RunInfo

log = logging.getLogger("shipyard.tracking")

#: A buffer this large is written at once rather than waiting for the flush interval.
MAX_BUFFERED = 50_000
#: The most points one write carries (a server takes request bodies of up to 64 MB).
MAX_BATCH = 100_000


class Run:
    """A run being logged to. Use as a context manager, or call :meth:`end`.

    Metric points are buffered in memory and written in batches: by a background thread
    every ``flush_interval`` seconds, when the buffer holds ``MAX_BUFFERED`` points, when the
    run ends and when the interpreter exits. A write that fails keeps its points (logging goes
    on, tried again at each ``MAX_BUFFERED`` more; ``end()`` raises until they are written).
    Params, tags and artifacts are written at once. Thread-safe.
    """

    def __init__(
        self, store: TrackingBackend, artifacts: BlobStore, info: RunInfo, experiment: str
    ) -> None:
        self.store = store
        self.artifacts = artifacts
        self.info = info
        self.experiment = experiment
        self._buffer: list[RawPoint] = []
        # (id, size) of a batch whose write failed, back at the buffer's front: it may have
        # been written (the answer lost), so it is sent again as it was, under its id
        self._unsure: tuple[str | None, int] | None = None
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._next_step: dict[str, int] = {}
        self._ended = False
        self._closing = False
        self._pid = os.getpid()  # a forked child must not end or flush its parent's run
        self._last_write = time.time()

    @property
    def id(self) -> RunId:
        """The run's id."""
        return self.info.id

    @property
    def name(self) -> str:
        """The run's name."""
        return self.info.name

    # -- metrics -----------------------------------------------------------------------

    def log_metric(
        self, key: str, value: float, step: int | None = None, timestamp: float | None = None
    ) -> None:
        """Append a point to metric ``key``; ``step`` defaults to the key's previous step + 1.

        Raises:
            InvalidInput: a bad key, a non-number or non-finite value, a non-integer step.
        """
        if not isinstance(key, str) or key not in self._next_step:
            check.check_key("Metric", key)
        if type(value) is not float or value - value != 0.0:  # not a finite float: check fully
            value = check.metric_value(key, value)
        ts = time.time() if timestamp is None else check.metric_timestamp(key, timestamp)
        with self._lock:
            self._ensure_open()
            step = self._next_step.get(key, 0) if step is None else check.metric_step(key, step)
            self._next_step[key] = max(step + 1, self._next_step.get(key, 0))
            self._buffer.append((key, value, step, ts))
            full = len(self._buffer) % MAX_BUFFERED == 0  # again at each MAX_BUFFERED more
        if full:
            try:
                self.flush()
            except ShipyardError as exc:  # kept for the flusher and end(); a run deleted is not
                if isinstance(exc, NotFound):
                    raise
                log.warning("Could not flush run %s (will retry): %s", self.id, exc)

    def log_metrics(
        self,
        metrics: Mapping[str, float],
        step: int | None = None,
        timestamp: float | None = None,
    ) -> None:
        """Log several metrics at the same step; all are checked before any is buffered."""
        ts = time.time() if timestamp is None else timestamp  # checked by log_metric
        points = [
            (check.check_key("Metric", k), check.metric_value(k, v))
            for k, v in _mapping("metrics", metrics).items()
        ]
        if step is None and points:  # one step for all: the next step of the furthest key
            with self._lock:
                step = max(self._next_step.get(key, 0) for key, _ in points)
        for key, value in points:
            self.log_metric(key, value, step, ts)

    def flush(self) -> None:
        """Write buffered metric points now, ``MAX_BATCH`` at a time (one transaction each);
        what was not written is kept for retry on failure."""
        with self._flush_lock:
            with self._lock:
                left = len(self._buffer)  # not what other threads add meanwhile
            while left > 0:
                with self._lock:
                    batch_id, size = self._unsure or (None, min(left, MAX_BATCH))
                    points = self._buffer[:size]
                    del self._buffer[: len(points)]
                    self._unsure = None
                if not points:  # emptied meanwhile (the run ended or was deleted)
                    return
                now, left = time.time(), left - len(points)
                batch_id = batch_id or self.store.new_batch_id()
                try:
                    self.store.write_metrics(self.id, points, heartbeat_at=now, batch_id=batch_id)
                except NotFound:
                    self._detach()  # the run was deleted: its points have nowhere to go
                    raise
                except BaseException:
                    self._keep(points, batch_id)
                    raise
                self._last_write = now

    def _keep(self, points: list[RawPoint], batch_id: str | None) -> None:
        """Put back a batch whose write failed, to be sent again as it was (same id)."""
        with self._lock:
            self._buffer[:0] = points
            self._unsure = (batch_id, len(points))

    def metric_history(self, key: str) -> list[Point]:
        """Every point logged to ``key`` (flushes first)."""
        self.flush()
        return self.store.read_metrics(self.id, key)

    # -- params, tags, artifacts -------------------------------------------------------

    def log_param(self, key: str, value: Any) -> None:
        """Record a param; params are write-once (same value again is fine)."""
        self.log_params({check.check_key("Param", key): value})

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record several params in one transaction; all are checked first.

        Raises:
            InvalidInput: a bad key or a value that is not a str, number, bool or None.
            Conflict: a param already stored with a different value (nothing is written).
        """
        clean = {
            check.check_key("Param", k): check.text_value("Param", k, v, check.MAX_PARAM_VALUE)
            for k, v in _mapping("params", params).items()
        }
        self._ensure_open()
        self.store.log_params(self.id, clean)

    def set_tag(self, key: str, value: Any) -> None:
        """Set a tag (tags can be changed)."""
        self.set_tags({check.check_key("Tag", key): value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set several tags in one transaction."""
        clean = {
            check.check_key("Tag", k): check.text_value("Tag", k, v, check.MAX_TAG_VALUE)
            for k, v in _mapping("tags", tags).items()
        }
        self.store.set_tags(self.id, clean)

    def log_artifact(self, item: Any, name: str | None = None) -> list[ArtifactInfo]:
        """Store a file, a folder (recursively) or a Python object as an artifact.

        Objects: pandas DataFrames and Arrow tables (Parquet), numpy arrays (``.npy``),
        matplotlib figures (PNG), plotly figures (JSON), dicts and lists (JSON), bytes.
        ``name`` is the path inside the run (default: the file or folder name, or the
        object's kind). Returns what was recorded.
        """
        if name is not None:
            check.check_key("Artifact", name)
        entries: list[tuple[str, Any, str]] = []
        if isinstance(item, (str, Path)):
            source = Path(item)
            if source.is_dir():
                base = name or source.name
                for file in sorted(p for p in source.rglob("*") if p.is_file()):
                    rel = file.relative_to(source).as_posix()
                    entries.append((f"{base}/{rel}", self.artifacts.put_file(file), "file"))
                if not entries:
                    raise InvalidInput(f"Artifact folder {source} holds no files.")
            elif source.is_file():
                entries.append((name or source.name, self.artifacts.put_file(source), "file"))
            else:
                raise InvalidInput(
                    f"Artifact path {source} does not exist. To log text use run.log_text()."
                )
        else:
            data, kind = serialize(item)
            path = with_extension(name or kind, kind)
            entries.append((path, self.artifacts.put_bytes(data), kind))
        for path, _, _ in entries:
            check.check_key("Artifact", path)
        self.store.add_artifacts(self.id, entries)
        return [ArtifactInfo(p, b.digest, b.size, k, time.time()) for p, b, k in entries]

    def log_text(self, text: str, name: str) -> ArtifactInfo:
        """Store a string as a text artifact."""
        if not isinstance(text, str):
            raise InvalidInput(f"log_text takes a str, got {type(text).__name__}.")
        path = check.check_key("Artifact", with_extension(name, "text"))
        blob = self.artifacts.put_bytes(text.encode())
        self.store.add_artifacts(self.id, [(path, blob, "text")])
        return ArtifactInfo(path, blob.digest, blob.size, "text", time.time())

    # -- lifecycle ---------------------------------------------------------------------

    def end(self, status: str = "finished") -> None:
        """Flush everything and record the final status; a second call does nothing.

        In a process forked from the one that started the run, it only flushes: the status is
        the owner's to set.
        """
        check.final_status(status)
        if self._pid != os.getpid() or len(self._buffer) > MAX_BATCH or self._unsure:
            self.flush()  # then the last points go with the final status
        if self._pid != os.getpid():
            return
        with self._flush_lock:
            with self._lock:
                if self._ended:
                    return
                points, self._buffer = self._buffer, []
                self._closing = True  # from here on, log_metric refuses rather than loses
            batch_id = self.store.new_batch_id() if points else None
            try:
                self.store.finish_run(self.id, status, points, batch_id=batch_id)
            except NotFound:
                self._detach()  # the run was deleted: nothing left to end or retry
                raise
            except BaseException:
                if points:  # kept: the flusher or the exit handler will try again
                    self._keep(points, batch_id)
                with self._lock:
                    self._closing = False
                raise
        self._detach()

    def _detach(self) -> None:
        with self._lock:
            self._ended = True
            self._buffer = []
            self._unsure = None
        _flusher.forget(self)
        _pop_active(self)

    def data(self) -> RunData:
        """Everything stored for this run (flushes first)."""
        self.flush()
        return self.store.get_run(self.id)

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            status = "finished"
        elif issubclass(exc_type, KeyboardInterrupt):
            status = "killed"
        else:
            status = "failed"
        self.end(status)

    def _ensure_open(self) -> None:
        if self._ended or self._closing:
            raise InvalidInput(f"Run {self.id} has ended; start a new run to log more.")

    def __repr__(self) -> str:
        return f"<Run {self.name!r} id={self.id} experiment={self.experiment!r}>"


def _mapping(field: str, value: object) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{field} must be a mapping of names to values, got {value!r}.")
    return value


# -- active runs, per thread/context ---------------------------------------------------

_active: ContextVar[tuple[Run, ...]] = ContextVar("shipyard_active_runs", default=())
_last: ContextVar[str | None] = ContextVar("shipyard_last_run", default=None)


def last_run_id() -> str | None:
    """The id of the run started (or resumed) last in this context, ended or not."""
    return _last.get()


def active_run() -> Run | None:
    """The innermost run started in this context and not yet ended."""
    stack = _active.get()
    return stack[-1] if stack else None


def require_active() -> Run:
    """The active run, or a clear error when there is none."""
    run = active_run()
    if run is None:
        raise ShipyardError("No active run: start one with `with sy.start_run() as run:`.")
    return run


def push_active(run: Run) -> None:
    _active.set((*_active.get(), run))
    _last.set(run.id)


def _pop_active(run: Run) -> None:
    stack = _active.get()
    if run in stack:
        _active.set(tuple(r for r in stack if r is not run))


_ADJECTIVES = (
    "brave", "calm", "eager", "fair", "keen", "lucid", "merry", "noble",
    "quick", "sharp", "steady", "swift", "tidy", "vivid", "wise", "bold"
)  # fmt: skip
_NOUNS = (
    "otter", "heron", "lynx", "falcon", "badger", "marlin", "orca", "raven",
    "wren", "bison", "ibis", "puffin", "gecko", "koala", "tern", "yak"
)  # fmt: skip


def run_name() -> str:
    """A readable default run name such as ``swift-heron-42``."""
    return f"{random.choice(_ADJECTIVES)}-{random.choice(_NOUNS)}-{random.randint(1, 99)}"


def new_run(
    store: TrackingBackend,
    artifacts: BlobStore,
    experiment: str,
    name: str | None,
    parent: Run | None,
    tags: Mapping[str, Any] | None,
) -> Run:
    """Create a run in the store and make it active and flushed in the background."""
    check.check_name("Experiment", experiment)
    run_name_ = check.check_name("Run", name) if name is not None else run_name()
    clean_tags = {
        check.check_key("Tag", k): check.text_value("Tag", k, v, check.MAX_TAG_VALUE)
        for k, v in _mapping("tags", tags or {}).items()
    }
    exp = store.experiment(experiment)
    info = store.create_run(
        exp.id,
        run_name_,
        parent_id=parent.id if parent else None,
        process=ProcessInfo.current(),
        source=source_info(),
        environment=environment_info(),
        tags=clean_tags,
    )
    run = Run(store, artifacts, info, exp.name)
    push_active(run)
    _flusher.track(run)
    return run


def resume(store: TrackingBackend, artifacts: BlobStore, run_id: str) -> Run:
    """Continue logging to an existing run (from this or another process)."""
    data = store.get_run(run_id)
    info = store.resume_run(data.info.id, ProcessInfo.current())
    run = Run(store, artifacts, info, data.experiment)
    for key, latest in data.metrics.items():
        run._next_step[key] = latest.step + 1
    push_active(run)
    _flusher.track(run)
    return run


# -- background flushing and heartbeats ------------------------------------------------


class _Flusher:
    """One daemon thread per process: flushes buffers and writes heartbeats of open runs."""

    def __init__(self) -> None:
        self._runs: weakref.WeakSet[Run] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._crashed: str | None = None  # final status when an exception ends the process

    def track(self, run: Run) -> None:
        with self._lock:
            self._runs.add(run)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name="shipyard-flusher", daemon=True
                )
                self._thread.start()

    def forget(self, run: Run) -> None:
        with self._lock:
            self._runs.discard(run)

    def open_runs(self) -> list[Run]:
        with self._lock:
            return list(self._runs)

    def _loop(self) -> None:
        while True:
            settings = get_settings()  # read each tick: reset_settings() takes effect
            self._wake.wait(settings.flush_interval)
            now = time.time()
            idle: dict[int, tuple[TrackingBackend, list[RunId]]] = {}
            for run in self.open_runs():
                try:
                    run.flush()
                except Exception as exc:
                    log.warning("Could not flush run %s (will retry): %s", run.id, exc)
                if now - run._last_write >= settings.heartbeat_interval:
                    idle.setdefault(id(run.store), (run.store, []))[1].append(run.id)
                    run._last_write = now
            for store, ids in idle.values():
                try:
                    store.heartbeat(ids, now)
                except Exception as exc:
                    log.warning("Could not write heartbeat: %s", exc)

    def after_fork(self) -> None:
        """In a forked child: inherited runs belong to the parent, and so does the thread.

        Their buffered points are the parent's to write, so the child drops its copies, and
        gets fresh locks (a lock held at fork time would never be released here). Points the
        child logs to an inherited run are written by ``run.flush()`` or ``run.end()``; the
        run's status stays with the process that started it.
        """
        for run in list(self._runs):
            run._buffer, run._unsure = [], None
            run._lock = threading.Lock()
            run._flush_lock = threading.Lock()
        self._runs = weakref.WeakSet()
        self._thread = None
        self._lock = threading.Lock()
        self._wake = threading.Event()

    def close_all(self) -> None:
        """At interpreter exit: flush and end every open run this process started."""
        status = self._crashed or "finished"
        for run in self.open_runs():
            if run._pid != os.getpid():
                continue
            try:
                run.end(status)
            except Exception as exc:
                log.error("Could not end run %s at exit: %s", run.id, exc)


_flusher = _Flusher()
atexit.register(_flusher.close_all)
os.register_at_fork(after_in_child=_flusher.after_fork)

_previous_hook = sys.excepthook


def _excepthook(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> None:
    _flusher._crashed = "killed" if issubclass(exc_type, KeyboardInterrupt) else "failed"
    _previous_hook(exc_type, exc, tb)


sys.excepthook = _excepthook

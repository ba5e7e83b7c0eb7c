"""The shadow worker: shadow models run in a child process, out of the server's GIL.

Parent side, :class:`ShadowWorker`: starts the child, sends it one batch at a time over a
connection and waits for the answer. It is called from one dedicated thread of the server
(never the event loop, never the default executor, whose threads apply deployment
changes). A child that dies, or answers no batch within ``timeout`` (it is then killed),
raises :class:`WorkerLost`; the next batch starts a fresh child, after ``RESTART_PAUSE``
seconds, so that a model that kills every child does not keep a core busy starting new
ones. A pool (``ProcessPoolExecutor(max_workers=1)``) would give neither the kill on a
hung batch nor one at shutdown on Python 3.11.

The child is a fresh interpreter (``subprocess``: no forked threads or locks) that imports
this module by name and nothing of the caller's: multiprocessing's ``spawn`` re-imports the
parent's ``__main__`` in the child, so a script serving a shadow deployment without an
``if __name__ == "__main__":`` guard ran again inside it (registering its models again,
starting another server). It is not run with ``-m`` either: the module would be a second
copy named ``__main__``, whose results would cross back as ``__main__.Result``. It gets the
server's import path on its command line (so models pickled by reference load as in the
server), one end of a socket pair (``multiprocessing.Pipe``, the descriptor passed to it
alone: no address, no key to guard) and the server's store and log settings as the first
message. It shares the server's stderr (its tracebacks are not lost) and ends when the
connection closes: at :meth:`ShadowWorker.kill`, or when the server's process ends,
however it ends.

Child side, :func:`_main`: lowers its priority (``os.nice``: under CPU contention the
server's answers win and the shadow queue sheds), takes the server's store settings and one
BLAS/OpenMP thread, then answers batches with :func:`run_batch`: each group's model loaded
by exact version reference (cached, ``CACHE_SIZE``), the copies' inputs joined and
validated against that model's own signature in one call, then predicted in one call (each
copy on its own if either fails, so that one bad copy fails only itself, as the batcher
does: validating copy by copy cost the child as much CPU as the server's answers),
compared with the answers returned and written to the inference log (the child has its own
writer, to the server's log folder; it writes what it holds when told to stop or when the
server is gone), so that the server only counts: shadow rows logged from the server
doubled its logging work.

:class:`InProcess` runs the same batches in the server's process, for stores a child cannot
see (``memory://``) and for servers that may not start processes (a daemonic process).
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import chain
from multiprocessing.connection import Connection
from typing import Any, Protocol

import numpy as np

from shipyard.serving._log import InferenceLog

__all__ = ["Group", "InProcess", "Result", "Runner", "ShadowWorker", "WorkerLost", "run_batch"]

NICE = 10  # the child's priority increment: the answering process wins the CPU
CACHE_SIZE = 4  # models kept loaded in the child
RESTART_PAUSE = 1.0  # seconds between a lost child and the next one

# The child's program: the server's import path first, then this module by its name.
_BOOT = (
    "import sys; sys.path[:0] = sys.argv[2:]; "
    "from shipyard.serving._shadow_worker import main; main(int(sys.argv[1]))"
)


class WorkerLost(Exception):
    """The child died or hung on a batch; the batch is lost."""


@dataclass(frozen=True)
class Group:
    """The copies of one batch for one route's model version: each copy's parsed input,
    the labels returned for it, its request id and whether it is logged."""

    route: str
    ref: str  # the exact version, "churn@4"
    model: str
    version: int
    format: str
    inputs: list[Mapping[str, Any]]
    answered: list[Any]
    request_ids: list[str]
    logged: list[bool]


@dataclass(frozen=True)
class Result:
    """What the shadow model made of a group, per copy: its rows (0 when it failed), how
    many agree with the answer returned, the seconds of the model call it rode in and its
    error. Counts only: the rows themselves go to the inference log from where they were
    predicted, so no array crosses back to the server."""

    rows: list[int]
    agree: list[int]
    seconds: list[float]
    errors: list[str | None]
    cpu: float = 0.0  # CPU seconds the group took where it ran (the sender's budget)

    @classmethod
    def failed(cls, copies: int, error: str) -> Result:
        return cls([0] * copies, [0] * copies, [0.0] * copies, [error] * copies)


class Runner(Protocol):
    """Runs batches of groups (from one thread at a time) and can be stopped from any."""

    def run(self, groups: list[Group]) -> list[Result]: ...

    def kill(self) -> None: ...


# -- in the child (or in process) --------------------------------------------------------
_models: OrderedDict[tuple[str, str], Any] = OrderedDict()


def _model(ref: str, format: str) -> Any:
    from shipyard import models

    key = (ref, format)
    model = _models.get(key)
    if model is None:
        # ``ref`` is the exact version the server loaded (and so trusted) for this route
        model = _models[key] = models.load(
            ref, format=format, check_environment=False, trusted=True
        )
        while len(_models) > CACHE_SIZE:
            _models.popitem(last=False)
    _models.move_to_end(key)
    return model


def _text(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


@dataclass(frozen=True)
class _Chunk:
    """One model call's answer: the copies it answered (index, rows), in order."""

    members: list[tuple[int, int]]
    columns: dict[str, np.ndarray]
    labels: np.ndarray
    proba: np.ndarray | None
    seconds: float


def _call(model: Any, members: list[tuple[int, int]], columns: dict[str, np.ndarray]) -> _Chunk:
    started = time.perf_counter()
    labels, proba = model.predict_columns(columns)
    return _Chunk(members, columns, np.asarray(labels), proba, time.perf_counter() - started)


def _rows(columns: Mapping[str, np.ndarray]) -> int:
    return len(next(iter(columns.values()))) if columns else 0


def _joined(model: Any, inputs: list[Mapping[str, Any]]) -> dict[str, np.ndarray] | None:
    """Every copy's input validated in one call (the lists of each column joined), or None
    when they do not join or do not pass together."""
    names = list(inputs[0])
    if len(inputs) < 2 or any(list(raw) != names for raw in inputs):
        return None
    try:
        raw = {name: list(chain.from_iterable(r[name] for r in inputs)) for name in names}
        columns = model.validate(raw)
    except Exception:
        return None
    return dict(columns)


def _predict(model: Any, inputs: list[Mapping[str, Any]], errors: list[str | None]) -> list[_Chunk]:
    """One validation and one call for all copies; else one of each per copy, so that one
    bad copy fails only itself."""
    columns = _joined(model, inputs)
    if columns is not None:
        counts = [len(next(iter(raw.values()))) for raw in inputs]
        if sum(counts) == _rows(columns):
            try:
                return [_call(model, list(enumerate(counts)), columns)]
            except Exception:
                pass
    chunks = []
    for i, raw in enumerate(inputs):
        try:
            columns = model.validate(raw)
            chunks.append(_call(model, [(i, _rows(columns))], columns))
        except Exception as exc:
            errors[i] = _text(exc)
    return chunks


def _group(group: Group, log: InferenceLog | None) -> Result:
    copies = len(group.inputs)
    try:
        model = _model(group.ref, group.format)
    except Exception as exc:
        return Result.failed(copies, f"loading {group.ref}: {exc}")
    errors: list[str | None] = [None] * copies
    rows, agree, seconds = [0] * copies, [0] * copies, [0.0] * copies
    for chunk in _predict(model, group.inputs, errors):
        start = 0
        for i, count in chunk.members:
            end = start + count
            mine, answered = chunk.labels[start:end], np.asarray(group.answered[i])
            rows[i], seconds[i] = count, chunk.seconds
            agree[i] = int(np.sum(mine == answered)) if mine.shape == answered.shape else 0
            if log is not None and group.logged[i]:  # sampled with the answer it shadows
                columns = {name: values[start:end] for name, values in chunk.columns.items()}
                proba = None if chunk.proba is None else chunk.proba[start:end]
                log.request(
                    group.request_ids[i], group.route, group.model, group.version,
                    chunk.seconds, columns, mine, proba, shadow=True,
                )  # fmt: skip
            start = end
    return Result(rows, agree, seconds, errors)


def run_batch(groups: list[Group], log: InferenceLog | None = None) -> list[Result]:
    """Every group's result, in order; logged copies' rows queued on ``log``."""
    results = []
    for group in groups:
        # loading a model (and the libraries it imports) once is not what its copies cost:
        # counted, it would hold the next batches back for seconds of CPU budget
        with contextlib.suppress(Exception):  # a model that fails to load fails its group
            _model(group.ref, group.format)
        started = time.thread_time()  # the models run in this thread (one OpenMP thread)
        result = _group(group, log)
        results.append(dataclasses.replace(result, cpu=time.thread_time() - started))
    return results


def main(fd: int) -> None:
    """The child's entry (``_BOOT``): the connection on descriptor ``fd``, whose first
    message is the settings (environment, log folder and name)."""
    conn = Connection(fd)
    try:
        env, where = conn.recv()
    except EOFError:  # the server was gone before it started
        return
    _main(conn, env, where)


def _main(conn: Connection, env: dict[str, str], where: tuple[str, str] | None) -> None:
    """The child: the server's settings, one OpenMP thread, lower priority (once imports
    are done, so that it is ready soon), then batches until told to stop or the server is
    gone; shadow rows go to the inference log in ``where`` (folder, name), written when it
    stops."""
    os.environ.update(env)
    from threadpoolctl import threadpool_limits

    from shipyard import models  # noqa: F401 - imported at full priority
    from shipyard.config import reset_settings

    reset_settings()
    threadpool_limits(1)  # no OpenMP team spinning on the server's cores
    with contextlib.suppress(OSError):
        os.nice(NICE)
    log = None if where is None else InferenceLog(where[0], where[1]).start()
    try:
        while True:
            try:
                groups = conn.recv()
            except (EOFError, OSError):  # the server is gone
                return
            if groups is None:
                return
            try:
                answer: Any = run_batch(groups, log)
            except Exception as exc:  # a bug: the batch fails, the child goes on
                answer = _text(exc)
            try:
                conn.send(answer)
            except OSError:  # the server is gone
                return
            except Exception as exc:  # an answer that does not pickle: the batch fails
                conn.send(_text(exc))
    finally:
        if log is not None:
            log.close()


# -- in the server -----------------------------------------------------------------------
class ShadowWorker:
    """A child process running shadow batches (see the module docstring). :meth:`run` is
    called from one thread at a time; :meth:`kill` from any."""

    def __init__(
        self, env: dict[str, str], log: InferenceLog | None = None, timeout: float = 60.0
    ) -> None:
        self.env = env  # the store settings the child takes (SHIPYARD_*)
        self.log = None if log is None else (str(log.folder), log.name)  # where rows go
        self.timeout = timeout
        self.started = 0  # children started so far
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._lost_at = -RESTART_PAUSE

    def run(self, groups: list[Group]) -> list[Result]:
        """The results of a batch; WorkerLost if the child died or hung on it."""
        process, conn = self._ensure()
        try:
            conn.send(groups)
            if not conn.poll(self.timeout):
                raise WorkerLost(f"the shadow worker gave no answer in {self.timeout:g} s")
            answer = conn.recv()
        except (EOFError, OSError) as exc:
            self._lose(process)
            raise WorkerLost(f"the shadow worker stopped ({process.poll()})") from exc
        except WorkerLost:
            self._lose(process)
            raise
        if isinstance(answer, str):
            return [Result.failed(len(g.inputs), answer) for g in groups]
        return list(answer)

    def _ensure(self) -> tuple[subprocess.Popen[bytes], Connection]:
        with self._lock:
            process, conn = self._process, self._conn
            if process is not None and conn is not None and process.poll() is None:
                return process, conn
        if process is not None:  # died between batches (or was killed)
            self._lose(process)
        pause = self._lost_at + RESTART_PAUSE - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        process, parent = self._start()
        with self._lock:
            self._process, self._conn = process, parent
            self.started += 1
        return process, parent

    def _start(self) -> tuple[subprocess.Popen[bytes], Connection]:
        """A new child (see the module docstring) and the server's end of its connection;
        the settings are its first message."""
        parent, child = multiprocessing.Pipe()
        fd = child.fileno()
        try:
            process = subprocess.Popen(
                [sys.executable, "-c", _BOOT, str(fd), *sys.path],
                stdin=subprocess.DEVNULL,
                pass_fds=(fd,),
            )
        except OSError as exc:
            parent.close()
            self._lost_at = time.monotonic()
            raise WorkerLost(f"the shadow worker did not start: {exc}") from exc
        finally:
            child.close()  # the child's alone now: its end closes when it ends
        with contextlib.suppress(OSError):  # a child already gone: the batch finds out
            parent.send((self.env, self.log))
        return process, parent

    def _lose(self, process: subprocess.Popen[bytes]) -> None:
        """Forget a child that died or hung (called by the thread that runs batches)."""
        self._lost_at = time.monotonic()
        with self._lock:
            if process is not self._process:
                return
            conn, self._process, self._conn = self._conn, None, None
        process.kill()
        _wait(process, 5)
        if conn is not None:
            conn.close()

    def kill(self, wait: float = 10.0) -> None:
        """End the child: told to stop (it writes the log rows it holds) after the batch in
        flight, killed if it has not within ``wait`` seconds; the next :meth:`run` starts
        another."""
        process, conn = self._process, self._conn
        if process is None:
            return
        if conn is not None:
            with contextlib.suppress(OSError, ValueError):
                conn.send(None)
        _wait(process, wait)
        if process.poll() is None:
            process.kill()
            _wait(process, 5)

    @property
    def pid(self) -> int | None:
        process = self._process
        return None if process is None else process.pid


def _wait(process: subprocess.Popen[bytes], seconds: float) -> None:
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=seconds)


class InProcess:
    """Shadow batches run in the server's own process (see the module docstring)."""

    pid = None

    def __init__(self, log: InferenceLog | None = None) -> None:
        self.log = log

    def run(self, groups: list[Group]) -> list[Result]:
        return run_batch(groups, self.log)

    def kill(self) -> None:
        return None

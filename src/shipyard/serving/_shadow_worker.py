"""The shadow worker: shadow models run in a child process, out of the server's GIL.

Parent side, :class:`ShadowWorker`: starts the child (``spawn``: no forked threads or
locks), sends it one batch at a time over a pipe and waits for the answer. It is called
from one dedicated thread of the server (never the event loop, never the default executor,
whose threads apply deployment changes). A child that dies, or answers no batch within
``timeout`` (it is then killed), raises :class:`WorkerLost`; the next batch starts a fresh
child, after ``RESTART_PAUSE`` seconds, so that a model that kills every child does not keep
a core busy starting new ones. A pool (``ProcessPoolExecutor(max_workers=1)``) would give
neither the kill on a hung batch nor one at shutdown on Python 3.11.

Child side, :func:`_main`: lowers its priority (``os.nice``: under CPU contention the
server's answers win and the shadow queue sheds), takes the server's store settings and one
BLAS/OpenMP thread, then answers batches with :func:`run_batch`: each group's model loaded
by exact version reference (cached, ``CACHE_SIZE``), the copies' inputs joined and
validated against that model's own signature in one call, then predicted in one call (each
copy on its own if either fails, so that one bad copy fails only itself, as the batcher
does: validating copy by copy cost the child as much CPU as the server's answers) and
compared with the answers returned, so that the server only counts and logs.

:class:`InProcess` runs the same batches in the server's process, for stores a child cannot
see (``memory://``) and for servers that may not start processes (a daemonic process).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import chain
from multiprocessing.connection import Connection
from typing import Any, Protocol

import numpy as np

__all__ = ["Group", "InProcess", "Result", "Runner", "ShadowWorker", "WorkerLost", "run_batch"]

NICE = 10  # the child's priority increment: the answering process wins the CPU
CACHE_SIZE = 4  # models kept loaded in the child
RESTART_PAUSE = 1.0  # seconds between a lost child and the next one


class WorkerLost(Exception):
    """The child died or hung on a batch; the batch is lost."""


@dataclass(frozen=True)
class Group:
    """The copies of one batch for one route's model version: each copy's parsed input
    and the labels that were returned for it; ``log``: send back the validated columns."""

    ref: str  # the exact version, "churn@4"
    format: str
    inputs: list[Mapping[str, Any]]
    answered: list[Any]
    log: bool


@dataclass(frozen=True)
class Result:
    """What the shadow model made of a group: per copy, its rows (0 when it failed), how
    many agree with the answer returned, the seconds of the model call it rode in and its
    error; the answered copies' rows joined in copy order (labels, probabilities, and the
    validated columns when the group is logged). Joined arrays, not one object per copy:
    they cross the pipe, and are read on the server's event loop, in a few calls."""

    rows: list[int]
    agree: list[int]
    seconds: list[float]
    errors: list[str | None]
    labels: np.ndarray | None = None
    proba: np.ndarray | None = None
    columns: dict[str, np.ndarray] | None = None

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
        model = _models[key] = models.load(ref, format=format, check_environment=False)
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


def _join(parts: list[np.ndarray]) -> np.ndarray:
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _group(group: Group) -> Result:
    copies = len(group.inputs)
    try:
        model = _model(group.ref, group.format)
    except Exception as exc:
        return Result.failed(copies, f"loading {group.ref}: {exc}")
    errors: list[str | None] = [None] * copies
    chunks = _predict(model, group.inputs, errors)
    rows, agree, seconds = [0] * copies, [0] * copies, [0.0] * copies
    for chunk in chunks:
        start = 0
        for i, count in chunk.members:
            mine, answered = chunk.labels[start : start + count], np.asarray(group.answered[i])
            rows[i], seconds[i], start = count, chunk.seconds, start + count
            agree[i] = int(np.sum(mine == answered)) if mine.shape == answered.shape else 0
    if not chunks:
        return Result(rows, agree, seconds, errors)
    labels = _join([c.labels for c in chunks])
    probas = [c.proba for c in chunks]
    proba = None if any(p is None for p in probas) else _join(probas)  # type: ignore[arg-type]
    columns = None
    if group.log:
        columns = {name: _join([c.columns[name] for c in chunks]) for name in chunks[0].columns}
    return Result(rows, agree, seconds, errors, labels, proba, columns)


def run_batch(groups: list[Group]) -> list[Result]:
    """Every group's result, in order."""
    return [_group(group) for group in groups]


def _main(conn: Connection, env: dict[str, str]) -> None:
    """The child: the server's settings, one OpenMP thread, lower priority (once imports
    are done, so that it is ready soon), then batches until told to stop."""
    os.environ.update(env)
    from threadpoolctl import threadpool_limits

    from shipyard import models  # noqa: F401 - imported at full priority
    from shipyard.config import reset_settings

    reset_settings()
    threadpool_limits(1)  # no OpenMP team spinning on the server's cores
    with contextlib.suppress(OSError):
        os.nice(NICE)
    while True:
        try:
            groups = conn.recv()
        except EOFError:
            return
        if groups is None:
            return
        try:
            answer: Any = run_batch(groups)
            conn.send(answer)
        except Exception as exc:  # an answer that does not pickle: the batch fails
            conn.send(f"{type(exc).__name__}: {exc}")


# -- in the server -----------------------------------------------------------------------
class ShadowWorker:
    """A child process running shadow batches (see the module docstring). :meth:`run` is
    called from one thread at a time; :meth:`kill` from any."""

    def __init__(self, env: dict[str, str], timeout: float = 60.0) -> None:
        self.env = env  # the store settings the child takes (SHIPYARD_*)
        self.timeout = timeout
        self.started = 0  # children started so far
        self._lock = threading.Lock()
        self._process: Any = None
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
            raise WorkerLost(f"the shadow worker stopped ({process.exitcode})") from exc
        except WorkerLost:
            self._lose(process)
            raise
        if isinstance(answer, str):
            return [Result.failed(len(g.inputs), answer) for g in groups]
        return list(answer)

    def _ensure(self) -> tuple[Any, Connection]:
        with self._lock:
            process, conn = self._process, self._conn
            if process is not None and conn is not None and process.is_alive():
                return process, conn
        if process is not None:  # died between batches (or was killed)
            self._lose(process)
        pause = self._lost_at + RESTART_PAUSE - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        process = context.Process(
            target=_main, args=(child, self.env), name="shipyard-shadow", daemon=True
        )
        process.start()
        child.close()
        with self._lock:
            self._process, self._conn = process, parent
            self.started += 1
        return process, parent

    def _lose(self, process: Any) -> None:
        """Forget a child that died or hung (called by the thread that runs batches)."""
        self._lost_at = time.monotonic()
        with self._lock:
            if process is not self._process:
                return
            conn, self._process, self._conn = self._conn, None, None
        process.kill()
        process.join(timeout=5)
        if conn is not None:
            conn.close()

    def kill(self) -> None:
        """End the child now: a batch in flight is lost (its thread sees the child gone),
        and the next :meth:`run` starts another."""
        process = self._process
        if process is not None:
            process.kill()
            process.join(timeout=5)

    @property
    def pid(self) -> int | None:
        process = self._process
        return None if process is None else int(process.pid)


class InProcess:
    """Shadow batches run in the server's own process (see the module docstring)."""

    pid = None

    def run(self, groups: list[Group]) -> list[Result]:
        return run_batch(groups)

    def kill(self) -> None:
        return None

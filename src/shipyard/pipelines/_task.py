"""One attempt of one step, as an executor runs it wherever it runs (a worker process, a Ray
task): read the inputs, run the function with its output captured, store what it returned.

A :class:`Task` carries the step (cloudpickled, its function by value: the code the
coordinator has in memory, wherever it was defined), its arguments
with placeholders for upstream outputs, and those outputs' records. :func:`execute` never
raises: whatever happens is in the :class:`TaskResult`.

While a step's function runs, ``SHIPYARD_PIPELINE_RUN`` holds its run's id and
``SHIPYARD_PIPELINE_STEP`` its step's name (``sy.pipelines.get_run(run_id).trigger`` tells
a step what started its run).
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import os
import pickle
import sys
import tempfile
import time
import traceback
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from shipyard.errors import InvalidInput
from shipyard.pipelines._graph import Output
from shipyard.pipelines._values import Stored, dump, load
from shipyard.store import ArtifactStore, BlobStore, watch_versions

__all__ = ["LOG_LIMIT", "RUN_ENV", "STEP_ENV", "Task", "TaskResult", "execute", "resolve"]

#: The most of a step's captured output kept (its end).
LOG_LIMIT = 64 * 1024
#: Environment variables set while a step runs: its run's id, its step's name.
RUN_ENV = "SHIPYARD_PIPELINE_RUN"
STEP_ENV = "SHIPYARD_PIPELINE_STEP"


@dataclass(frozen=True)
class Task:
    """One attempt of a step, ready to ship to a worker."""

    run_id: str
    node: str
    attempt: int
    function: bytes  # cloudpickled
    arguments: bytes  # cloudpickled: {param: constant, Output, or lists/dicts of them}
    inputs: dict[str, dict[str, Any]]  # upstream node -> Stored.to_json()
    artifacts_url: str
    cache_dir: str | None


@dataclass
class TaskResult:
    """What an attempt did: its output's record and bytes, or the error; its logs."""

    node: str
    attempt: int
    ok: bool
    started_at: float
    ended_at: float
    output: dict[str, Any] | None = None  # Stored.to_json()
    error: str | None = None
    logs: str = ""
    tracking_run_id: str | None = None
    links: list[str] = field(default_factory=list)


def resolve(value: Any, loaded: dict[str, Any]) -> Any:
    """``value`` with every :class:`Output` replaced by the loaded output (or its item)."""
    if isinstance(value, Output):
        result = loaded[value.node]
        for item in value.items:
            try:
                result = result[item]
            except (KeyError, IndexError, TypeError) as exc:
                raise InvalidInput(
                    f"The output of step {value.node!r} has no item {item!r} "
                    f"({type(exc).__name__}: {exc})."
                ) from None
        return result
    if isinstance(value, list):
        return [resolve(v, loaded) for v in value]
    if isinstance(value, tuple):
        return tuple(resolve(v, loaded) for v in value)
    if isinstance(value, dict):
        return {k: resolve(v, loaded) for k, v in value.items()}
    return value


def read_value(stored: Stored, artifacts: BlobStore | None) -> Any:
    """A stored value read back (from its row when small, else from the artifact store)."""
    if stored.inline is not None:
        return load(stored, stored.inline)
    if artifacts is None:
        raise InvalidInput("A stored value lives in the artifact store, but none was given.")
    return load(stored, artifacts.get_bytes(stored.digest))


def execute(task: Task) -> TaskResult:
    """Run one attempt; every failure is in the result, never raised."""
    started = time.time()
    result = TaskResult(task.node, task.attempt, False, started, started)
    artifacts = ArtifactStore(task.artifacts_url, cache_dir=task.cache_dir)
    with _captured() as logs:
        try:
            _run(task, artifacts, result)
        except BaseException as exc:  # a step may raise anything; SystemExit included
            result.error = f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
            if isinstance(exc, KeyboardInterrupt):
                raise
    result.logs = logs()
    result.ended_at = time.time()
    return result


def _run(task: Task, artifacts: ArtifactStore, result: TaskResult) -> None:
    function = pickle.loads(task.function)
    arguments = pickle.loads(task.arguments)
    loaded = {
        node: read_value(Stored.from_json(record), artifacts)
        for node, record in task.inputs.items()
    }
    kwargs = {name: resolve(value, loaded) for name, value in arguments.items()}
    with watch_versions() as made, _running_as(task):
        context = contextvars.copy_context()  # copied inside: the step sees the watch
        value = context.run(_call, function, kwargs)
    result.links = list(made)
    result.tracking_run_id = _tracking_run(context)
    stored, data = dump(value, f"the output of step {task.node!r}")
    if stored.inline is None:
        artifacts.put_bytes(data)
    result.output = stored.to_json()
    result.ok = True


def _call(function: Any, arguments: dict[str, Any]) -> Any:
    """Call ``function`` with the arguments its call in the pipeline's body bound (by
    parameter: positional-only ones, ``*args`` and ``**kwargs`` included)."""
    bound = inspect.BoundArguments(inspect.signature(function), OrderedDict(arguments))
    return function(*bound.args, **bound.kwargs)


@contextlib.contextmanager
def _running_as(task: Task) -> Iterator[None]:
    """:data:`RUN_ENV` and :data:`STEP_ENV` set to the task's run and step meanwhile; the
    environment and working directory as they were afterwards (a worker runs step after
    step: one that changes them must not change where the next one runs)."""
    saved, cwd = dict(os.environ), os.getcwd()
    os.environ[RUN_ENV] = task.run_id
    os.environ[STEP_ENV] = task.node
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        with contextlib.suppress(OSError):
            os.chdir(cwd)


def _tracking_run(context: contextvars.Context) -> str | None:
    """The tracking run the step started last, if it started one."""
    tracking = sys.modules.get("shipyard.tracking")
    if tracking is None:
        return None
    run_id: str | None = context.run(tracking.last_run_id)
    return run_id


@contextlib.contextmanager
def _captured() -> Iterator[Any]:
    """Everything written to file descriptors 1 and 2 meanwhile (the end of it, at most
    :data:`LOG_LIMIT` bytes), as a function to call afterwards."""
    text = ""

    def collected() -> str:
        return text

    with contextlib.ExitStack() as stack:
        try:
            sink = stack.enter_context(tempfile.TemporaryFile())
            _flush()
            saved = [os.dup(1), os.dup(2)]
        except OSError:  # no descriptors to redirect (an embedded interpreter): no logs
            yield collected
            return
        try:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            yield collected
        finally:
            _flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            size = sink.seek(0, os.SEEK_END)
            sink.seek(max(0, size - LOG_LIMIT))
            text = sink.read().decode("utf-8", "replace")


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()

"""Where steps run: one entry of :data:`EXECUTORS` per kind (``local``: worker processes on
this machine, ``ray``: tasks on a Ray cluster).

An :class:`Executor` is driven by one thread, the run's coordinator
(:mod:`shipyard.pipelines._runner`): ``submit`` a task, ``wait`` for finished ones, ``kill``
one past its timeout or cancelled. A step whose process dies comes back from ``wait`` as a
failed result naming the cause; the executor replaces what it lost.
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Protocol

from shipyard.errors import InvalidInput
from shipyard.pipelines._task import Task, TaskResult
from shipyard.pipelines._worker import BOOT, PARENT_ENV

__all__ = ["EXECUTORS", "Executor", "LocalExecutor", "make_executor"]


class Executor(Protocol):
    """Runs tasks somewhere. Driven by a single thread; never raises for a task's failure."""

    @property
    def slots(self) -> int:
        """How many tasks it runs at once (the coordinator submits no more)."""

    def submit(self, task: Task, cpus: float, memory: int | None) -> None:
        """Start a task (the node names it in results)."""

    def wait(self, timeout: float) -> list[TaskResult]:
        """The tasks that finished within ``timeout`` seconds (maybe none)."""

    def kill(self, node: str, why: str) -> TaskResult | None:
        """End a running task now; its failed result (None if it already finished)."""

    def close(self) -> None:
        """Stop every worker."""


@dataclass
class _Worker:
    process: subprocess.Popen[bytes]
    conn: Connection
    task: Task | None = None


class _Pool:
    """Idle workers kept between runs, by the settings and import path they started with
    (a worker's environment is fixed at its start): the next run with the same ones starts
    at once instead of paying for fresh interpreters. Workers end with this process."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self._lock = threading.Lock()
        self._idle: dict[tuple[Any, ...], list[_Worker]] = {}

    def take(self, key: tuple[Any, ...]) -> _Worker | None:
        with self._lock:
            workers = self._idle.get(key, [])
            while workers:
                worker = workers.pop()
                if worker.process.poll() is None:
                    return worker
                LocalExecutor._stop(worker)
        return None

    def give(self, key: tuple[Any, ...], worker: _Worker) -> None:
        """Keep an idle worker for the next run like this one; the workers kept for other
        settings end (one process rarely switches stores, and idle workers cost memory)."""
        ended: list[_Worker] = []
        with self._lock:
            for other in [k for k in self._idle if k != key]:
                ended += self._idle.pop(other)
            kept = self._idle.setdefault(key, [])
            if len(kept) < self.keep and worker.process.poll() is None:
                kept.append(worker)
            else:
                ended.append(worker)
        for stale in ended:
            LocalExecutor._stop(stale)

    def clear(self) -> None:
        with self._lock:
            workers = [w for kept in self._idle.values() for w in kept]
            self._idle.clear()
        for worker in workers:
            LocalExecutor._stop(worker)


POOL = _Pool(keep=max(2, os.cpu_count() or 1))
atexit.register(POOL.clear)


class LocalExecutor:
    """Steps in worker processes on this machine: fresh interpreters, taken from and given
    back to :data:`POOL`."""

    def __init__(self, workers: int | None = None, env: dict[str, str] | None = None) -> None:
        self.workers = workers if workers is not None else max(1, os.cpu_count() or 1)
        self.env = env
        self._idle: list[_Worker] = []
        self._busy: dict[str, _Worker] = {}
        self._key: tuple[Any, ...] | None = None

    @property
    def key(self) -> tuple[Any, ...]:
        """What a worker must have started with to serve this executor."""
        if self._key is None:
            env = sorted((self.env or os.environ).items())
            self._key = (tuple(env), tuple(sys.path))
        return self._key

    @property
    def slots(self) -> int:
        return self.workers

    def submit(self, task: Task, cpus: float, memory: int | None) -> None:
        worker = self._idle.pop() if self._idle else (POOL.take(self.key) or self._start())
        try:
            worker.conn.send_bytes(pickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL))
        except OSError:  # it died while idle: start another
            self._stop(worker)
            worker = self._start()
            worker.conn.send_bytes(pickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL))
        worker.task = task
        self._busy[task.node] = worker

    def wait(self, timeout: float) -> list[TaskResult]:
        if not self._busy:  # only retries waiting out their back-off: wait, do not spin
            time.sleep(timeout)
            return []
        by_conn = {w.conn: w for w in self._busy.values()}
        ready = wait(list(by_conn), timeout)
        results = []
        for conn in ready:
            worker = by_conn[conn]  # type: ignore[index]
            task = worker.task
            assert task is not None
            del self._busy[task.node]
            try:
                result: TaskResult = pickle.loads(worker.conn.recv_bytes())
            except (EOFError, OSError):
                results.append(_lost(task, self._death(worker)))
                self._stop(worker)
                continue
            worker.task = None
            self._idle.append(worker)
            results.append(result)
        return results

    def kill(self, node: str, why: str) -> TaskResult | None:
        worker = self._busy.pop(node, None)
        if worker is None or worker.task is None:
            return None
        task = worker.task
        self._stop(worker, group=True)
        return _lost(task, why)

    def close(self) -> None:
        for worker in self._busy.values():  # still running something: not reusable
            self._stop(worker, group=True)
        for worker in self._idle:
            POOL.give(self.key, worker)
        self._idle.clear()
        self._busy.clear()

    def _start(self) -> _Worker:
        parent, child = multiprocessing.Pipe()
        fd = child.fileno()
        env = dict(self.env if self.env is not None else os.environ)
        env[PARENT_ENV] = str(os.getpid())
        process = subprocess.Popen(
            [sys.executable, "-c", BOOT, str(fd), *sys.path],
            stdin=subprocess.DEVNULL,
            pass_fds=(fd,),
            env=env,
            # its own process group: what a step starts is killed with it (see _stop)
            start_new_session=True,
        )
        child.close()
        return _Worker(process, parent)

    @staticmethod
    def _death(worker: _Worker) -> str:
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.process.wait(timeout=2)
        code = worker.process.returncode
        if code is not None and code < 0:
            with contextlib.suppress(ValueError):
                return f"its process was killed by {signal.Signals(-code).name}"
        return f"its process ended (exit code {code})"

    @staticmethod
    def _stop(worker: _Worker, group: bool = False) -> None:
        """Kill a worker; with ``group``, the processes its step started too (a step killed
        for its timeout or a cancel leaves nothing running)."""
        if group and worker.process.returncode is None:
            with contextlib.suppress(OSError, AttributeError):  # no killpg on Windows
                os.killpg(worker.process.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            worker.process.kill()
        with contextlib.suppress(OSError):
            worker.conn.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.process.wait(timeout=5)


def _lost(task: Task, why: str) -> TaskResult:
    now = time.time()
    return TaskResult(task.node, task.attempt, False, now, now, error=f"Step failed: {why}.")


def _ray(workers: int | None, address: str | None, env: dict[str, str]) -> Executor:
    from shipyard.pipelines._executor_ray import RayExecutor

    executor: Executor = RayExecutor(workers, address, env)
    return executor


def _local(workers: int | None, address: str | None, env: dict[str, str]) -> Executor:
    if address is not None:
        raise InvalidInput("address is for the ray executor; the local one runs here.")
    return LocalExecutor(workers, env)


#: Each executor kind: (workers, address, environment of the steps) -> executor.
EXECUTORS: dict[str, Callable[[int | None, str | None, dict[str, str]], Executor]] = {
    "local": _local,
    "ray": _ray,
}


def make_executor(
    kind: str, workers: int | None, address: str | None, env: dict[str, str]
) -> Executor:
    """The executor called ``kind``.

    Raises:
        InvalidInput: an unknown kind (the known ones are listed) or bad workers.
    """
    factory = EXECUTORS.get(kind)
    if factory is None:
        raise InvalidInput(f"executor must be one of {sorted(EXECUTORS)}; got {kind!r}.")
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
    ):
        raise InvalidInput(f"workers must be a whole number >= 1; got {workers!r}.")
    return factory(workers, address, env)

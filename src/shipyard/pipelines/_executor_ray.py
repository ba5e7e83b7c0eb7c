"""Steps as Ray tasks: each attempt of a step is one task on a Ray cluster.

``address=None`` joins the cluster this process already uses (or ``RAY_ADDRESS``), else
starts a local one on 127.0.0.1 only, never one that ``ray start`` left on the machine
(once per process; later runs reuse it, and it ends with the process).
``"auto"``, ``"host:port"`` or ``"ray://host:10001"`` connect to a running cluster. A task
asks for the step's ``cpus`` and ``memory`` and is never retried by Ray (the coordinator
retries, with its back-off). The store settings (``SHIPYARD_*``) travel with each task and
are set in the Ray worker before the step runs. A worker that dies (SIGKILL, out of
memory, a lost node) comes back as a failed result naming the cause; a timeout or a cancel
ends the task with ``ray.cancel(force=True)``, which kills its worker.

Ray is an optional extra (``pip install "shipyard[ray]"``), imported here only.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
import sys
import time
from typing import Any

from shipyard.config import reset_settings
from shipyard.errors import InvalidInput
from shipyard.pipelines._task import Task, TaskResult, execute

__all__ = ["RayExecutor", "check_reachable", "connect"]

#: Set before Ray is imported when this process starts the cluster: every socket of a
#: local cluster then listens on 127.0.0.1 only.
LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
#: Seconds to wait for a cluster's port before giving up.
CONNECT_TIMEOUT = 5.0
#: The address this process joined Ray through (None: the local cluster it started).
_JOINED: list[str | None] = []
NEEDS_RAY = "executor='ray' needs Ray: pip install 'shipyard[ray]'."


def connect(address: str | None) -> Any:
    """The ``ray`` module, joined to a cluster: the one this process already uses, the one
    at ``address``, or (``None``) a new local one on 127.0.0.1.

    Raises:
        InvalidInput: Ray is not installed (naming the extra), or the cluster at
            ``address`` cannot be reached.
    """
    if address is None:
        for key, value in LOOPBACK_ENV.items():
            os.environ.setdefault(key, value)
    try:
        import ray
    except ImportError as exc:
        raise InvalidInput(NEEDS_RAY) from exc
    if ray.is_initialized():
        if address not in (None, "auto", *_JOINED):
            where = _JOINED[0] if _JOINED and _JOINED[0] else "a cluster of its own"
            raise InvalidInput(
                f"address: this process already runs on Ray ({where}) and cannot join "
                f"{address!r} too; run from another process."
            )
        return ray
    _JOINED[:] = [address]
    if address is None and os.environ.get("RAY_ADDRESS"):
        address = os.environ["RAY_ADDRESS"]  # a Ray job's driver: its cluster
    if address is None:
        # "local": a new cluster even when `ray start` left one (or its stale address) here
        _loopback_only()
        ray.init(
            address="local",
            include_dashboard=False,
            log_to_driver=False,
            _node_ip_address="127.0.0.1",
        )
        return ray
    check_reachable(address)
    try:
        ray.init(address=address, log_to_driver=False)
    except ConnectionError as exc:
        raise InvalidInput(f"address: no Ray cluster answers at {address!r} ({exc}).") from exc
    return ray


def check_reachable(address: str) -> None:
    """Fail in seconds when nothing listens at ``host:port`` (Ray itself retries for
    minutes); ``auto`` and other forms are Ray's to resolve."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit() or not host:
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT).close()
    except OSError as exc:
        raise InvalidInput(
            f"address: nothing answers at {address!r} ({exc}). Start the cluster "
            "(ray start --head) or give its address (host:port, ray://host:10001 or auto)."
        ) from None


def _loopback_only() -> None:
    """Ray reads ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`` when it is imported: when something
    imported it before, the processes it starts still see the variable, but this one's
    constant must be set too (or the cluster binds every interface)."""
    if os.environ.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER") != "0":
        return  # the user asked for a cluster others can join
    with contextlib.suppress(ImportError, AttributeError):
        from ray._private import ray_constants

        ray_constants.ENABLE_RAY_CLUSTER = False


def _attempt(task: Task, env: dict[str, str], path: list[str]) -> TaskResult:
    """One attempt inside a Ray worker: the store settings and import path of the
    coordinator first (a worker serves many runs), then the step."""
    sys.path[:0] = [p for p in path if p not in sys.path and os.path.isdir(p)]
    current = {k: v for k, v in os.environ.items() if k.startswith("SHIPYARD_")}
    if current != env:  # exactly the coordinator's settings, none left from another run
        for key in current.keys() - env.keys():
            del os.environ[key]
        os.environ.update(env)
        reset_settings()
    return execute(task)


def _failed(task: Task, why: str) -> TaskResult:
    now = time.time()
    return TaskResult(task.node, task.attempt, False, now, now, error=f"Step failed: {why}.")


class RayExecutor:
    """Steps as tasks on a Ray cluster (see the module docstring). The cluster is joined
    on first use, not here."""

    def __init__(self, workers: int | None, address: str | None, env: dict[str, str]) -> None:
        if importlib.util.find_spec("ray") is None:
            raise InvalidInput(NEEDS_RAY)
        self.workers = workers
        self.address = address
        self.env = {k: v for k, v in env.items() if k.startswith("SHIPYARD_")}
        self._ray: Any = None
        self._remote: Any = None
        self._cpus = 1.0
        self._running: dict[str, tuple[Any, Task]] = {}  # node -> (object ref, task)
        self._ready: list[TaskResult] = []  # failed before they reached Ray

    def _joined(self) -> Any:
        if self._ray is None:
            ray = connect(self.address)
            self._cpus = float(ray.cluster_resources().get("CPU", 1.0))
            self._remote = ray.remote(_attempt)
            self._ray = ray
        return self._ray

    @property
    def slots(self) -> int:
        self._joined()
        return self.workers if self.workers is not None else max(1, int(self._cpus))

    def submit(self, task: Task, cpus: float, memory: int | None) -> None:
        self._joined()
        if self.address is None and cpus > self._cpus:
            why = f"it asks for {cpus:g} CPUs and the local Ray cluster has {self._cpus:g}"
            self._ready.append(_failed(task, why))
            return
        options: dict[str, Any] = {"num_cpus": cpus, "max_retries": 0}
        if memory is not None:
            options["memory"] = memory
        # a cluster on this machine imports the steps' modules from where this process does
        path = list(sys.path) if self.address is None else []
        ref = self._remote.options(**options).remote(task, self.env, path)
        self._running[task.node] = (ref, task)

    def wait(self, timeout: float) -> list[TaskResult]:
        results, self._ready = self._ready, []
        if not self._running:
            if not results:
                time.sleep(timeout)
            return results
        ray = self._joined()
        refs = [ref for ref, _ in self._running.values()]
        done, rest = ray.wait(refs, num_returns=1, timeout=0 if results else timeout)
        if done and rest:
            more, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
            done += more
        finished = {ref: node for node, (ref, _) in self._running.items() if ref in done}
        for ref, node in finished.items():
            _, task = self._running.pop(node)
            results.append(self._result(ray, ref, task))
        return results

    @staticmethod
    def _result(ray: Any, ref: Any, task: Task) -> TaskResult:
        try:
            result: TaskResult = ray.get(ref)
        except ray.exceptions.WorkerCrashedError as exc:
            return _failed(task, f"its Ray worker died while running it ({_first(exc)})")
        except ray.exceptions.OutOfMemoryError as exc:
            return _failed(task, f"Ray killed it: the node ran low on memory ({_first(exc)})")
        except ray.exceptions.TaskCancelledError:
            return _failed(task, "its Ray task was cancelled")
        except ray.exceptions.RayError as exc:
            return _failed(task, f"Ray could not run it ({type(exc).__name__}: {_first(exc)})")
        return result

    def kill(self, node: str, why: str) -> TaskResult | None:
        entry = self._running.pop(node, None)
        if entry is None:
            return None
        ref, task = entry
        with contextlib.suppress(Exception):  # it may have just finished
            self._ray.cancel(ref, force=True)
        return _failed(task, why)

    def close(self) -> None:
        """Cancel what still runs; the cluster stays up for the next run of this process."""
        for node in list(self._running):
            self.kill(node, "closed")
        self._ready.clear()


def _first(exc: BaseException) -> str:
    """The first sentence of an exception's message."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.split(". ")[0].rstrip(".")

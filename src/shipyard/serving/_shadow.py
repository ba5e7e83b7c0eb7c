"""Shadow copies: every answered request's copy to the shadow routes, bounded and shed.

A deployment with the ``shadow`` policy sends a copy of each answered request to its other
routes; their answers are compared with the one returned and logged, never returned. That
work must never slow the answers nor the watcher that applies deployment changes, so:

- **Bounded.** :meth:`ShadowQueue.offer` appends the copy (route, exact version, the
  request's parsed input, the labels returned, request id, whether it is logged) to a
  queue of at most ``capacity`` copies and ``max_rows`` rows; when it is full the copy is
  dropped and its rows counted (``shipyard_shadow_dropped``). Memory stays bounded whatever
  the shadow's speed: a slow shadow sheds copies, it does not pile up tasks.
- **Batched.** One sender task drains the queue, many copies per model call (as the
  batcher joins requests), one batch in flight at a time: a shadow that costs 20 ms a call
  costs 20 ms per batch, not per request.
- **Out of the server's GIL, at a lower priority.** The batch runs in a child process
  (``_shadow_worker``) whose priority is lowered (``nice``): a CPU-bound Python model in a
  thread took the GIL from the answering path (throughput fell tenfold), and a thread's
  priority cannot be lowered against the GIL. Under CPU contention the answers win and the
  queue sheds instead. The child is reached from one thread of its own, so the default
  executor (where the watcher loads models and reads the store) never waits behind it.
- **On a budget.** After each batch the sender pauses as long as the CPU time the batch
  took (``share`` 0.5): the child uses at most half a core, whatever the scheduler does (a
  shadow that waits, on a device or a remote call, is not held back). ``nice``
  alone still let a CPU-bound shadow double the answers' p99 at full load on two cores
  (the child filled every gap the server left and had to be preempted); with the budget,
  copies the shadow cannot take in its half are shed.

The child compares each copy's labels with the answer returned and logs its rows
(``shadow=True``, when the answer was logged) through its own inference-log writer; back on
the event loop only counts arrive, added to the route's ``RouteStats`` (requests, errors,
model time) and to ``shipyard_shadow_rows`` (agree, differ, error). The child starts with
the first copy and stops with the service (writing the log rows it holds), or when the
deployment has had no shadow route for ``idle`` seconds; a child that dies is started again
and its batch counted as errors (its unwritten log rows are lost). A store a
child cannot see (``memory://``) runs shadow batches in the server's process instead (still
bounded, still off the default executor, but sharing the GIL).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

from shipyard.serving._log import InferenceLog
from shipyard.serving._router import Router
from shipyard.serving._shadow_worker import (
    Group,
    InProcess,
    Result,
    Runner,
    ShadowWorker,
    WorkerLost,
)
from shipyard.serving._watch import Served

__all__ = ["ShadowQueue"]

Record = Callable[[str, Sequence[float], int], None]  # route, answered copies' seconds, failed

log = logging.getLogger("shipyard.serving")


class _Copy(NamedTuple):  # a tuple: made on every answered request
    route: str
    ref: str  # the shadow's exact version when the copy was made
    model: str
    version: int
    raw: dict[str, Any]
    answered: Any  # the labels returned to the client
    request_id: str
    logged: bool
    rows: int


def child_env() -> dict[str, str] | None:
    """The store settings a child process needs, or None when it cannot have them (an
    in-memory store)."""
    from shipyard.config import get_settings

    settings = get_settings()
    urls = (settings.db_url, settings.artifacts_url)
    if any(url.startswith("memory://") for url in urls):
        return None
    return {
        "SHIPYARD_HOME": str(settings.home),
        "SHIPYARD_DB_URL": settings.db_url,
        "SHIPYARD_ARTIFACTS_URL": settings.artifacts_url,
    }


class ShadowQueue:
    """The shadow copies of one service (see the module docstring). Runs on the service's
    event loop (not thread-safe). ``runner`` is made on first use unless given."""

    def __init__(
        self,
        served: Served,
        log: InferenceLog | None,
        record: Record,
        *,
        capacity: int = 1024,
        max_rows: int = 65_536,
        batch: int = 256,
        idle: float = 10.0,
        share: float = 0.5,
        runner: Runner | None = None,
    ) -> None:
        self.served = served
        self.record = record  # counts answered and failed copies (the service's Pool)
        self.log = log
        self.capacity = capacity
        self.max_rows = max_rows
        self.batch = batch
        self.idle = idle
        self.share = share  # of one core, at most, the shadow's CPU time
        self.runner = runner
        self._copies: deque[_Copy] = deque()
        self._rows = 0
        self._wake = asyncio.Event()
        self._sender: asyncio.Task[None] | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._dropped: dict[str, Any] = {}
        self._busy = False  # a batch is in flight
        self._settled = False  # a batch has come back (the child is up)

    @property
    def queued(self) -> int:
        """Copies waiting (not counting a batch in flight)."""
        return len(self._copies)

    def offer(self, router: Router, request_id: str, raw: Any, answered: Any, logged: bool) -> None:
        """Queue a copy of an answered request for each of the router's shadow routes, or
        drop and count it when the queue is full."""
        if not router.shadows:
            return
        rows = len(answered)
        for route in router.shadows:
            active = router.slots[route].active
            if active is None:
                continue
            if len(self._copies) >= self.capacity or self._rows + rows > self.max_rows:
                self._drop(route, rows)
                continue
            ref = str(active.model.version.ref)
            copy = _Copy(route, ref, active.name, active.version, raw, answered, request_id,
                         logged, rows)  # fmt: skip
            self._copies.append(copy)
            self._rows += rows
        if self._copies:
            self._wake.set()
            if self._sender is None:
                self._sender = asyncio.create_task(self._send())
                gauge = self.served.metrics.shadow_queued.labels(self.served.name)
                gauge.set_function(lambda: len(self._copies))  # read when scraped

    def _drop(self, route: str, rows: int) -> None:
        counter = self._dropped.get(route)
        if counter is None:
            counter = self.served.metrics.shadow_dropped.labels(self.served.name, route)
            self._dropped[route] = counter
        counter.inc(rows)

    async def stop(self, drain: float = 5.0, starting: float = 60.0) -> None:
        """Send what is queued while the child keeps taking it (until ``drain`` seconds pass
        without a batch sent, or ``starting`` while the child has not answered yet: a
        short-lived server's copies would otherwise all be lost to the child's start, or to
        a slow machine), then stop sending and end the child; copies still queued then are
        dropped uncounted."""
        began, seen = time.monotonic(), (len(self._copies), self._busy)
        while self._sender is not None and (self._copies or self._busy):
            now = time.monotonic()
            state = (len(self._copies), self._busy)
            if state[0] < seen[0] or state[1] != seen[1]:  # a batch went out or came back
                began = now  # the wait starts again (new copies arriving do not count)
            seen = state
            if now - began > (drain if self._settled else max(drain, starting)):
                break
            await asyncio.sleep(0.02)
        sender, self._sender = self._sender, None
        if sender is not None:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
        if self.runner is not None:
            await asyncio.to_thread(self.runner.kill)
        if self._thread is not None:
            self._thread.shutdown(wait=False)
            self._thread = None
        self._copies.clear()
        self._rows = 0

    # -- the sender ----------------------------------------------------------------------
    def _wanted(self) -> bool:
        router = self.served.router
        return router is not None and bool(router.shadows)

    async def _send(self) -> None:
        """Batches to the runner, one at a time, until the deployment has had no shadow
        route for ``idle`` seconds (then the child ends)."""
        loop = asyncio.get_running_loop()
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="shipyard-shadow")
        if self.runner is None:
            env = child_env()
            self.runner = InProcess(self.log) if env is None else ShadowWorker(env, self.log)
        runner, thread = self.runner, self._thread
        while True:
            if not self._copies:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), self.idle)
                except asyncio.TimeoutError:
                    if not self._copies and not self._wanted():
                        break
                    continue
            groups, members = self._groups(self._take())
            self._busy = True
            try:
                results = await loop.run_in_executor(thread, runner.run, groups)
            except Exception as exc:  # a lost child (WorkerLost), or a bug: not for good
                if not isinstance(exc, WorkerLost):
                    log.exception("shadow batch of %s failed", self.served.name)
                log.warning("shadow copies of %s lost: %s", self.served.name, exc)
                results = [Result.failed(len(g.inputs), str(exc)) for g in groups]
            finally:
                self._busy = False
            self._settled = True
            for copies, result in zip(members, results, strict=True):
                self._settle(copies, result)
                await asyncio.sleep(0)  # answers go first between groups
            cpu = sum(result.cpu for result in results)
            await asyncio.sleep(cpu * (1 - self.share) / self.share)  # the CPU budget
        self._sender = None
        await loop.run_in_executor(thread, runner.kill)

    def _take(self) -> list[_Copy]:
        batch: list[_Copy] = []
        while self._copies and len(batch) < self.batch:
            copy = self._copies.popleft()
            self._rows -= copy.rows
            batch.append(copy)
        return batch

    def _groups(self, batch: list[_Copy]) -> tuple[list[Group], list[list[_Copy]]]:
        """The batch by route and model version: one model call each."""
        by_key: dict[tuple[str, str], list[_Copy]] = {}
        for copy in batch:
            by_key.setdefault((copy.route, copy.ref), []).append(copy)
        fmt = self.served.format
        groups = []
        for (route, ref), copies in by_key.items():
            first = copies[0]
            inputs: list[Mapping[str, Any]] = [c.raw for c in copies]
            answered, ids = [c.answered for c in copies], [c.request_id for c in copies]
            logged = [c.logged for c in copies]
            groups.append(Group(route, ref, first.model, first.version, fmt, inputs, answered,
                                ids, logged))  # fmt: skip
        return groups, list(by_key.values())

    def _settle(self, copies: list[_Copy], result: Result) -> None:
        """One group's result (one route): statistics, agree/differ/error."""
        route = copies[0].route
        answered = [i for i, error in enumerate(result.errors) if error is None]
        failed = len(copies) - len(answered)
        self.record(route, [result.seconds[i] for i in answered], failed)
        agree, rows = sum(result.agree), sum(result.rows)
        shadow, name = self.served.metrics.shadow, self.served.name
        for kind, count in (("agree", agree), ("differ", rows - agree), ("error", failed)):
            if count:
                shadow.labels(name, route, kind).inc(count)
        if failed:
            first = next(e for e in result.errors if e is not None)
            log.debug("shadow %s failed on %d copies: %s", route, failed, first)

"""A service's share of its deployment's pooled evidence: the live view, what it owes the
store, and the sync task.

Every answered or failed request is counted twice at once: in the live view
(``Served.stats``: what the bandit chooses by and the judges read) and in the pending
deltas of its ``(route, period)``. Feedback for a request this process answered is counted
in the view at once, provisionally; all feedback is pushed and credited by the store,
whoever answered. Every ``interval`` seconds (``SHIPYARD_EVIDENCE_SYNC``), or at once after
a failed request, :meth:`Pool.sync` swaps the pending batch for an empty one, pushes it, and
pulls the pooled totals of the current period; the view becomes those totals plus what
arrived since the swap (deltas and provisional feedback), so nothing is counted twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from shipyard.serving._evidence import (
    Batch,
    EvidenceStore,
    Feedback,
    Key,
    Stamp,
    credit,
    value_key,
)
from shipyard.serving._router import Router, Ticket, Tickets
from shipyard.serving._stats import RouteStats
from shipyard.serving._watch import Served

__all__ = ["Pool"]

log = logging.getLogger("shipyard.serving")

_MAX_ID = 128  # longer request ids are stored by their hash


def _stats_of(table: dict[Any, RouteStats], key: Any) -> RouteStats:
    """``table[key]``, a new RouteStats put there first when absent (``setdefault`` would
    build one, with its histogram, on every call: this runs on every request)."""
    found = table.get(key)
    if found is None:
        found = table[key] = RouteStats()
    return found


def stored_id(request_id: str) -> str:
    """The id a request's ticket is stored under (long ids by their SHA-256)."""
    if len(request_id) <= _MAX_ID:
        return request_id
    return "sha256:" + hashlib.sha256(request_id.encode()).hexdigest()


class Pool:
    """The live view and pending evidence of one service (see the module docstring). Runs
    on the service's event loop; the store is called from worker threads."""

    def __init__(
        self, served: Served, store: EvidenceStore, interval: float = 0.2, *, shared: bool = True
    ) -> None:
        self.served = served
        self.store = store
        self.interval = interval
        self.shared = shared  # whether other services pool into the same store
        self.tickets = Tickets()
        self.on_sync: Callable[[], None] | None = None  # run after each sync, even failed
        self._batch = Batch()
        self._fresh: dict[Key, RouteStats] = {}  # provisional feedback since the swap
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._error: str | None = None

    def _deployment(self, router: Router) -> str:
        return router.revision[0] or self.served.name

    def _view(self, router: Router, route: str) -> RouteStats | None:
        """The live statistics of ``route`` when ``router`` answers in the current period."""
        current = self.served.router
        if current is None or current.period != router.period:
            return None
        return _stats_of(self.served.stats, route)

    # -- counting ------------------------------------------------------------------------
    def answered(
        self, router: Router, route: str, request_id: str, ticket: Ticket, seconds: float
    ) -> None:
        """A request ``route`` answered (its model call took ``seconds``)."""
        delta = _stats_of(self._batch.deltas, (route, router.period))
        delta.requests += 1
        delta.model_time.add(seconds)
        view = self._view(router, route)
        if view is not None:
            view.requests += 1
            view.model_time.add(seconds)
        stored = stored_id(request_id)  # a long id (a header's) is not kept whole
        self.tickets.add(stored, ticket)
        stamp = Stamp(route, router.period, value_key(ticket.prediction))
        self._batch.tickets.append((stored, stamp))

    def shadowed(self, route: str, seconds: Sequence[float], failed: int) -> None:
        """Shadow copies of ``route``: those answered (each one's model-call ``seconds``)
        and ``failed``, counted like answers without tickets (their answers were never
        returned), in the period of the router answering now."""
        router = self.served.router
        if router is None:
            return
        delta = self._batch.deltas.setdefault((route, router.period), RouteStats())
        view = self._view(router, route)
        for stats in (delta,) if view is None else (delta, view):
            stats.errors += failed
            stats.requests += len(seconds)
            stats.model_time.add_many(np.asarray(seconds, dtype=float))

    def failed(self, router: Router, route: str) -> None:
        """A request the model failed on ``route``: counted, and the next sync starts now."""
        self._batch.deltas.setdefault((route, router.period), RouteStats()).errors += 1
        view = self._view(router, route)
        if view is not None:
            view.errors += 1
        if self._wake is not None:
            self._wake.set()

    async def feedback(self, items: Sequence[dict[str, Any]]) -> int:
        """Record labels and rewards (checked items); how many name a request answered here
        or by another worker or replica (looked up in the store, waiting up to three sync
        intervals for tickets not yet pushed). Feedback for a ticket found later still
        counts when it arrives."""
        matched, missing = 0, []
        for item in items:
            label, reward = item.get("label"), item.get("reward")
            request_id = item["id"]
            stored = stored_id(request_id)
            self._batch.feedback.append(
                Feedback(
                    stored,
                    None if label is None else value_key(label),
                    None if reward is None else float(reward),
                )
            )
            ticket = self.tickets.get(stored)
            if ticket is None:
                missing.append(request_id)
                continue
            matched += 1
            self._provisional(stored, ticket, label, reward)
        if missing and self.shared:
            found = await self._find(sorted(set(missing)))
            matched += sum(1 for request_id in missing if request_id in found)
        return matched

    def _provisional(self, request_id: str, ticket: Ticket, label: Any, reward: Any) -> None:
        tickets = self.tickets
        if label is not None and request_id not in tickets.labelled:
            tickets.labelled.add(request_id)
        else:
            label = None
        if reward is not None and request_id not in tickets.rewarded:
            tickets.rewarded.add(request_id)
        else:
            reward = None
        if label is None and reward is None:
            return
        key = (ticket.route, ticket.period)
        label_key = None if label is None else value_key(label)
        prediction = value_key(ticket.prediction)
        reward = None if reward is None else float(reward)
        credit(self._fresh.setdefault(key, RouteStats()), prediction, label_key, reward)
        current = self.served.router
        if current is not None and current.period == ticket.period:
            view = self.served.stats.setdefault(ticket.route, RouteStats())
            credit(view, prediction, label_key, reward)

    async def _find(self, ids: list[str]) -> set[str]:
        router = self.served.router
        if router is None:
            return set()
        deployment, wanted = self._deployment(router), {stored_id(i): i for i in ids}
        deadline = time.monotonic() + 3 * self.interval
        found: set[str] = set()
        while True:
            keys = sorted(set(wanted) - found)
            got = await asyncio.to_thread(self.store.lookup, deployment, keys)
            found.update(got)
            if len(found) == len(wanted) or time.monotonic() >= deadline:
                return {wanted[i] for i in found}
            await asyncio.sleep(self.interval / 2)

    # -- syncing -------------------------------------------------------------------------
    def start(self) -> None:
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop syncing; push what is pending."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await self.sync()

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()
            try:
                await self.sync()
                self._error = None
            except Exception as exc:
                if str(exc) != self._error:
                    log.error("could not pool the evidence of %s: %s", self.served.name, exc)
                self._error = str(exc)
            if self.on_sync is not None:
                self.on_sync()

    async def sync(self) -> None:
        """Push what is pending; set the view to the pooled totals of the current period
        plus what arrived meanwhile."""
        router = self.served.router
        if router is None:
            return
        batch, fresh = self._batch, self._fresh
        self._batch, self._fresh = Batch(), {}
        keys = [(route, router.period) for route in router.routes]
        try:
            totals = await asyncio.to_thread(self._exchange, self._deployment(router), batch, keys)
        except BaseException:
            batch.absorb(self._batch)  # pushed next time, before what came since
            self._batch = batch
            for key, stats in fresh.items():
                self._fresh.setdefault(key, RouteStats()).merge(stats)
            raise
        current = self.served.router
        if current is None or current.period != router.period:
            return  # the period moved on meanwhile: the next sync pulls the new one
        for key, pooled in totals.items():
            view = self.served.stats.setdefault(key[0], RouteStats())
            view.reset()
            view.merge(pooled)
            for since in (self._batch.deltas.get(key), self._fresh.get(key)):
                if since is not None:
                    view.merge(since)

    def _exchange(self, deployment: str, batch: Batch, keys: list[Key]) -> dict[Key, RouteStats]:
        if not batch.empty:
            self.store.push(deployment, batch)
        return self.store.totals(deployment, keys)

"""Routing requests among a deployment's routes, by its policy, and what each route did.

A :class:`Router` is immutable once built: a change of routes or policy builds a new one
(its models loaded and warmed first) and the server swaps it in with one assignment.
Statistics (requests, errors, latencies, labels, rewards) live in :class:`RouteStats`, which
outlive routers, so a canary step or a bandit's posterior survive a reload. Which route
answers, and which get shadow copies, is the policy's call (``serving.policies``).
"""

from __future__ import annotations

import hashlib
import random
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from shipyard.serving._slot import Slot
from shipyard.serving._stats import RouteStats
from shipyard.serving.policies import RolloutPolicy, policy_of

__all__ = ["RouteStats", "Router", "Ticket", "Tickets"]

STICKY_BUCKETS = 10_000


class Ticket(NamedTuple):
    """Where a request went: kept by request id so feedback finds its route and answer.

    A tuple of plain values, so the garbage collector stops tracking it: a server keeps
    100,000 of these, and as tracked objects they made every full collection ~100 ms."""

    route: str
    model: str
    version: int
    prediction: Any
    period: str = ""  # the evidence period it was answered in (``Router.period``)


class Router:
    """The routes of a deployment (or of one model), their slots and the policy.

    ``period`` names the evidence period the router answers in (the policy's epoch and the
    revision it began at; ``serving._evidence``): statistics and tickets are kept under it."""

    def __init__(
        self,
        name: str,
        slots: Mapping[str, Slot],
        models: Mapping[str, str],
        weights: Mapping[str, float],
        policy: Mapping[str, Any],
        revision: tuple[str, int],
        stats: dict[str, RouteStats],
        seed: int | None = None,
        period: str = "",
    ) -> None:
        self.name = name
        self.slots = dict(slots)
        self.models = dict(models)  # route -> model reference
        self.weights = {r: float(weights.get(r, 0.0)) for r in self.slots}
        self.policy = dict(policy)
        self.revision = revision
        self.stats = stats
        self.period = period
        for route in self.slots:
            stats.setdefault(route, RouteStats())
        self.random = random.Random(seed)
        self.rollout: RolloutPolicy = policy_of(self.policy)
        self._routes = [r for r in self.slots if self.weights[r] > 0]
        total = sum(self.weights[r] for r in self._routes)
        self._cumulative = (
            np.cumsum([self.weights[r] / total for r in self._routes]) if total else np.array([])
        )
        self.shadows = self.rollout.shadows(self.policy, list(self.slots))

    def decided(self, weights: Mapping[str, float], policy: Mapping[str, Any]) -> Router:
        """This router with a decision's split and policy, before the store has it (the
        breaker's: traffic leaves a failing route at once); same slots, revision, period."""
        return Router(
            self.name, self.slots, self.models, weights, policy, self.revision, self.stats,
            period=self.period,
        )  # fmt: skip

    @property
    def ready(self) -> bool:
        return all(slot.ready for slot in self.slots.values())

    @property
    def routes(self) -> list[str]:
        """Every route, in the deployment's order."""
        return list(self.slots)

    @property
    def sticky(self) -> str | None:
        """The request field or header whose value pins a route (the policy's), if any."""
        return self.rollout.sticky(self.policy)

    def choose(self, key: str | None = None) -> str:
        """The route that answers this request (the policy decides)."""
        return self.rollout.choose(self.policy, self, key)

    def weighted(self, key: str | None) -> str:
        """A route by the split: by ``key``'s hash when given (the same key, the same
        route), else at random."""
        if len(self._routes) == 1:
            return self._routes[0]
        if key is not None:
            digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
            point = (int.from_bytes(digest, "big") % STICKY_BUCKETS) / STICKY_BUCKETS
        else:
            point = self.random.random()
        index = int(np.searchsorted(self._cumulative, point, side="right"))
        return self._routes[min(index, len(self._routes) - 1)]


class Tickets:
    """Recent requests' tickets by request id (bounded), and which of them have had their
    label and reward counted (one each per request, however often posted)."""

    def __init__(self, size: int = 100_000) -> None:
        self.size = size
        self._items: OrderedDict[str, Ticket] = OrderedDict()
        self.labelled: set[str] = set()
        self.rewarded: set[str] = set()

    def add(self, request_id: str, ticket: Ticket) -> None:
        self._items[request_id] = ticket
        if len(self._items) > self.size:
            gone, _ = self._items.popitem(last=False)
            self.labelled.discard(gone)
            self.rewarded.discard(gone)

    def get(self, request_id: str) -> Ticket | None:
        return self._items.get(request_id)

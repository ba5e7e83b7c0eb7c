"""Routing requests among a deployment's routes, by its policy, and what each route did.

A :class:`Router` is immutable once built: a change of routes or policy builds a new one
(its models loaded and warmed first) and the server swaps it in with one assignment.
Statistics (requests, errors, latencies, labels, rewards) live in :class:`RouteStats`, which
outlive routers, so a canary step or a bandit's posterior survive a reload.
"""

from __future__ import annotations

import hashlib
import random
from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from shipyard.serving._slot import Slot

__all__ = ["RouteStats", "Router", "Ticket"]

STICKY_BUCKETS = 10_000
LATENCY_WINDOW = 2_000  # latencies kept per route for p99


@dataclass
class RouteStats:
    """What one route did since its step (canary) or since the server started."""

    requests: int = 0
    errors: int = 0
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW))
    labelled: int = 0
    correct: float = 0.0
    rewards: float = 0.0
    rewarded: int = 0

    def p99(self) -> float | None:
        return (
            float(np.percentile(np.fromiter(self.latencies, float), 99)) if self.latencies else None
        )

    def accuracy(self) -> float | None:
        return self.correct / self.labelled if self.labelled else None

    def reset(self) -> None:
        self.requests = self.errors = self.labelled = 0
        self.correct = 0.0
        self.latencies.clear()


class Ticket(NamedTuple):
    """Where a request went: kept by request id so feedback finds its route and answer.

    A tuple of plain values, so the garbage collector stops tracking it: a server keeps
    100,000 of these, and as tracked objects they made every full collection ~100 ms."""

    route: str
    model: str
    version: int
    prediction: Any


class Router:
    """The routes of a deployment (or of one model), their slots and the policy."""

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
    ) -> None:
        self.name = name
        self.slots = dict(slots)
        self.models = dict(models)  # route -> model reference
        self.weights = {r: float(weights.get(r, 0.0)) for r in self.slots}
        self.policy = dict(policy)
        self.revision = revision
        self.stats = stats
        for route in self.slots:
            stats.setdefault(route, RouteStats())
        self.random = random.Random(seed)
        self._routes = [r for r in self.slots if self.weights[r] > 0]
        total = sum(self.weights[r] for r in self._routes)
        self._cumulative = (
            np.cumsum([self.weights[r] / total for r in self._routes]) if total else np.array([])
        )
        kind = self.policy.get("kind", "fixed")
        self.shadows = (
            [r for r in self.slots if r != self.policy["primary"]] if kind == "shadow" else []
        )

    @property
    def ready(self) -> bool:
        return all(slot.ready for slot in self.slots.values())

    def choose(self, key: str | None = None) -> str:
        """The route that answers this request."""
        kind = self.policy.get("kind", "fixed")
        if kind == "bandit":
            return self._bandit()
        if kind == "shadow":
            return str(self.policy["primary"])
        if len(self._routes) == 1:
            return self._routes[0]
        if key is not None and kind == "fixed" and self.policy.get("sticky"):
            digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
            point = (int.from_bytes(digest, "big") % STICKY_BUCKETS) / STICKY_BUCKETS
        else:
            point = self.random.random()
        index = int(np.searchsorted(self._cumulative, point, side="right"))
        return self._routes[min(index, len(self._routes) - 1)]

    def _bandit(self) -> str:
        routes = list(self.slots)
        if self.policy.get("algorithm") == "epsilon_greedy":
            if self.random.random() < float(self.policy.get("epsilon", 0.1)):
                return self.random.choice(routes)
            means = [
                (s.rewards / s.rewarded) if (s := self.stats[r]).rewarded else 1.0 for r in routes
            ]  # untried routes look best, so each is tried
            return routes[int(np.argmax(means))]
        draws = [
            self.random.betavariate(1 + s.rewards, 1 + s.rewarded - s.rewards)
            for s in (self.stats[r] for r in routes)
        ]
        return routes[int(np.argmax(draws))]


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

"""Rollout evidence pooled by every worker and replica of a deployment.

A deployment may be served by several uvicorn workers (``--workers N``) and several
servers. Each answers its own requests, yet a canary's judge, a bandit's arms and
``/feedback`` need what *all* of them saw: a label posted to one process must count for
a request another answered, once, and in the evidence period (a canary's step) the
request was answered in. An :class:`EvidenceStore` holds that shared evidence:

- **counts** per ``(route, period)``: :class:`~shipyard.serving._stats.RouteStats` deltas
  added by :meth:`~EvidenceStore.push` (counts, sums and a histogram: they add up);
- **tickets**: which route, period and prediction answered each request id;
- **feedback** (labels, rewards) by request id, resolved *in the store* against the ticket,
  whichever process holds it: a label is credited once per request (the first one posted)
  to the ticket's own ``(route, period)``, correct when it equals the prediction. Feedback
  that arrives before its ticket waits for it.

A *period* is the policy's epoch (``RolloutPolicy.epoch``: a canary's step and status,
"" for policies without one) prefixed by the deployment revision it began at
(:meth:`~EvidenceStore.begin`), so a canary tried again starts from nothing rather than
from the evidence of the one rolled back. One push (counts, tickets, feedback) is applied
atomically: one Lua script in Redis, one transaction in SQL.

Backends: :class:`InProcessEvidence` (one process: a single model reference),
``RedisEvidence`` (``SHIPYARD_REDIS_URL``; tickets expire) and ``SqlEvidence`` (the
metadata store, SQLite or PostgreSQL; tickets pruned by age and number). The service side
(``serving._pool``) keeps a live view and pushes and pulls every ``evidence_sync`` seconds.
The contract every backend passes is ``shipyard.testing.evidence``.
"""

from __future__ import annotations

import abc
import math
import threading
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from shipyard.serving._stats import TIME_BUCKETS, RouteStats

__all__ = [
    "Batch",
    "EvidenceStore",
    "Feedback",
    "InProcessEvidence",
    "Key",
    "Stamp",
    "counts_of",
    "credit",
    "stats_of",
    "value_key",
]

Key = tuple[str, str]  # (route, period)

#: Seconds a ticket is kept for feedback to find (an hour), and at most this many per
#: deployment (SQL; Redis keys expire by age only: ~200 bytes a request).
TICKET_TTL = 3_600.0
MAX_TICKETS = 1_000_000
MAX_PENDING = 100_000  # tickets (and feedback items) a process holds while the store is away


@dataclass(frozen=True)
class Stamp:
    """A ticket as stored: where a request was answered and its prediction's
    :func:`value_key`."""

    route: str
    period: str
    prediction: str


@dataclass(frozen=True)
class Feedback:
    """A label (its :func:`value_key`) and/or a reward posted for a request id."""

    request_id: str
    label: str | None
    reward: float | None


@dataclass
class Batch:
    """What one process pushes at once: count deltas, new tickets, feedback."""

    deltas: dict[Key, RouteStats] = field(default_factory=dict)
    tickets: list[tuple[str, Stamp]] = field(default_factory=list)
    feedback: list[Feedback] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.tickets and not self.feedback and all(d.empty for d in self.deltas.values())

    def absorb(self, later: Batch, keep: int = MAX_PENDING) -> None:
        """Add ``later`` to this batch (a failed push is retried with what came since),
        keeping the newest ``keep`` tickets and feedback items while the store is away."""
        for key, stats in later.deltas.items():
            self.deltas.setdefault(key, RouteStats()).merge(stats)
        self.tickets = (self.tickets + later.tickets)[-keep:]
        self.feedback = (self.feedback + later.feedback)[-keep:]


def value_key(value: Any) -> str:
    """A label or prediction as text such that two keys are equal exactly when the values
    are (as Python compares them: ``1 == 1.0 == True``; ``"1" != 1``)."""
    if isinstance(value, (bool, int, float)):
        number = float(value)
        return "n:" + (repr(number) if math.isfinite(number) else str(number))
    if isinstance(value, str):
        return "s:" + value
    return "j:" + orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def credit(stats: RouteStats, prediction: str, label: str | None, reward: float | None) -> None:
    """Count one request's label (correct when it equals the prediction) and/or reward."""
    if label is not None:
        stats.labelled += 1
        stats.correct += float(label == prediction)
    if reward is not None:
        stats.rewarded += 1
        stats.rewards += reward
        stats.rewards_sq += reward * reward


def counts_of(stats: RouteStats) -> dict[str, float]:
    """The non-zero fields of ``stats`` by name, model time buckets as ``t<index>``."""
    out = {k: float(v) for k, v in stats.to_json().items() if k != "model_time" and v}
    out.update({f"t{i}": float(n) for i, n in stats.model_time.to_json().items()})
    return out


def stats_of(counts: Mapping[str, Any]) -> RouteStats:
    """The inverse of :func:`counts_of` (unknown names are ignored)."""
    times = {k[1:]: int(float(v)) for k, v in counts.items() if k.startswith("t")}
    scalars = {k: float(v) for k, v in counts.items() if not k.startswith("t")}
    stats = RouteStats.from_json({**scalars, "model_time": times})
    assert stats.model_time.counts.shape == (TIME_BUCKETS,)
    return stats


def period_of(start: int, epoch: str) -> str:
    return f"{start}:{epoch}"


class EvidenceStore(abc.ABC):
    """Where the workers and replicas of deployments pool their evidence (see the module
    docstring). Thread- and process-safe; ``deployment`` is a deployment's id (or a served
    name). Raises :class:`~shipyard.errors.ShipyardError` when the backend is unreachable."""

    @abc.abstractmethod
    def push(self, deployment: str, batch: Batch) -> None:
        """Apply ``batch`` atomically: add the deltas, store the tickets, record the
        feedback and credit every request that now has both a ticket and uncounted
        feedback (once per request: the first label and the first reward posted)."""

    @abc.abstractmethod
    def totals(self, deployment: str, keys: Collection[Key]) -> dict[Key, RouteStats]:
        """The pooled statistics of each key (an empty RouteStats for a key never pushed)."""

    @abc.abstractmethod
    def lookup(self, deployment: str, ids: Sequence[str]) -> dict[str, Key]:
        """``(route, period)`` of each id among ``ids`` that has a ticket."""

    @abc.abstractmethod
    def begin(self, deployment: str, epoch: str, revision: int) -> str:
        """The period of ``epoch`` seen at ``revision``: it began at the revision where it
        was first seen after another epoch. The same epoch seen again after a different
        one begins a new period; a revision older than the recorded start of another epoch
        (a worker behind the others) gets a period of its own."""

    @abc.abstractmethod
    def forget(self, deployment: str) -> None:
        """Delete everything kept for ``deployment`` (it was deleted)."""

    def close(self) -> None:  # noqa: B027 - most backends hold nothing to release
        """Release connections (a no-op where there are none)."""


class InProcessEvidence(EvidenceStore):
    """Evidence kept in this process only: the reference implementation of the contract,
    and what a single model reference (no policy to judge) is served with."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, Key], RouteStats] = {}
        self._tickets: dict[tuple[str, str], Stamp] = {}
        self._labels: dict[tuple[str, str], str] = {}
        self._rewards: dict[tuple[str, str], float] = {}
        self._credited: set[tuple[str, str, str]] = set()  # (deployment, id, label|reward)
        self._periods: dict[str, tuple[str, int]] = {}

    def push(self, deployment: str, batch: Batch) -> None:
        with self._lock:
            for key, delta in batch.deltas.items():
                self._counts.setdefault((deployment, key), RouteStats()).merge(delta)
            touched = []
            for request_id, stamp in batch.tickets:
                self._tickets[(deployment, request_id)] = stamp
                touched.append(request_id)
            for item in batch.feedback:
                at = (deployment, item.request_id)
                if item.label is not None:
                    self._labels.setdefault(at, item.label)
                if item.reward is not None:
                    self._rewards.setdefault(at, item.reward)
                touched.append(item.request_id)
            for request_id in touched:
                self._credit(deployment, request_id)

    def _credit(self, deployment: str, request_id: str) -> None:
        at = (deployment, request_id)
        stamp = self._tickets.get(at)
        if stamp is None:
            return
        label, reward = self._labels.get(at), self._rewards.get(at)
        if label is not None and (deployment, request_id, "label") in self._credited:
            label = None
        if reward is not None and (deployment, request_id, "reward") in self._credited:
            reward = None
        if label is None and reward is None:
            return
        key = (deployment, (stamp.route, stamp.period))
        credit(self._counts.setdefault(key, RouteStats()), stamp.prediction, label, reward)
        if label is not None:
            self._credited.add((deployment, request_id, "label"))
        if reward is not None:
            self._credited.add((deployment, request_id, "reward"))

    def totals(self, deployment: str, keys: Collection[Key]) -> dict[Key, RouteStats]:
        with self._lock:
            return {
                key: (self._counts.get((deployment, key)) or RouteStats()).copy() for key in keys
            }

    def lookup(self, deployment: str, ids: Sequence[str]) -> dict[str, Key]:
        with self._lock:
            found = {i: self._tickets.get((deployment, i)) for i in ids}
        return {i: (s.route, s.period) for i, s in found.items() if s is not None}

    def forget(self, deployment: str) -> None:
        with self._lock:
            self._counts = {k: v for k, v in self._counts.items() if k[0] != deployment}
            self._tickets = {k: v for k, v in self._tickets.items() if k[0] != deployment}
            self._labels = {k: v for k, v in self._labels.items() if k[0] != deployment}
            self._rewards = {k: v for k, v in self._rewards.items() if k[0] != deployment}
            self._credited = {c for c in self._credited if c[0] != deployment}
            self._periods.pop(deployment, None)

    def begin(self, deployment: str, epoch: str, revision: int) -> str:
        with self._lock:
            known = self._periods.get(deployment)
            if known is not None and known[0] == epoch:
                return period_of(known[1], epoch)
            if known is None or known[1] < revision:
                self._periods[deployment] = (epoch, revision)
            return period_of(revision, epoch)

"""Following the store: the router a service answers with, rebuilt when what it serves moves.

A :class:`Watcher` builds a :class:`~shipyard.serving._router.Router` for one model
reference or one deployment, every model loaded and warmed, and polls the store: a moved
alias swaps a slot's model, a changed deployment revision builds a new router that replaces
the old one in one assignment, and the policy's judge (a canary's) runs on the routes'
statistics, its decision recorded only if nobody changed the deployment since.

A version that fails to load backs off (``serving._slot``): a deployment revision whose
router could not be built is tried again at each poll, but the slots it made are kept
between tries, so a route that loaded is not loaded again and a failing one waits its
back-off; ``/metrics`` shows each failing version (``shipyard_model_load_retry_seconds``).

Each router answers in an evidence period (``Router.period``: the policy's epoch and the
revision it began at, from the evidence store; ``serving._evidence``). A decision the
service takes on the request path (:meth:`Watcher.apply_now`: the breaker of a failing
route) takes effect in this process at once and wakes the watcher to record it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from dataclasses import dataclass, field

from shipyard.serving._auth import Keyring
from shipyard.serving._deployments import DeploymentStore
from shipyard.serving._evidence import EvidenceStore
from shipyard.serving._metrics import Metrics
from shipyard.serving._router import Router
from shipyard.serving._slot import Slot
from shipyard.serving._stats import RouteStats
from shipyard.serving.policies import Decision, policy_of

__all__ = ["MAIN", "Served", "Watcher", "settle_memory"]

log = logging.getLogger("shipyard.serving")

MAIN = "main"  # the one route of a server for a single model reference


def settle_memory() -> None:
    """Collect, then freeze what survives (the imported libraries, the loaded models) out of
    the cyclic collector's sight. A server imports ~2,000 modules (~190,000 tracked objects):
    without this each full collection walked them all, ~100 ms with the loop stalled, and
    under load that set the p99. Frozen objects are still freed by reference counting."""
    gc.collect()
    gc.freeze()


@dataclass
class Served:
    """What a service serves now, shared by the service (which reads ``router`` on every
    request) and its watcher (which replaces it): the served name, the reference or
    deployment, how models load, the metrics and each route's statistics."""

    name: str
    model: str | None
    deployment: str | None
    format: str = "auto"
    max_batch: int = 64
    max_wait: float = 0.0
    metrics: Metrics = field(default_factory=Metrics)
    stats: dict[str, RouteStats] = field(default_factory=dict)
    router: Router | None = None
    last_error: str | None = None


class Watcher:
    """Builds the routers of a :class:`Served` and follows the store (see the module
    docstring). ``store`` is needed for a deployment only; ``keyring`` is refreshed on
    each poll so that revoked keys stop working. Not thread-safe: runs on the event loop,
    building routers in worker threads."""

    def __init__(
        self,
        served: Served,
        store: DeploymentStore | None,
        keyring: Keyring | None,
        evidence: EvidenceStore | None = None,
    ) -> None:
        self.served = served
        self.store = store
        self.keyring = keyring
        self.evidence = evidence
        self._wake: asyncio.Event | None = None
        self._decided: tuple[Router, Decision] | None = None
        self._pending: dict[str, Slot] = {}  # slots of a build that failed, kept for the next

    # -- building routers ----------------------------------------------------------------
    def _slot(self, ref: str, old: Router | None) -> Slot:
        if old is not None:
            for route, slot in old.slots.items():
                if old.models[route] == ref:
                    return slot  # same reference: keep the loaded model
        if ref in self._pending:
            return self._pending[ref]  # loaded, or backing off, in a build that failed
        served = self.served
        metrics = served.metrics
        self._pending[ref] = slot = Slot(
            ref,
            format=served.format,
            max_batch=served.max_batch,
            max_wait=served.max_wait,
            observe_batch=metrics.batch.labels(served.name).observe,
            observe_load=lambda ref, seconds: metrics.load.labels(ref.split("@")[0]).observe(
                seconds
            ),
        )
        return slot

    def build(self) -> Router:
        """A router for the deployment (or model) as stored now, every model loaded."""
        served, old = self.served, self.served.router
        if served.deployment is None:
            assert served.model is not None
            slots = {MAIN: self._slot(served.model, old)}
            models, weights, policy = {MAIN: served.model}, {MAIN: 100.0}, {}
            revision: tuple[str, int] = ("", 0)
        else:
            assert self.store is not None
            stored = self.store.get(served.deployment)
            models = {r.name: r.model for r in stored.routes}
            slots = {r.name: self._slot(r.model, old) for r in stored.routes}
            weights, policy, revision = stored.split, stored.policy, (stored.id, stored.revision)
        self._pending = {ref: s for ref, s in self._pending.items() if ref in models.values()}
        for slot in slots.values():
            if not slot.ready:
                slot.load()
        self._pending = {}
        epoch = policy_of(policy).epoch(policy) if policy else ""
        period = epoch
        if self.evidence is not None and served.deployment is not None:
            period = self.evidence.begin(revision[0], epoch, revision[1])
        return Router(
            served.name, slots, models, weights, policy, revision, served.stats, period=period
        )

    # -- following the store -------------------------------------------------------------
    async def run(self, poll: float) -> None:
        """Follow the store every ``poll`` seconds until cancelled; a failed poll is
        logged (once per distinct error) and counted, and the next one tries again."""
        served = self.served
        self._wake = wake = asyncio.Event()
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(wake.wait(), poll)
            wake.clear()
            try:
                await self.check()
            except Exception as exc:
                if str(exc) != served.last_error:
                    log.error("could not apply a change of %s: %s", served.name, exc)
                    served.metrics.load_failures.labels(served.name).inc()
                served.last_error = str(exc)
            self.report_failures()

    def report_failures(self) -> None:
        """The back-off gauges from every slot served or pending."""
        router = self.served.router
        slots = [*(router.slots.values() if router is not None else ()), *self._pending.values()]
        failures = {id(s.failure): s.failure for s in slots if s.failure is not None}
        self.served.metrics.load_failures_now(list(failures.values()))

    async def check(self) -> None:
        """One poll: a decision taken meanwhile (recorded first), keys, aliases, the
        deployment's revision, the policy's judgement."""
        pending = self._decided
        if pending is not None:
            await self._record(*pending)  # if this raises, the next poll tries again
            if self._decided is pending:
                self._decided = None
        if self.keyring is not None:
            await asyncio.to_thread(self.keyring.refresh)  # revoked keys stop working
        router = self.served.router
        if router is None:
            return
        await self._refresh_slots(router)
        if self.served.deployment is None or self.store is None:
            return
        revision = await asyncio.to_thread(self.store.revision, self.served.deployment)
        if revision != router.revision:
            rebuilt = await asyncio.to_thread(self.build)
            self._fresh_stats(router, rebuilt)
            self.served.router = rebuilt
            self.served.last_error = None
            settle_memory()
            return
        await self._judge(router)

    async def _refresh_slots(self, router: Router) -> None:
        for slot in router.slots.values():
            before = slot.last_error
            if await slot.refresh():
                settle_memory()
            if slot.last_error is not None and slot.last_error != before:
                self.served.metrics.load_failures.labels(self.served.name).inc()

    def apply_now(self, router: Router, decision: Decision) -> None:
        """Answer with ``decision``'s split from now on (``router`` took it) and wake the
        watcher to record it, rather than at the next poll."""
        self.served.router = router.decided(decision.weights, decision.policy)
        self._decided = (router, decision)
        if self._wake is not None:
            self._wake.set()

    async def _judge(self, router: Router) -> None:
        """The policy's decision on the routes' statistics, recorded if nobody changed the
        deployment since this router was built; the router is rebuilt to apply it."""
        decision = router.rollout.judge(router.policy, self.served.stats)
        if decision is not None:
            await self._record(router, decision)

    async def _record(self, router: Router, decision: Decision) -> None:
        served = self.served
        if self.store is None or served.deployment is None:
            return
        applied = await asyncio.to_thread(
            self.store.record_decision,
            served.deployment,
            router.revision[1],
            decision.policy,
            decision.weights,
            decision.kind,
            decision.evidence,
            router.revision[0],
        )
        if applied is not None:
            log.info("%s: %s %s", served.name, decision.kind, decision.evidence)
            for route in decision.reset:
                served.stats[route].reset()
            served.router = await asyncio.to_thread(self.build)

    def _fresh_stats(self, old: Router, new: Router) -> None:
        """Statistics start over where what they measured changed: every route of a
        deployment created again, and the routes the new policy says (a canary's two at
        each step, whoever took it: another worker's decision arrives as a new revision)."""
        if old.revision[0] != new.revision[0]:
            for stats in self.served.stats.values():
                stats.reset()
            return
        for route in new.rollout.restart(old.policy, new.policy):
            self.served.stats[route].reset()

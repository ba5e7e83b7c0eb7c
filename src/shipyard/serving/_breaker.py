"""The breaker: a failing route loses its traffic on the request path, not at the next poll.

When the model fails a request, :meth:`Breaker.failed` runs the policy's judge at once on
the live statistics (pooled across workers and replicas, plus this process's own since the
last sync). A decision that takes traffic away from the route applies in this process
immediately (:meth:`~shipyard.serving._watch.Watcher.apply_now`: a router with the
decision's split) and is recorded in the store at once; other workers learn it from their
pooled statistics at their next sync, or from the store at their next poll.

Several processes each see only their own failures between syncs, so each could spend the
whole budget before the others' failures reach it. To keep the pooled failures within the
budget (plus what was in flight), a process whose policy judges (a canary) *pauses* a
route that just failed until its next sync, which starts at once: no new request goes
there meanwhile. After the sync the judge runs on fresh pooled statistics: the decision is
applied, or the route resumes.
"""

from __future__ import annotations

from shipyard.serving._pool import Pool
from shipyard.serving._router import Router
from shipyard.serving._watch import Served, Watcher
from shipyard.serving.policies import BasePolicy, Decision

__all__ = ["Breaker"]


class Breaker:
    """Judges on failures and after syncs (see the module docstring). Runs on the event
    loop of its service."""

    def __init__(self, served: Served, watcher: Watcher, pool: Pool) -> None:
        self.served = served
        self.watcher = watcher
        self.pool = pool
        self._paused: tuple[Router, Router] | None = None  # (as built, with a route paused)

    def failed(self, router: Router, route: str) -> None:
        """``router`` (the one answering now) failed a request on ``route``."""
        if router is self.served.router:
            self._judge(route)

    def synced(self) -> None:
        """The pooled statistics were just pulled (or the pull failed): judge again."""
        self._judge(None)

    def _original(self) -> Router | None:
        router = self.served.router
        if self._paused is not None and self._paused[1] is router:
            return self._paused[0]
        self._paused = None
        return router

    def _judge(self, route: str | None) -> None:
        router = self._original()
        if router is None:
            return
        decision = router.rollout.judge(router.policy, self.served.stats)
        if decision is not None and self._takes_traffic(router, decision, route):
            self._paused = None
            self.watcher.apply_now(router, decision)
        elif route is not None:
            self._pause(router, route)
        elif self._paused is not None:
            self.served.router, self._paused = self._paused[0], None  # resume

    def _takes_traffic(self, router: Router, decision: Decision, route: str | None) -> bool:
        stats = self.served.stats
        routes = [route] if route is not None else router.routes
        return any(
            decision.weights.get(r, 0.0) < router.weights.get(r, 0.0) and stats[r].errors
            for r in routes
        )

    def _pause(self, router: Router, route: str) -> None:
        """Send no new request to ``route`` until the next sync (when other processes may
        share the evidence and the policy judges; while another route takes traffic)."""
        if self._paused is not None or not self.pool.shared:
            return
        if type(router.rollout).judge is BasePolicy.judge:
            return  # the policy never decides: nothing to wait for
        weights = {**router.weights, route: 0.0}
        if not any(weights.values()):
            return
        paused = router.decided(weights, router.policy)
        self._paused = (router, paused)
        self.served.router = paused

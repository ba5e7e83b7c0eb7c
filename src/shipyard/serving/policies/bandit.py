"""``bandit``: each request goes to the route a multi-armed bandit picks, on the rewards
posted to ``/feedback``: Thompson sampling, or ``epsilon`` greedy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shipyard.errors import InvalidInput
from shipyard.serving.policies._base import BasePolicy, Param, RouteChooser, is_number

__all__ = ["POLICY", "BanditPolicy"]

ALGORITHMS = ("thompson", "epsilon_greedy")


class BanditPolicy(BasePolicy):
    """Routes chosen per request by their rewards so far."""

    name = "bandit"
    title = "Bandit"
    summary = "routes chosen by their rewards (/feedback)"
    position = 4
    params = (
        Param("algorithm", "thompson or epsilon_greedy", "thompson"),
        Param("epsilon", "exploration share (epsilon_greedy)", 0.1, float),
    )

    def check(self, routes: Sequence[str], given: Mapping[str, Any]) -> dict[str, Any]:
        present = self.allowed(given)
        algorithm = present.get("algorithm", "thompson")
        if algorithm not in ALGORITHMS:
            raise InvalidInput(
                f"algorithm must be 'thompson' or 'epsilon_greedy'; got {algorithm!r}."
            )
        epsilon = present.get("epsilon", 0.1)
        if not is_number(epsilon) or not 0 <= epsilon <= 1:
            raise InvalidInput(f"epsilon must be between 0 and 1; got {epsilon!r}.")
        return {"kind": self.name, "algorithm": algorithm, "epsilon": float(epsilon)}

    def choose(self, policy: Mapping[str, Any], router: RouteChooser, key: str | None) -> str:
        import numpy as np  # here, not at the top: the CLI imports the policies (--help)

        routes, stats, rng = router.routes, router.stats, router.random
        if policy.get("algorithm") == "epsilon_greedy":
            if rng.random() < float(policy.get("epsilon", 0.1)):
                return rng.choice(routes)
            means = [
                (s.rewards / s.rewarded) if (s := stats[r]).rewarded else 1.0 for r in routes
            ]  # untried routes look best, so each is tried
            return routes[int(np.argmax(means))]
        draws = [
            rng.betavariate(1 + s.rewards, 1 + s.rewarded - s.rewards)
            for s in (stats[r] for r in routes)
        ]
        return routes[int(np.argmax(draws))]


POLICY = BanditPolicy()

"""``fixed``: A/B by percentage (``split``); with ``sticky`` (a request field or header
name) a key always lands on the same route.

Its statistics compare the routes on ``metric`` (accuracy, error_rate, reward or latency)
with always-valid intervals and p-values (``policies._compare``); with
``stop_when_significant`` the judge ends the test as soon as one route is significantly
better than every other at ``alpha``, giving it all traffic (an ``ab-concluded`` decision,
undone by rollback). The statistics start over whenever the split changes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shipyard.errors import InvalidInput
from shipyard.serving._stats import METRICS, RouteStats
from shipyard.serving.policies._base import (
    BasePolicy,
    Decision,
    Param,
    RouteChooser,
    is_number,
)

__all__ = ["POLICY", "FixedPolicy"]


def _parse_split(values: list[str]) -> dict[str, float]:
    """``["a=90", "b=10"]`` (the CLI's repeated ``--split``) as ``{"a": 90.0, "b": 10.0}``."""
    out: dict[str, float] = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key or not rest:
            raise InvalidInput(f"--split must look like NAME=VALUE; got {value!r}.")
        try:
            out[key] = float(rest)
        except ValueError as exc:
            raise InvalidInput(f"--split percentages must be numbers: {exc}.") from exc
    return out


def _split(split: Any, routes: Sequence[str]) -> dict[str, float]:
    if split is None:
        share = 100.0 / len(routes)
        return {r: round(share, 6) for r in routes}
    if not isinstance(split, Mapping):
        raise InvalidInput('split must map routes to percentages, e.g. {"a": 90, "b": 10}.')
    unknown = sorted(set(split) - set(routes))
    if unknown:
        raise InvalidInput(f"split names routes the deployment lacks: {unknown}.")
    out = {}
    for route in routes:
        value = split.get(route, 0)
        if not is_number(value) or not 0 <= value <= 100:
            raise InvalidInput(f"split[{route!r}] must be a percentage in [0, 100]; got {value!r}.")
        out[route] = float(value)
    total = sum(out.values())
    if abs(total - 100) > 1e-6:
        raise InvalidInput(f"split must add up to 100; it adds up to {total:g}.")
    return out


class FixedPolicy(BasePolicy):
    """A fixed split by percentage (A/B), optionally sticky."""

    name = "fixed"
    title = "Fixed"
    summary = "A/B split"
    position = 0
    params = (
        Param("split", "route share, ROUTE=PERCENT (repeat)", None, list, _parse_split),
        Param("sticky", "request field or header that pins a route"),
        Param("metric", "what the routes are compared on: " + ", ".join(METRICS), "accuracy"),
        Param("alpha", "chance of calling a difference that is not there", 0.05, float),
        Param(
            "stop_when_significant",
            "give a significantly better route all traffic",
            False,
            bool,
        ),
    )

    def check(self, routes: Sequence[str], given: Mapping[str, Any]) -> dict[str, Any]:
        present = self.allowed(given)
        policy: dict[str, Any] = {"kind": self.name, "split": _split(present.get("split"), routes)}
        sticky = present.get("sticky")
        if sticky is not None and (not isinstance(sticky, str) or not sticky):
            raise InvalidInput("sticky must be the name of a request field or header.")
        policy["sticky"] = sticky
        metric, alpha = present.get("metric", "accuracy"), present.get("alpha", 0.05)
        stop = present.get("stop_when_significant", False)
        if metric not in METRICS:
            raise InvalidInput(f"metric must be one of {', '.join(METRICS)}; got {metric!r}.")
        if not is_number(alpha) or not 0 < alpha < 1:
            raise InvalidInput(f"alpha must be between 0 and 1 (exclusive); got {alpha!r}.")
        if not isinstance(stop, bool):
            raise InvalidInput(f"stop_when_significant must be true or false; got {stop!r}.")
        policy.update(metric=metric, alpha=float(alpha), stop_when_significant=stop)
        return policy

    def initial_weights(self, policy: Mapping[str, Any], routes: Sequence[str]) -> dict[str, float]:
        return dict(policy["split"])

    def choose(self, policy: Mapping[str, Any], router: RouteChooser, key: str | None) -> str:
        return router.weighted(key if policy.get("sticky") else None)

    def sticky(self, policy: Mapping[str, Any]) -> str | None:
        value = policy.get("sticky")
        return str(value) if value else None

    def statistics(
        self, policy: Mapping[str, Any], stats: Mapping[str, RouteStats]
    ) -> dict[str, Any]:
        """The routes of the split (in its order) compared on the stored metric."""
        from shipyard.serving.policies._compare import compare

        routes = [r for r in policy.get("split") or stats if r in stats] or list(stats)
        return compare(stats, routes, _metric(policy), float(policy.get("alpha", 0.05)))

    def judge(self, policy: Mapping[str, Any], stats: Mapping[str, RouteStats]) -> Decision | None:
        """With ``stop_when_significant``: all traffic to a route significantly better
        than every other live route (an ``ab-concluded`` decision), else None."""
        live = [r for r, share in (policy.get("split") or {}).items() if share > 0]
        if not policy.get("stop_when_significant") or len(live) < 2:
            return None
        from shipyard.serving.policies._compare import compare

        found = compare(stats, live, _metric(policy), float(policy.get("alpha", 0.05)))
        winner = found["winner"]
        if winner is None:
            return None
        new, _ = self.promote(policy, list(policy["split"]), winner)
        rows = {row["route"]: row for row in found["routes"]}
        why = f"{winner} wins on {found['metric']}: " + ", ".join(
            f"{r} {rows[r]['estimate']:.4g}" for r in live
        )
        if winner != live[0]:
            why += f" (p={rows[winner]['p_value']:.2g})"
        evidence = {"statistics": found, "why": why}
        return Decision("ab-concluded", new, dict(new["split"]), evidence, tuple(live))

    def restart(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[str, ...]:
        if old.get("split") != new.get("split"):
            return tuple(new.get("split") or ())
        return ()

    def epoch(self, policy: Mapping[str, Any]) -> str:
        split = policy.get("split") or {}
        return "/".join(f"{r}={share:g}" for r, share in split.items())

    def promote(
        self, policy: Mapping[str, Any], routes: Sequence[str], route: str | None
    ) -> tuple[dict[str, Any], str]:
        new, chosen = super().promote(policy, routes, route)
        new["split"] = {r: 100.0 if r == chosen else 0.0 for r in routes}
        return new, chosen


def _metric(policy: Mapping[str, Any]) -> str:
    return str(policy.get("metric") or "accuracy")


POLICY = FixedPolicy()

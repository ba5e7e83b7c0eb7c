"""``canary``: ``baseline`` and ``candidate``; the candidate's share walks ``steps`` while
its error rate, latency and (with labels) metric hold, and it is rolled back when they do
not.

The judge is pure: it reads the two routes' statistics and the policy and returns a
decision; the server records it (only if nobody changed the deployment since) and resets
the statistics for the next step. A candidate is rolled back as soon as its errors alone
exceed what the whole step could allow, without waiting for the step to end.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from shipyard.errors import InvalidInput
from shipyard.serving._stats import RouteStats
from shipyard.serving.policies._base import (
    BasePolicy,
    Decision,
    Param,
    is_number,
    route_named,
)

__all__ = ["POLICY", "CanaryPolicy", "judge"]

# what a step change means for the statistics: any of these moving starts them over
_STATE = ("kind", "step", "status", "baseline", "candidate")


def _parse_steps(text: str) -> list[float]:
    try:
        return [float(s) for s in str(text).split(",")]
    except ValueError as exc:
        raise InvalidInput(f"--steps must be percentages like 5,25,50,100: {exc}.") from exc


class CanaryPolicy(BasePolicy):
    """A candidate's share grows step by step while it holds up; rolled back otherwise."""

    name = "canary"
    title = "Canary"
    summary = "the candidate's share grows while it holds up"
    position = 1
    params = (
        Param("baseline", "the route serving now (default: the first)"),
        Param("candidate", "the route being tried (default: the other)"),
        Param("steps", "shares, e.g. 5,25,50,100", [5, 25, 50, 100], str, _parse_steps),
        Param("step_requests", "candidate requests judged before each step", 200, int),
        Param("max_error_rate", "largest failed share (5xx) of the candidate", 0.01, float),
        Param("max_latency_ratio", "candidate p99 over the baseline's", 2.0, float),
        Param("max_metric_drop", "accuracy lost against the baseline", 0.02, float),
        Param("min_labels", "labels each route needs before accuracy counts", 50, int),
    )

    def check(self, routes: Sequence[str], given: Mapping[str, Any]) -> dict[str, Any]:
        present = self.allowed(given)
        if len(routes) != 2:
            raise InvalidInput(f"routes: a canary needs exactly two routes, got {len(routes)}.")
        baseline = route_named(present.get("baseline", routes[0]), routes, "baseline")
        candidate = route_named(
            present.get("candidate", routes[1] if baseline == routes[0] else routes[0]),
            routes,
            "candidate",
        )
        if baseline == candidate:
            raise InvalidInput("baseline and candidate must be different routes.")
        policy: dict[str, Any] = {"kind": self.name, "baseline": baseline, "candidate": candidate}
        for param in self.params[2:]:
            policy[param.name] = present.get(param.name, copy.deepcopy(param.default))
        _check_numbers(policy)
        policy.update(step=0, status="running")
        return policy

    def initial_weights(self, policy: Mapping[str, Any], routes: Sequence[str]) -> dict[str, float]:
        share = float(policy["steps"][int(policy.get("step", 0))])
        return {policy["baseline"]: 100.0 - share, policy["candidate"]: share}

    def judge(self, policy: Mapping[str, Any], stats: Mapping[str, RouteStats]) -> Decision | None:
        if policy.get("status") != "running":
            return None
        return judge(dict(policy), stats[policy["baseline"]], stats[policy["candidate"]])

    def restart(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[str, ...]:
        if any(old.get(k) != new.get(k) for k in _STATE):
            return (str(new["baseline"]), str(new["candidate"]))
        return ()

    def epoch(self, policy: Mapping[str, Any]) -> str:
        return "/".join(str(policy.get(k)) for k in _STATE)

    def promote(
        self, policy: Mapping[str, Any], routes: Sequence[str], route: str | None
    ) -> tuple[dict[str, Any], str]:
        chosen = route if route is not None else str(policy["candidate"])
        new = {**policy, "status": "promoted", "step": len(policy["steps"]) - 1}
        return new, chosen


def judge(policy: dict[str, Any], baseline: RouteStats, candidate: RouteStats) -> Decision | None:
    """The decision this step's statistics call for, or None to keep waiting."""
    if policy.get("kind") != "canary" or policy.get("status") != "running":
        return None
    need = int(policy["step_requests"])
    evidence = _evidence(policy, baseline, candidate)
    why = _failure(policy, baseline, candidate, need)
    if why is not None:
        return _rollback(policy, evidence, why)
    if candidate.requests < need:
        return None
    step = int(policy["step"]) + 1
    new = {**policy, "step": step}
    routes = (policy["baseline"], policy["candidate"])
    if step >= len(policy["steps"]) - 1:
        new.update(status="promoted", step=len(policy["steps"]) - 1)
        weights = {policy["baseline"]: 0.0, policy["candidate"]: 100.0}
        return Decision("canary-promoted", new, weights, evidence, routes)
    share = float(policy["steps"][step])
    weights = {policy["baseline"]: 100.0 - share, policy["candidate"]: share}
    return Decision("canary-step", new, weights, evidence, routes)


def _failure(
    policy: dict[str, Any], baseline: RouteStats, candidate: RouteStats, need: int
) -> str | None:
    """Why the candidate fails this step, or None while it holds (or has too few requests
    to tell)."""
    if candidate.errors > float(policy["max_error_rate"]) * need:
        return f"{candidate.errors} errors in this step"  # cannot pass whatever comes next
    if candidate.requests < need:
        return None
    error_rate = candidate.errors / candidate.requests
    if error_rate > policy["max_error_rate"]:
        return f"error rate {error_rate:.3f}"
    base_p99, cand_p99 = baseline.p99(), candidate.p99()
    if base_p99 and cand_p99 and cand_p99 > policy["max_latency_ratio"] * base_p99:
        return f"p99 {cand_p99 * 1e3:.1f} ms vs baseline {base_p99 * 1e3:.1f} ms"
    enough = min(baseline.labelled, candidate.labelled) >= int(policy["min_labels"])
    base_acc, cand_acc = baseline.accuracy(), candidate.accuracy()
    if (
        enough
        and base_acc is not None
        and cand_acc is not None
        and cand_acc < base_acc - policy["max_metric_drop"]
    ):
        return f"accuracy {cand_acc:.3f} vs {base_acc:.3f}"
    return None


def _rollback(policy: dict[str, Any], evidence: dict[str, Any], why: str) -> Decision:
    new = {**policy, "status": "rolled_back"}
    weights = {policy["baseline"]: 100.0, policy["candidate"]: 0.0}
    routes = (policy["baseline"], policy["candidate"])
    return Decision("canary-rolled-back", new, weights, {**evidence, "why": why}, routes)


def _evidence(
    policy: dict[str, Any], baseline: RouteStats, candidate: RouteStats
) -> dict[str, Any]:
    def of(stats: RouteStats) -> dict[str, Any]:
        p99 = stats.p99()
        return {
            "requests": stats.requests,
            "errors": stats.errors,
            "p99_ms": None if p99 is None else round(p99 * 1e3, 3),
            "labelled": stats.labelled,
            "accuracy": stats.accuracy(),
        }

    return {
        "step": int(policy["step"]),
        "share": policy["steps"][int(policy["step"])],
        "baseline": of(baseline),
        "candidate": of(candidate),
    }


def _check_numbers(policy: dict[str, Any]) -> None:
    steps = policy["steps"]
    if (
        not isinstance(steps, list)
        or not steps
        or not all(is_number(s) and 0 < s <= 100 for s in steps)
        or steps != sorted(steps)
        or steps[-1] != 100
    ):
        raise InvalidInput(
            f"steps must be increasing percentages ending at 100, e.g. [5, 25, 50, 100]; "
            f"got {steps!r}."
        )
    for key in ("step_requests", "min_labels"):
        value = policy[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise InvalidInput(f"{key} must be a positive whole number; got {value!r}.")
    for key in ("max_error_rate", "max_metric_drop"):
        if not is_number(policy[key]) or not 0 <= policy[key] <= 1:
            raise InvalidInput(f"{key} must be between 0 and 1; got {policy[key]!r}.")
    if not is_number(policy["max_latency_ratio"]) or policy["max_latency_ratio"] < 1:
        raise InvalidInput(
            f"max_latency_ratio must be at least 1; got {policy['max_latency_ratio']!r}."
        )


POLICY = CanaryPolicy()

"""Traffic policies: what each kind means, its parameters, and the split it starts from.

A policy is stored as JSON on the deployment (``kind`` plus parameters plus the state a
canary moves through); route weights (percent) are stored on the routes. Checking lives here
so the SDK, CLI and API refuse the same things with the same words.

- ``fixed``: A/B by percentage (``split``); with ``sticky`` (a request field or header
  name) a key always lands on the same route.
- ``canary``: ``baseline`` and ``candidate``; the candidate's share walks ``steps`` while
  its error rate, latency and (with labels) metric hold; rolled back when they do not.
- ``blue_green``: one ``live`` route takes everything; promote switches, rollback switches
  back.
- ``shadow``: ``primary`` answers; every other route gets a copy, logged, never returned.
- ``bandit``: Thompson sampling (or ``epsilon`` greedy) on rewards posted to ``/feedback``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from shipyard.errors import InvalidInput

__all__ = ["POLICIES", "check_policy", "initial_weights"]

POLICIES = ("fixed", "canary", "blue_green", "shadow", "bandit")

CANARY_DEFAULTS: dict[str, Any] = {
    "steps": [5, 25, 50, 100],
    "step_requests": 200,  # candidate requests judged before each step
    "max_error_rate": 0.01,  # share of candidate requests that failed (5xx)
    "max_latency_ratio": 2.0,  # candidate p99 over baseline p99
    "max_metric_drop": 0.02,  # accuracy lost against the baseline once labels arrive
    "min_labels": 50,
}


def check_policy(kind: str, routes: Sequence[str], params: Mapping[str, Any]) -> dict[str, Any]:
    """The stored form of a policy, or InvalidInput naming the parameter at fault."""
    if kind not in POLICIES:
        raise InvalidInput(f"policy must be one of {', '.join(POLICIES)}; got {kind!r}.")
    if not routes:
        raise InvalidInput("routes: a deployment needs at least one route.")
    given = {k: v for k, v in params.items() if v is not None}
    allowed = {
        "fixed": {"split", "sticky"},
        "canary": {"baseline", "candidate", *CANARY_DEFAULTS},
        "blue_green": {"live"},
        "shadow": {"primary"},
        "bandit": {"algorithm", "epsilon"},
    }[kind]
    unknown = sorted(set(given) - allowed)
    if unknown:
        raise InvalidInput(
            f"{', '.join(unknown)}: not a parameter of the {kind} policy "
            f"(it takes {', '.join(sorted(allowed))})."
        )
    policy: dict[str, Any] = {"kind": kind}
    if kind == "fixed":
        policy["split"] = _split(given.get("split"), routes)
        sticky = given.get("sticky")
        if sticky is not None and (not isinstance(sticky, str) or not sticky):
            raise InvalidInput("sticky must be the name of a request field or header.")
        policy["sticky"] = sticky
    elif kind == "canary":
        if len(routes) != 2:
            raise InvalidInput(f"routes: a canary needs exactly two routes, got {len(routes)}.")
        baseline = _route(given.get("baseline", routes[0]), routes, "baseline")
        candidate = _route(
            given.get("candidate", routes[1] if baseline == routes[0] else routes[0]),
            routes,
            "candidate",
        )
        if baseline == candidate:
            raise InvalidInput("baseline and candidate must be different routes.")
        policy.update(baseline=baseline, candidate=candidate)
        for key, default in CANARY_DEFAULTS.items():
            policy[key] = given.get(key, default)
        _canary_numbers(policy)
        policy.update(step=0, status="running")
    elif kind == "blue_green":
        if len(routes) != 2:
            raise InvalidInput(f"routes: blue-green needs exactly two routes, got {len(routes)}.")
        policy["live"] = _route(given.get("live", routes[0]), routes, "live")
    elif kind == "shadow":
        if len(routes) < 2:
            raise InvalidInput("routes: shadow needs a primary and at least one shadow route.")
        policy["primary"] = _route(given.get("primary", routes[0]), routes, "primary")
    else:
        algorithm = given.get("algorithm", "thompson")
        if algorithm not in ("thompson", "epsilon_greedy"):
            raise InvalidInput(
                f"algorithm must be 'thompson' or 'epsilon_greedy'; got {algorithm!r}."
            )
        epsilon = given.get("epsilon", 0.1)
        if not _number(epsilon) or not 0 <= epsilon <= 1:
            raise InvalidInput(f"epsilon must be between 0 and 1; got {epsilon!r}.")
        policy.update(algorithm=algorithm, epsilon=float(epsilon))
    return policy


def initial_weights(policy: Mapping[str, Any], routes: Sequence[str]) -> dict[str, float]:
    """Each route's share (percent) when the policy starts."""
    kind = policy["kind"]
    if kind == "fixed":
        return dict(policy["split"])
    if kind == "canary":
        share = float(policy["steps"][int(policy.get("step", 0))])
        return {policy["baseline"]: 100.0 - share, policy["candidate"]: share}
    if kind == "blue_green":
        return {r: 100.0 if r == policy["live"] else 0.0 for r in routes}
    if kind == "shadow":
        return {r: 100.0 if r == policy["primary"] else 0.0 for r in routes}
    return {r: round(100.0 / len(routes), 6) for r in routes}  # bandit: decided per request


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
        if not _number(value) or not 0 <= value <= 100:
            raise InvalidInput(f"split[{route!r}] must be a percentage in [0, 100]; got {value!r}.")
        out[route] = float(value)
    total = sum(out.values())
    if abs(total - 100) > 1e-6:
        raise InvalidInput(f"split must add up to 100; it adds up to {total:g}.")
    return out


def _route(name: Any, routes: Sequence[str], field: str) -> str:
    if name not in routes:
        raise InvalidInput(
            f"{field} must be one of the routes ({', '.join(routes)}); got {name!r}."
        )
    return str(name)


def _canary_numbers(policy: dict[str, Any]) -> None:
    steps = policy["steps"]
    if (
        not isinstance(steps, list)
        or not steps
        or not all(_number(s) and 0 < s <= 100 for s in steps)
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
        if not _number(policy[key]) or not 0 <= policy[key] <= 1:
            raise InvalidInput(f"{key} must be between 0 and 1; got {policy[key]!r}.")
    if not _number(policy["max_latency_ratio"]) or policy["max_latency_ratio"] < 1:
        raise InvalidInput(
            f"max_latency_ratio must be at least 1; got {policy['max_latency_ratio']!r}."
        )


def _number(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )

"""``canary``: ``baseline`` and ``candidate``; the candidate's share walks ``steps`` while
it is not significantly worse than its limits, and it is rolled back when it is.

The judge is pure: it reads the two routes' statistics and the policy and returns a
decision; the server records it (only if nobody changed the deployment since) and resets
the statistics for the next step. Each check is an always-valid sequential test
(``serving._sequential``), so the judge may look after every request — it does, on every
request error, as a circuit breaker — without rolling back a healthy candidate more often
than ``alpha`` says:

- errors: the candidate's failed share of all the requests it took is above
  ``max_error_rate`` (a Beta-mixture test martingale, exact for any number of requests;
  a candidate failing every request is rolled back within the step's error budget,
  ``max_error_rate * step_requests`` failures, whenever that budget is at least 2);
- latency: more than 1% of the candidate's requests took longer (model time) than
  ``max_latency_ratio`` times the baseline's p99 (once the baseline has 100 timings);
- accuracy: the baseline's accuracy minus the candidate's is above ``max_metric_drop``
  (a normal-mixture confidence sequence for the difference, once each route has
  ``min_labels`` labels).

Bonferroni: each check of each judged step runs at ``alpha / (3 * judged steps)``, so the
chance that a candidate within every limit is ever rolled back during the whole rollout is
at most ``alpha``. A step advances once the candidate took ``step_requests`` requests
with nothing significantly worse (and, with ``require_labels``, both routes have
``min_labels`` labels). Only p-values are computed on every call (closed forms over the
counts); intervals are computed for the evidence of a decision.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
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

__all__ = ["CHECKS", "POLICY", "CanaryPolicy", "Check", "check_level", "judge"]

# what a step change means for the statistics: any of these moving starts them over
_STATE = ("kind", "step", "status", "baseline", "candidate")
CHECKS = ("errors", "latency", "accuracy")
MIN_TIMINGS = 100  # baseline timings before its p99 is a yardstick
SLOW_SHARE = 0.01  # the share of requests a p99 lets through


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
        Param(
            "max_latency_ratio",
            "slowest model time, in baseline p99s, for 99% of candidate requests",
            2.0,
            float,
        ),
        Param("max_metric_drop", "accuracy lost against the baseline", 0.02, float),
        Param("min_labels", "labels each route needs before accuracy counts", 50, int),
        Param("alpha", "chance of ever rolling back a candidate within its limits", 0.05, float),
        Param("require_labels", "hold each step until both routes have min_labels", False, bool),
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

    def statistics(
        self, policy: Mapping[str, Any], stats: Mapping[str, RouteStats]
    ) -> dict[str, Any]:
        """Accuracy, candidate against baseline, and the judge's checks with their level."""
        from shipyard.serving.policies._compare import compare

        routes = [str(policy["baseline"]), str(policy["candidate"])]
        out = compare(stats, routes, "accuracy", float(policy.get("alpha", 0.05)))
        base, cand = (stats.get(r) or RouteStats() for r in routes)
        level = check_level(policy)
        out["checks"] = {c.name: c.to_json(level) for c in _checks(dict(policy), base, cand)}
        out["check_level"] = level
        return out

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
    level = check_level(policy)
    checks = _checks(policy, baseline, candidate)
    failed = [c for c in checks if c.p_value is not None and c.p_value <= level]
    if failed:
        evidence = _evidence(policy, baseline, candidate, checks, level)
        return _rollback(policy, evidence, "; ".join(c.why for c in failed))
    if candidate.attempts < int(policy["step_requests"]):
        return None
    if policy.get("require_labels") and min(baseline.labelled, candidate.labelled) < int(
        policy["min_labels"]
    ):
        return None
    evidence = _evidence(policy, baseline, candidate, checks, level)
    step = int(policy["step"]) + 1
    new = {**policy, "step": step}
    routes = (policy["baseline"], policy["candidate"])
    if step >= len(policy["steps"]) - 1:
        new.update(status="promoted", step=len(policy["steps"]) - 1)
        weights = {policy["baseline"]: 0.0, policy["candidate"]: 100.0}
        why = f"{candidate.attempts} requests, nothing significantly worse: promoted"
        return Decision("canary-promoted", new, weights, {**evidence, "why": why}, routes)
    share = float(policy["steps"][step])
    weights = {policy["baseline"]: 100.0 - share, policy["candidate"]: share}
    why = f"{candidate.attempts} requests, nothing significantly worse: {share:g}%"
    return Decision("canary-step", new, weights, {**evidence, "why": why}, routes)


def check_level(policy: Mapping[str, Any]) -> float:
    """Each check's level: ``alpha`` over the three checks of every judged step."""
    from shipyard.serving._sequential import bonferroni  # numpy, SciPy: when judged

    judged = max(1, len(policy["steps"]) - 1)
    return bonferroni(float(policy.get("alpha", 0.05)), len(CHECKS) * judged)


@dataclass(frozen=True)
class Check:
    """One check's test: the candidate's estimate, its limit, the always-valid p-value of
    "worse than the limit" (None: not enough data yet), a human reason, and how to compute
    the interval (only for a decision's evidence)."""

    name: str
    estimate: float | None
    limit: float
    p_value: float | None
    why: str
    interval: Callable[[float], tuple[float, float]] | None = None

    def to_json(self, level: float) -> dict[str, Any]:
        low_high = self.interval(level) if self.interval is not None else None
        return {
            "estimate": None if self.estimate is None else round(self.estimate, 6),
            "limit": self.limit,
            "interval": None if low_high is None else [round(x, 6) for x in low_high],
            "p_value": self.p_value,
            "significant": self.p_value is not None and self.p_value <= level,
            **({"waiting": self.why} if self.p_value is None else {}),
        }


def _checks(policy: dict[str, Any], baseline: RouteStats, candidate: RouteStats) -> list[Check]:
    return [
        _error_check(float(policy["max_error_rate"]), candidate),
        _latency_check(float(policy["max_latency_ratio"]), baseline, candidate),
        _accuracy_check(policy, baseline, candidate),
    ]


def _error_check(limit: float, candidate: RouteStats) -> Check:
    from shipyard.serving._sequential import rate_above, rate_interval

    errors, took = candidate.errors, candidate.attempts
    if not took:
        return Check("errors", None, limit, None, "no requests yet")
    p = rate_above(errors, took, limit)
    why = f"error rate {errors / took:.3f} ({errors} errors in {took}) > {limit:g} (p={p:.2g})"
    return Check("errors", errors / took, limit, p, why, lambda a: rate_interval(errors, took, a))


def _latency_check(ratio: float, baseline: RouteStats, candidate: RouteStats) -> Check:
    from shipyard.serving._sequential import rate_above, rate_interval

    base_p99, timed = baseline.p99(), candidate.model_time.total
    if base_p99 is None or baseline.model_time.total < MIN_TIMINGS or not timed:
        need = f"needs {MIN_TIMINGS} baseline timings (has {baseline.model_time.total})"
        return Check("latency", None, SLOW_SHARE, None, need)
    slow = candidate.model_time.above(ratio * base_p99)
    p = rate_above(slow, timed, SLOW_SHARE)
    why = (
        f"{slow / timed:.1%} of requests slower than {ratio:g} x baseline p99 "
        f"({base_p99 * 1e3:.1f} ms) > {SLOW_SHARE:.0%} (p={p:.2g})"
    )
    return Check(
        "latency", slow / timed, SLOW_SHARE, p, why, lambda a: rate_interval(slow, timed, a)
    )


def _accuracy_check(policy: dict[str, Any], baseline: RouteStats, candidate: RouteStats) -> Check:
    from shipyard.serving._sequential import Sample, difference, difference_above

    drop, need = float(policy["max_metric_drop"]), int(policy["min_labels"])
    base_acc, cand_acc = baseline.accuracy(), candidate.accuracy()
    if base_acc is None or cand_acc is None or min(baseline.labelled, candidate.labelled) < need:
        have = f"{baseline.labelled}, {candidate.labelled}"
        return Check("accuracy", None, drop, None, f"needs {need} labels per route (has {have})")
    worse = Sample.of_counts(candidate.correct, candidate.labelled)
    better = Sample.of_counts(baseline.correct, baseline.labelled)
    level, t_opt = check_level(policy), _labels_expected(policy)
    p = difference_above(worse, better, drop, t_opt, level)
    why = (
        f"accuracy {cand_acc:.2f} vs {base_acc:.2f}: drop {base_acc - cand_acc:.2f} > "
        f"{drop:g} (p={p:.2g})"
    )

    def interval(at: float) -> tuple[float, float]:
        return difference(worse, better, at, drop, True, t_opt).interval

    return Check("accuracy", base_acc - cand_acc, drop, p, why, interval)


def _labels_expected(policy: Mapping[str, Any]) -> float:
    """Labels in all when the smaller route of this step's split has ``min_labels``: the
    accuracy test is tuned to be tightest there (fixed by the policy, not the data)."""
    share = float(policy["steps"][int(policy["step"])]) / 100
    return float(policy["min_labels"]) / max(0.01, min(share, 1 - share))


def _rollback(policy: dict[str, Any], evidence: dict[str, Any], why: str) -> Decision:
    new = {**policy, "status": "rolled_back"}
    weights = {policy["baseline"]: 100.0, policy["candidate"]: 0.0}
    routes = (policy["baseline"], policy["candidate"])
    return Decision("canary-rolled-back", new, weights, {**evidence, "why": why}, routes)


def _evidence(
    policy: dict[str, Any],
    baseline: RouteStats,
    candidate: RouteStats,
    checks: list[Check],
    level: float,
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
        "level": level,
        "checks": {c.name: c.to_json(level) for c in checks},
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
    if not is_number(policy["alpha"]) or not 0 < policy["alpha"] < 1:
        raise InvalidInput(f"alpha must be between 0 and 1 (exclusive); got {policy['alpha']!r}.")
    if not isinstance(policy["require_labels"], bool):
        raise InvalidInput(
            f"require_labels must be true or false; got {policy['require_labels']!r}."
        )


POLICY = CanaryPolicy()

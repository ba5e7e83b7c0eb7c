"""The canary's judge: after each step's requests, advance the candidate, or roll it back.

Pure: it reads the two routes' statistics and the policy and returns a decision; the server
records it (``deployments.record_decision``, only if nobody changed the deployment since)
and resets the statistics for the next step. A candidate is rolled back as soon as its errors
alone exceed what the whole step could allow, without waiting for the step to end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shipyard.serving._router import RouteStats

__all__ = ["Decision", "judge"]


@dataclass(frozen=True)
class Decision:
    kind: str  # "canary-step", "canary-promoted" or "canary-rolled-back"
    policy: dict[str, Any]
    weights: dict[str, float]
    evidence: dict[str, Any]


def judge(policy: dict[str, Any], baseline: RouteStats, candidate: RouteStats) -> Decision | None:
    """The decision this step's statistics call for, or None to keep waiting."""
    if policy.get("kind") != "canary" or policy.get("status") != "running":
        return None
    need = int(policy["step_requests"])
    allowed_errors = float(policy["max_error_rate"]) * need
    evidence = _evidence(policy, baseline, candidate)
    if candidate.errors > allowed_errors:  # cannot pass this step whatever comes next
        return _rollback(policy, evidence, f"{candidate.errors} errors in this step")
    if candidate.requests < need:
        return None
    error_rate = candidate.errors / candidate.requests
    if error_rate > policy["max_error_rate"]:
        return _rollback(policy, evidence, f"error rate {error_rate:.3f}")
    base_p99, cand_p99 = baseline.p99(), candidate.p99()
    if base_p99 and cand_p99 and cand_p99 > policy["max_latency_ratio"] * base_p99:
        return _rollback(
            policy, evidence, f"p99 {cand_p99 * 1e3:.1f} ms vs baseline {base_p99 * 1e3:.1f} ms"
        )
    enough = min(baseline.labelled, candidate.labelled) >= int(policy["min_labels"])
    base_acc, cand_acc = baseline.accuracy(), candidate.accuracy()
    if (
        enough
        and base_acc is not None
        and cand_acc is not None
        and cand_acc < base_acc - policy["max_metric_drop"]
    ):
        return _rollback(policy, evidence, f"accuracy {cand_acc:.3f} vs {base_acc:.3f}")
    step = int(policy["step"]) + 1
    new = {**policy, "step": step}
    if step >= len(policy["steps"]) - 1:
        new.update(status="promoted", step=len(policy["steps"]) - 1)
        weights = {policy["baseline"]: 0.0, policy["candidate"]: 100.0}
        return Decision("canary-promoted", new, weights, evidence)
    share = float(policy["steps"][step])
    weights = {policy["baseline"]: 100.0 - share, policy["candidate"]: share}
    return Decision("canary-step", new, weights, evidence)


def _rollback(policy: dict[str, Any], evidence: dict[str, Any], why: str) -> Decision:
    new = {**policy, "status": "rolled_back"}
    weights = {policy["baseline"]: 100.0, policy["candidate"]: 0.0}
    return Decision("canary-rolled-back", new, weights, {**evidence, "why": why})


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

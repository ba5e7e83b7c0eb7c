"""Promotion gates on deployments: the model version a promotion puts on all traffic must
pass its model's policy (as for the ``production`` stage), compared (``max_drop``) with the
version the deployment serves most now.

A person's ``promote`` is refused with :class:`~shipyard.models.GatesFailed`; a canary
that would promote itself holds instead, at its last split, and records why. A version
whose gates were overridden for ``production`` under the policy in force (``shipyard
models promote churn@7 --force --reason ...``, recorded) may go.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shipyard import models
from shipyard.errors import Conflict

__all__ = ["TARGET", "checked_promotion", "gated_decision", "unchanged"]

TARGET = "production"  # what all of a deployment's traffic is, for the policy


def _report(deployment: Any, chosen: str) -> models.GateReport | None:
    """The failed check of the version route ``chosen`` serves, None when it may go."""
    routes = deployment.routes
    ref = next(r.model for r in routes if r.name == chosen)
    others = [r for r in routes if r.name != chosen and r.model != ref]
    against = max(others, key=lambda r: r.weight).model if others else None
    report = models.check(ref, TARGET, against=against)
    if not report.protected or report.passed:
        return None
    for item in models.evidence(ref, "override"):  # overridden under the same policy: goes
        if item.data.get("to") == TARGET and item.data.get("policy_version") == (
            report.policy_version
        ):
            return None
    return report


def checked_promotion(deployment: Any, route: str | None) -> str:
    """The model reference the route a promotion chooses serves (``route``, or the
    policy's choice), once its gates passed (else GatesFailed naming each failed gate)."""
    from shipyard.serving.policies import policy_of

    if route is not None:
        deployment.route(route)  # NotFound listing the routes
    names = [r.name for r in deployment.routes]
    _, chosen = policy_of(deployment.policy).promote(deployment.policy, names, route)
    report = _report(deployment, chosen)
    if report is not None:
        raise models.GatesFailed(
            report,
            f"Deployment {deployment.name!r} route {chosen!r}: {report.summary()} (policy "
            f"version {report.policy_version}); nothing moved. Fix them, or override on the "
            f"model (shipyard models promote {report.ref} --force --reason TEXT) first.",
        )
    return str(deployment.route(chosen).model)


def unchanged(deployment: Any, chosen: str, model: str) -> None:
    """Refuse if route ``chosen`` serves another model than the one the gates checked."""
    if deployment.route(chosen).model != model:
        raise Conflict(
            f"Deployment {deployment.name!r} route {chosen!r} changed while its gates were "
            "checked; nothing moved. Try again."
        )


def gated_decision(
    deployment: Any,
    policy: dict[str, Any],
    weights: dict[str, float],
    kind: str,
    evidence: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, float], str, dict[str, Any]]:
    """A canary's decision, held (its split kept, ``status: held``) when it would promote
    a version its model's policy refuses; (policy, weights, kind, evidence)."""
    if kind != "canary-promoted":
        return policy, weights, kind, evidence
    report = _report(deployment, str(policy["candidate"]))
    if report is None:
        return policy, weights, kind, evidence
    failed = [r._asdict() for r in report.failed]
    why = f"held, not promoted: {report.summary()}"
    held = {**deployment.policy, "status": "held"}
    split: Mapping[str, float] = deployment.split
    gates = {"policy_version": report.policy_version, "failed": failed}
    return held, dict(split), "canary-held", {**evidence, "why": why, "gates": gates}

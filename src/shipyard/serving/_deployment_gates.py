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
from shipyard.errors import Conflict, InvalidInput

__all__ = [
    "MAJORITY", "TARGET", "checked_change", "checked_majority", "checked_promotion",
    "gated_decision", "same_revision", "unchanged",
]  # fmt: skip

TARGET = "production"  # what all of a deployment's traffic is, for the policy
MAJORITY = 50.0  # a route with more than this share serves production traffic


def _report(deployment: Any, chosen: str) -> models.GateReport | None:
    """The failed check of the version route ``chosen`` serves, None when it may go."""
    routes = deployment.routes
    ref = next(r.model for r in routes if r.name == chosen)
    others = [r for r in routes if r.name != chosen and r.model != ref]
    against = max(others, key=lambda r: r.weight).model if others else None
    return _failed(ref, against)


def _failed(ref: str, against: str | None) -> models.GateReport | None:
    """The failed check of ``ref`` for production traffic, None when it may go."""
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


def checked_majority(
    name: str, before: Any | None, routes: Mapping[str, str], split: Mapping[str, float]
) -> None:
    """Refuse (GatesFailed) a creation or change that gives a model version the majority
    of a deployment's traffic (more than :data:`MAJORITY` percent) it did not have,
    unless it passes its model's policy as :meth:`promote` would check it (a canary's
    candidate at a small share is not refused: its promotion is checked)."""
    old = {} if before is None else {r.name: (r.model, r.weight) for r in before.routes}
    for route, share in split.items():
        model = routes[route]
        kept = old.get(route, (None, 0.0))
        if share <= MAJORITY or (kept[0] == model and kept[1] > MAJORITY):
            continue
        held = [m for m, w in old.values() if w >= MAJORITY and m != model]
        report = _failed(model, held[0] if held else None)
        if report is not None:
            raise models.GatesFailed(
                report,
                f"Deployment {name!r} route {route!r} would serve {share:g}% of traffic: "
                f"{report.summary()} (policy version {report.policy_version}); nothing "
                "moved. Give it a small share (a canary) and promote it through the gates.",
            )


def checked_change(
    deployment: Any, routes: Mapping[str, str], split: Mapping[str, float] | None = None
) -> Any:
    """What a change of some ``routes``' models and (or) of the ``split`` keeps or sets
    (the split; the deployment when ``split`` is None), once it passed
    :func:`checked_majority`."""
    for route in routes:
        deployment.route(route)  # NotFound listing the routes
    models_now = {**{r.name: r.model for r in deployment.routes}, **routes}
    shares = deployment.split if split is None else split
    checked_majority(deployment.name, deployment, models_now, shares)
    return deployment if split is None else split


def same_revision(before: Any, current: Any) -> None:
    """Refuse if the deployment changed while its gates were checked."""
    if current.revision != before.revision or current.id != before.id:
        raise Conflict(
            f"Deployment {current.name!r} changed while its gates were checked; nothing "
            "moved. Try again."
        )


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
    """A decision, held (its split kept, a canary's ``status: held``) when it would
    promote a version its model's policy refuses, or give one more than half the traffic
    (any decision, e.g. one posted by a client); (policy, weights, kind, evidence)."""
    before = deployment.split
    rising = [r for r, w in weights.items() if w > MAJORITY and before.get(r, 0.0) <= MAJORITY]
    promoted = kind == "canary-promoted"
    if not promoted and not rising:
        return policy, weights, kind, evidence
    candidate = policy.get("candidate")
    if promoted and candidate not in deployment.split:
        raise InvalidInput(
            f"policy.candidate: a canary-promoted decision names one of the routes "
            f"({', '.join(deployment.split)}); got {str(candidate)[:64]!r}."
        )
    report = _report(deployment, str(candidate) if promoted else rising[0])
    if report is None:
        return policy, weights, kind, evidence
    failed = [r._asdict() for r in report.failed]
    why = f"held, not {'promoted' if promoted else 'given the majority'}: {report.summary()}"
    held = deployment.policy
    if promoted or "status" in held:
        held = {**held, "status": "held"}
    gates = {"policy_version": report.policy_version, "failed": failed}
    out = "canary-held" if promoted or "candidate" in held else "decision-held"
    return held, dict(before), out, {**evidence, "why": why, "gates": gates}

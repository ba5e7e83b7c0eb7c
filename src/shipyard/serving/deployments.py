"""Deployments: named routes to model versions and a traffic policy, changed live.

``create("fraud", {"a": "fraud@3", "b": "fraud@4"}, policy="fixed", split={"a": 90, "b": 10})``
then ``set_policy``, ``set_route``, ``promote``, ``rollback``. Every change is one transaction
that bumps the deployment's ``revision`` and writes an event (who, when, why, the split before
and after); running servers poll the revision and apply the change without a restart.
``promote`` gives one route all the traffic; ``rollback`` restores the split before the last
promote (or canary step), one step further back each time.

These functions use the default metadata store; :class:`DeploymentStore` is the interface
(``SQLDeploymentStore(database)`` for another store). :func:`statistics` reads what the
deployment's servers (every worker and replica) pooled in the current evidence period.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shipyard.errors import NotFound
from shipyard.serving._deployments import (
    Deployment,
    DeploymentEvent,
    DeploymentStore,
    Route,
    SQLDeploymentStore,
)
from shipyard.serving._evidence_backends import open_evidence
from shipyard.serving._log import InferenceLog
from shipyard.serving._stats import RouteStats
from shipyard.serving._watch import MAIN
from shipyard.serving.policies import policy_of
from shipyard.store import default_database

__all__ = [
    "Deployment",
    "DeploymentEvent",
    "DeploymentStore",
    "Route",
    "SQLDeploymentStore",
    "ab_statistics",
    "as_dict",
    "create",
    "default_store",
    "delete",
    "get",
    "history",
    "last_decision",
    "list_deployments",
    "promote",
    "record_decision",
    "revision",
    "rollback",
    "served",
    "set_policy",
    "set_route",
    "statistics",
]


def as_dict(deployment: Deployment, *, details: bool = False) -> dict[str, Any]:
    """A deployment as JSON-ready values (the CLI's ``--json`` and the REST API). With
    ``details``: ``decision``, the last automatic decision (kind, when, why, evidence) or
    None; ``evidence``, each route's pooled counts in the current period; ``statistics``,
    what :func:`ab_statistics` returns."""
    d = deployment
    out: dict[str, Any] = {
        "name": d.name,
        "policy": d.policy,
        "routes": [{"route": r.name, "model": r.model, "weight": r.weight} for r in d.routes],
        "revision": d.revision,
        "description": d.description,
        "created_at": d.created_at,
        "updated_at": d.updated_at,
    }
    if details:
        out["decision"] = last_decision(d.name)
        stats = statistics(d.name)
        out["evidence"] = {route: _counts(found) for route, found in stats.items()}
        out["statistics"] = policy_of(d.policy).statistics(d.policy, stats)
    return out


def ab_statistics(name: str) -> dict[str, Any]:
    """The policy's statistics on the evidence its servers pooled in the current period:
    the metric per route with its confidence interval, each route against the baseline
    (difference, interval, always-valid p-value, significant) and the winner, if any
    (``RolloutPolicy.statistics``)."""
    deployment = default_store().get(name)
    return policy_of(deployment.policy).statistics(deployment.policy, statistics(name))


def _counts(stats: RouteStats) -> dict[str, Any]:
    p99 = stats.p99()
    return {
        "requests": stats.requests,
        "errors": stats.errors,
        "labelled": stats.labelled,
        "accuracy": stats.accuracy(),
        "rewarded": stats.rewarded,
        "reward_mean": stats.reward_mean(),
        "model_p99_ms": None if p99 is None else round(p99 * 1e3, 3),
    }


def last_decision(name: str, *, look_back: int = 200) -> dict[str, Any] | None:
    """The newest decision a server made on its own (a canary step, promotion or
    rollback, a concluded A/B test): kind, when, why and its evidence; None if none."""
    for event in history(name, limit=look_back):
        evidence = event.detail.get("evidence")
        if evidence is not None:
            return {"kind": event.kind, "at": event.at, "why": evidence.get("why"),
                    "evidence": evidence}  # fmt: skip
    return None


def default_store() -> DeploymentStore:
    """The deployments of the default metadata store (``SHIPYARD_DB_URL``), or of the
    platform server in remote mode (``SHIPYARD_URL``)."""
    remote = _remote()
    return remote if remote is not None else SQLDeploymentStore(default_database())


def _remote() -> Any:
    """The platform server's deployments in remote mode, else None."""
    from shipyard.config import get_settings

    if not get_settings().remote:
        return None
    from shipyard.serving._deployments_http import HttpDeploymentStore
    from shipyard.store import remote_client

    return HttpDeploymentStore(remote_client())


def create(
    name: str,
    routes: Mapping[str, str],
    *,
    policy: str = "fixed",
    description: str | None = None,
    reason: str | None = None,
    **params: Any,
) -> Deployment:
    """A new deployment. ``routes`` maps route names to model references (each must
    resolve now); ``params`` are the policy's (``serving.POLICIES[policy].params``)."""
    return default_store().create(
        name, routes, policy=policy, description=description, reason=reason, **params
    )


def get(name: str) -> Deployment:
    """The deployment named ``name`` (NotFound if there is none)."""
    return default_store().get(name)


def revision(name: str) -> tuple[str, int]:
    """The deployment's id and revision (what servers poll)."""
    return default_store().revision(name)


def list_deployments() -> list[Deployment]:
    """Every deployment, by name."""
    return default_store().list_deployments()


def history(name: str, limit: int = 200) -> list[DeploymentEvent]:
    """Changes and decisions, newest first."""
    return default_store().history(name, limit)


def set_policy(name: str, policy: str, *, reason: str | None = None, **params: Any) -> Deployment:
    """Replace the policy (its split starts over from the policy's own start)."""
    return default_store().set_policy(name, policy, reason=reason, **params)


def set_route(name: str, route: str, model: str, *, reason: str | None = None) -> Deployment:
    """Point a route at another model reference (``fraud@5``); its share is kept."""
    return default_store().set_route(name, route, model, reason=reason)


def promote(name: str, route: str | None = None, *, reason: str | None = None) -> Deployment:
    """All traffic to ``route`` (default: the canary's candidate, blue-green's other
    colour); the split before is kept for :func:`rollback`."""
    return default_store().promote(name, route, reason=reason)


def rollback(name: str, *, reason: str | None = None) -> Deployment:
    """Restore the policy and split from before the last change not yet rolled back."""
    return default_store().rollback(name, reason=reason)


def record_decision(
    name: str,
    seen_revision: int,
    policy: dict[str, Any],
    weights: dict[str, float],
    kind: str,
    evidence: dict[str, Any],
    seen_id: str | None = None,
) -> Deployment | None:
    """A server's decision, applied only if nobody changed the deployment since
    ``seen_revision``; None when someone did."""
    return default_store().record_decision(
        name, seen_revision, policy, weights, kind, evidence, seen_id
    )


def statistics(name: str) -> dict[str, RouteStats]:
    """Each route's statistics in the deployment's current evidence period (a canary's
    step), pooled by every worker and replica serving it: in Redis when
    ``SHIPYARD_REDIS_URL`` is set, else in the metadata store (in remote mode: the
    platform server's). Up to one sync interval (``SHIPYARD_EVIDENCE_SYNC``) behind the
    servers. NotFound for an unknown name."""
    remote = _remote()
    if remote is not None:
        found: dict[str, RouteStats] = remote.statistics(name)
        return found
    deployment = default_store().get(name)
    policy = deployment.policy
    evidence = open_evidence(default_database())
    try:
        epoch = policy_of(policy).epoch(policy)
        period = evidence.begin(deployment.id, epoch, deployment.revision)
        keys = [(route.name, period) for route in deployment.routes]
        return {key[0]: stats for key, stats in evidence.totals(deployment.id, keys).items()}
    finally:
        evidence.close()


def delete(name: str) -> None:
    """Delete a deployment, its history and the evidence its servers pooled (models are
    untouched)."""
    store = default_store()
    if _remote() is not None:  # the server forgets the evidence too
        store.delete(name)
        return
    deployment_id = store.revision(name)[0]
    store.delete(name)
    evidence = open_evidence(default_database())
    try:
        evidence.forget(deployment_id)
    finally:
        evidence.close()


def served(name: str, log_dir: str | Path | None = None) -> Deployment:
    """What serves under ``name``: the deployment of that name or, when there is none, a
    model served plainly (``shipyard serve churn@champion`` serves and logs under
    ``churn``) seen as a deployment of one route, ``main``, to the version its inference
    log (in ``log_dir``) last answered with, else its latest version. What monitors of
    ``name`` resolve their target with.

    Raises:
        NotFound: neither a deployment nor a model is named ``name``.
    """
    from shipyard import models

    try:
        return default_store().get(name)
    except NotFound:
        pass
    try:
        latest = models.get(f"{name}@latest")
    except NotFound:
        raise NotFound(
            f"No deployment named {name!r} (nor a model served plainly under that name). "
            "Try: shipyard deployments list"
        ) from None
    ref = _last_answered(name, log_dir) or f"{name}@{latest.version}"
    return Deployment(
        id="",
        name=name,
        routes=(Route(MAIN, ref, 100.0),),
        policy={"kind": "fixed", "split": {MAIN: 100.0}, "sticky": None},
        revision=0,
        description=f"model {name} served plainly",
        created_at=latest.created_at,
        updated_at=latest.created_at,
    )


def _last_answered(name: str, log_dir: str | Path | None) -> str | None:
    """``model@version`` of the newest answer in the inference log of ``name``, if any."""
    newest = InferenceLog.of(name, log_dir).answered(last=1)
    if newest is None or newest.num_rows == 0:
        return None
    return f"{newest.column('model')[0].as_py()}@{newest.column('version')[0].as_py()}"

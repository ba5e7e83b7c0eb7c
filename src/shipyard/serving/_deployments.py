"""Deployments in the metadata store: routes to model versions, a traffic policy, history.

``create("fraud", {"a": "fraud@3", "b": "fraud@4"}, policy="fixed", split={"a": 90, "b": 10})``
then ``set_policy``, ``set_route``, ``promote``, ``rollback``. Every change is one transaction
that bumps the deployment's ``revision`` and writes an event (who, when, why, the split before
and after); running servers poll the revision and apply the change without a restart.
``promote`` gives one route all the traffic; ``rollback`` restores the split before the last
promote (or canary step), one step further back each time.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy import delete as sql_delete

from shipyard import models
from shipyard._refs import check_name, parse_ref
from shipyard.config import current_user
from shipyard.errors import Conflict, InvalidInput, NotFound
from shipyard.serving._policies import check_policy, initial_weights
from shipyard.serving._tables import DEPLOYMENTS, EVENTS, ROUTES
from shipyard.store import default_database

__all__ = [
    "Deployment",
    "DeploymentEvent",
    "Route",
    "create",
    "delete",
    "get",
    "history",
    "list_deployments",
    "promote",
    "record_decision",
    "revision",
    "rollback",
    "set_policy",
    "set_route",
]


# moves that change the policy and split, and can be undone by rollback (a route's model is
# changed back with set_route, not rollback)
_UNDOABLE = ("promoted", "policy", "canary-step", "canary-promoted", "canary-rolled-back")


@dataclass(frozen=True)
class Route:
    """A named route: the model reference it serves and its share of traffic (percent)."""

    name: str
    model: str
    weight: float


@dataclass(frozen=True)
class Deployment:
    id: str
    name: str
    routes: tuple[Route, ...]
    policy: dict[str, Any]
    revision: int
    description: str | None
    created_at: float
    updated_at: float

    def route(self, name: str) -> Route:
        for route in self.routes:
            if route.name == name:
                return route
        raise NotFound(
            f"Deployment {self.name!r} has no route {name!r} "
            f"(routes: {', '.join(r.name for r in self.routes)})."
        )

    @property
    def split(self) -> dict[str, float]:
        return {r.name: r.weight for r in self.routes}


@dataclass(frozen=True)
class DeploymentEvent:
    kind: str
    detail: dict[str, Any]
    actor: str | None
    reason: str | None
    at: float


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
    resolve now); ``params`` are the policy's (see ``_policies``)."""
    check_name("Deployment", name)
    checked = _check_routes(routes)
    stored = check_policy(policy, list(checked), params)
    weights = initial_weights(stored, list(checked))
    now = time.time()
    deployment_id = uuid.uuid4().hex
    with default_database().write() as conn:
        if conn.scalar(select(DEPLOYMENTS.c.id).where(DEPLOYMENTS.c.name == name)):
            raise Conflict(
                f"Deployment {name!r} exists; change it with set-policy, or delete it first."
            )
        conn.execute(
            insert(DEPLOYMENTS).values(
                id=deployment_id,
                name=name,
                policy=json.dumps(stored),
                revision=1,
                description=description,
                created_at=now,
                updated_at=now,
            )
        )
        _write_routes(conn, deployment_id, checked, weights)
        _event(
            conn, deployment_id, "created", {"routes": checked, "split": weights, **stored}, reason
        )
        return _read(conn, name)


def get(name: str) -> Deployment:
    with default_database().read() as conn:
        return _read(conn, name)


def revision(name: str) -> tuple[str, int]:
    """The deployment's id and revision (one indexed read; servers poll it): a deployment
    deleted and created again under its name has another id."""
    with default_database().read() as conn:
        row = conn.execute(
            select(DEPLOYMENTS.c.id, DEPLOYMENTS.c.revision).where(DEPLOYMENTS.c.name == name)
        ).first()
    if row is None:
        raise NotFound(f"No deployment named {name!r}. Try: shipyard deployments list")
    return str(row.id), int(row.revision)


def list_deployments() -> list[Deployment]:
    with default_database().read() as conn:
        names = conn.scalars(select(DEPLOYMENTS.c.name).order_by(DEPLOYMENTS.c.name)).all()
        return [_read(conn, n) for n in names]


def history(name: str, limit: int = 200) -> list[DeploymentEvent]:
    """Changes and decisions, newest first."""
    with default_database().read() as conn:
        deployment_id = _id(conn, name)
        rows = conn.execute(
            select(EVENTS)
            .where(EVENTS.c.deployment_id == deployment_id)
            .order_by(EVENTS.c.id.desc())
            .limit(limit)
        ).all()
    return [DeploymentEvent(r.kind, json.loads(r.detail), r.actor, r.reason, r.at) for r in rows]


def set_policy(name: str, policy: str, *, reason: str | None = None, **params: Any) -> Deployment:
    """Replace the policy (its split starts over from the policy's own start)."""
    with default_database().write() as conn:
        deployment_id = _lock(conn, name)
        current = _read(conn, name)
        routes = [r.name for r in current.routes]
        stored = check_policy(policy, routes, params)
        weights = initial_weights(stored, routes)
        _change(conn, deployment_id, current, stored, weights, "policy", reason)
        return _read(conn, name)


def set_route(name: str, route: str, model: str, *, reason: str | None = None) -> Deployment:
    """Point a route at another model reference (``fraud@5``); its share is kept."""
    checked = _check_routes({route: model})
    with default_database().write() as conn:
        deployment_id = _lock(conn, name)
        current = _read(conn, name)
        current.route(route)
        conn.execute(
            update(ROUTES)
            .where(ROUTES.c.deployment_id == deployment_id, ROUTES.c.route == route)
            .values(model=checked[route])
        )
        _bump(conn, deployment_id)
        before = current.route(route).model
        _event(
            conn, deployment_id, "route", {"route": route, "before": before, "after": model}, reason
        )
        return _read(conn, name)


def promote(name: str, route: str | None = None, *, reason: str | None = None) -> Deployment:
    """All traffic to ``route``: the canary's candidate, blue-green's other colour, or the
    route named. The split before is kept for :func:`rollback`."""
    with default_database().write() as conn:
        deployment_id = _lock(conn, name)
        current = _read(conn, name)
        policy = dict(current.policy)
        kind = policy["kind"]
        if route is None:
            if kind == "canary":
                route = policy["candidate"]
            elif kind == "blue_green":
                route = next(r.name for r in current.routes if r.name != policy["live"])
            else:
                raise InvalidInput(
                    f"Name the route to promote (routes: "
                    f"{', '.join(r.name for r in current.routes)})."
                )
        current.route(route)
        if kind == "blue_green":
            policy["live"] = route
        elif kind == "canary":
            policy["status"] = "promoted"
            policy["step"] = len(policy["steps"]) - 1
        elif kind == "shadow":
            policy["primary"] = route
        elif kind == "fixed":
            policy["split"] = {r.name: 100.0 if r.name == route else 0.0 for r in current.routes}
        weights = {r.name: 100.0 if r.name == route else 0.0 for r in current.routes}
        _change(conn, deployment_id, current, policy, weights, "promoted", reason)
        return _read(conn, name)


def rollback(name: str, *, reason: str | None = None) -> Deployment:
    """Restore the policy and split from before the last change not yet rolled back."""
    with default_database().write() as conn:
        deployment_id = _lock(conn, name)
        current = _read(conn, name)
        rows = conn.execute(
            select(EVENTS.c.kind, EVENTS.c.detail)
            .where(EVENTS.c.deployment_id == deployment_id)
            .order_by(EVENTS.c.id.desc())
        ).all()
        undone = 0
        for row in rows:
            if row.kind == "rolled-back":
                undone += 1
            elif row.kind in _UNDOABLE and "before" in json.loads(row.detail):
                if undone == 0:
                    before = json.loads(row.detail)["before"]
                    _change(
                        conn,
                        deployment_id,
                        current,
                        before["policy"],
                        before["split"],
                        "rolled-back",
                        reason,
                    )
                    return _read(conn, name)
                undone -= 1
        raise Conflict(f"Deployment {name!r} has no change left to roll back.")


def record_decision(
    name: str,
    seen_revision: int,
    policy: dict[str, Any],
    weights: dict[str, float],
    kind: str,
    evidence: dict[str, Any],
    seen_id: str | None = None,
) -> Deployment | None:
    """A server's decision (a canary step or rollback), applied only if nobody changed the
    deployment since ``seen_revision`` (of the deployment ``seen_id``, when given); None
    when someone did (the decision is dropped)."""
    with default_database().write() as conn:
        deployment_id = _lock(conn, name)
        current = _read(conn, name)
        if current.revision != seen_revision or seen_id not in (None, current.id):
            return None
        _change(conn, deployment_id, current, policy, weights, kind, None, evidence)
        return _read(conn, name)


def delete(name: str) -> None:
    with default_database().write() as conn:
        deployment_id = _lock(conn, name)
        conn.execute(sql_delete(DEPLOYMENTS).where(DEPLOYMENTS.c.id == deployment_id))


# -- inside transactions -------------------------------------------------------------------


def _check_routes(routes: Mapping[str, str]) -> dict[str, str]:
    if not isinstance(routes, Mapping) or not routes:
        raise InvalidInput(
            'routes must map route names to model references, e.g. {"a": "fraud@3"}.'
        )
    checked = {}
    for route, ref in routes.items():
        check_name("Route", route)
        if len(route) > 64:
            raise InvalidInput(f"Route name {route[:20]!r}... is longer than 64 characters.")
        parse_ref("Model", ref)
        try:
            models.get(ref)
        except NotFound as exc:
            raise InvalidInput(f"routes[{route!r}]: {exc}") from exc
        checked[route] = ref
    return checked


def _write_routes(
    conn: Connection, deployment_id: str, routes: Mapping[str, str], weights: Mapping[str, float]
) -> None:
    conn.execute(
        insert(ROUTES),
        [
            {
                "deployment_id": deployment_id,
                "route": route,
                "model": model,
                "weight": float(weights.get(route, 0.0)),
                "position": i,
            }
            for i, (route, model) in enumerate(routes.items())
        ],
    )


def _change(
    conn: Connection,
    deployment_id: str,
    current: Deployment,
    policy: dict[str, Any],
    weights: Mapping[str, float],
    kind: str,
    reason: str | None,
    evidence: dict[str, Any] | None = None,
) -> None:
    for route in current.routes:
        conn.execute(
            update(ROUTES)
            .where(ROUTES.c.deployment_id == deployment_id, ROUTES.c.route == route.name)
            .values(weight=float(weights.get(route.name, 0.0)))
        )
    conn.execute(
        update(DEPLOYMENTS)
        .where(DEPLOYMENTS.c.id == deployment_id)
        .values(policy=json.dumps(policy))
    )
    _bump(conn, deployment_id)
    detail = {
        "before": {"policy": current.policy, "split": current.split},
        "after": {"policy": policy, "split": dict(weights)},
    }
    if evidence:
        detail["evidence"] = evidence
    _event(conn, deployment_id, kind, detail, reason)


def _bump(conn: Connection, deployment_id: str) -> None:
    conn.execute(
        update(DEPLOYMENTS)
        .where(DEPLOYMENTS.c.id == deployment_id)
        .values(revision=DEPLOYMENTS.c.revision + 1, updated_at=time.time())
    )


def _event(
    conn: Connection, deployment_id: str, kind: str, detail: dict[str, Any], reason: str | None
) -> None:
    conn.execute(
        insert(EVENTS).values(
            deployment_id=deployment_id,
            kind=kind,
            detail=json.dumps(detail),
            actor=current_user(),
            reason=reason,
            at=time.time(),
        )
    )


def _id(conn: Connection, name: str) -> str:
    value = conn.scalar(select(DEPLOYMENTS.c.id).where(DEPLOYMENTS.c.name == name))
    if value is None:
        raise NotFound(f"No deployment named {name!r}. Try: shipyard deployments list")
    return str(value)


def _lock(conn: Connection, name: str) -> str:
    value = conn.scalar(
        select(DEPLOYMENTS.c.id).where(DEPLOYMENTS.c.name == name).with_for_update()
    )
    if value is None:
        raise NotFound(f"No deployment named {name!r}. Try: shipyard deployments list")
    return str(value)


def _read(conn: Connection, name: str) -> Deployment:
    row = conn.execute(select(DEPLOYMENTS).where(DEPLOYMENTS.c.name == name)).first()
    if row is None:
        raise NotFound(f"No deployment named {name!r}. Try: shipyard deployments list")
    routes = conn.execute(
        select(ROUTES).where(ROUTES.c.deployment_id == row.id).order_by(ROUTES.c.position)
    ).all()
    return Deployment(
        id=row.id,
        name=row.name,
        routes=tuple(Route(r.route, r.model, float(r.weight)) for r in routes),
        policy=json.loads(row.policy),
        revision=int(row.revision),
        description=row.description,
        created_at=float(row.created_at),
        updated_at=float(row.updated_at),
    )

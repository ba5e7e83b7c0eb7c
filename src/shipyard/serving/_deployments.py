"""The deployment store: routes to model versions, a traffic policy, and their history.

:class:`DeploymentStore` is the interface: a few primitives a backend implements (insert,
read, the revision, history, one locked change, delete) and the moves built on them once
(``create``, ``set_policy``, ``set_route``, ``promote``, ``rollback``,
``record_decision``). Every change is one transaction that bumps the deployment's
``revision`` and writes an event (who, when, why, the split before and after); running
servers poll the revision and apply the change without a restart. What a policy means
(its parameters, its split, what promoting does) is the policy's own definition
(``serving.policies``). :class:`SQLDeploymentStore` keeps them in the metadata store.
"""

from __future__ import annotations

import abc
import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy import delete as sql_delete

from shipyard import models
from shipyard._refs import check_name, parse_ref
from shipyard.config import current_user
from shipyard.errors import Conflict, InvalidInput, NotFound
from shipyard.serving import _deployment_gates as gates
from shipyard.serving._tables import DEPLOYMENTS, EVENTS, ROUTES
from shipyard.serving.policies import check_policy, initial_weights, policy_of
from shipyard.store import Database, append_audit

__all__ = [
    "Change",
    "Deployment",
    "DeploymentEvent",
    "DeploymentStore",
    "Route",
    "SQLDeploymentStore",
]


# moves that change the policy and split, and can be undone by rollback (a route's model is
# changed back with set_route, not rollback)
_UNDOABLE = ("promoted", "policy", "canary-step", "canary-promoted", "canary-rolled-back",
             "ab-concluded")  # fmt: skip


@dataclass(frozen=True)
class Route:
    """A named route: the model reference it serves and its share of traffic (percent)."""

    name: str
    model: str
    weight: float


@dataclass(frozen=True)
class Deployment:
    """A deployment as stored: its routes, policy (JSON: kind, parameters, state) and
    revision."""

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
    """One change or decision of a deployment: what, its detail, who, why and when."""

    kind: str
    detail: dict[str, Any]
    actor: str | None
    reason: str | None
    at: float


@dataclass(frozen=True)
class Change:
    """One change to store: the event (``kind``, ``detail``, ``reason``) and what it sets —
    the policy, the split (percent per route) and route models, each when given."""

    kind: str
    detail: dict[str, Any]
    reason: str | None = None
    policy: dict[str, Any] | None = None
    weights: Mapping[str, float] | None = None
    models: Mapping[str, str] = field(default_factory=dict)


# decides a change from the deployment as stored and its events (newest first, read on
# demand), under the deployment's lock; None leaves it as it is
Decide = Callable[[Deployment, Callable[[], list[DeploymentEvent]]], Change | None]


class DeploymentStore(abc.ABC):
    """Where deployments live: primitives a backend implements, the moves built on them.

    Thread- and process-safe: :meth:`change` holds the deployment's lock while it decides.
    Returned objects are immutable snapshots. Raises NotFound for an unknown name,
    Conflict for a name in use, InvalidInput for routes or a policy that do not check.
    """

    # -- primitives ------------------------------------------------------------------------
    @abc.abstractmethod
    def insert(
        self,
        name: str,
        routes: Mapping[str, str],
        policy: dict[str, Any],
        weights: Mapping[str, float],
        description: str | None,
        reason: str | None,
    ) -> Deployment:
        """Store a new deployment (Conflict if the name is taken), with its "created" event."""

    @abc.abstractmethod
    def get(self, name: str) -> Deployment: ...

    @abc.abstractmethod
    def names(self) -> list[str]:
        """Every deployment's name, sorted."""

    @abc.abstractmethod
    def revision(self, name: str) -> tuple[str, int]:
        """The deployment's id and revision (servers poll it): a deployment deleted and
        created again under its name has another id."""

    @abc.abstractmethod
    def history(self, name: str, limit: int = 200) -> list[DeploymentEvent]:
        """Changes and decisions, newest first."""

    @abc.abstractmethod
    def change(self, name: str, decide: Decide) -> Deployment | None:
        """Apply what ``decide`` returns, under the deployment's lock: one revision, one
        event. None (and nothing stored) when ``decide`` returns None."""

    @abc.abstractmethod
    def delete(self, name: str) -> None: ...

    # -- the moves -------------------------------------------------------------------------
    def create(
        self,
        name: str,
        routes: Mapping[str, str],
        *,
        policy: str = "fixed",
        description: str | None = None,
        reason: str | None = None,
        **params: Any,
    ) -> Deployment:
        """A new deployment. ``routes`` maps route names to model references (each must
        resolve now); ``params`` are the policy's (see ``serving.policies``)."""
        check_name("Deployment", name)
        checked = check_routes(routes)
        stored = check_policy(policy, list(checked), params)
        weights = initial_weights(stored, list(checked))
        gates.checked_majority(name, None, checked, weights)
        return self.insert(name, checked, stored, weights, description, reason)

    def list_deployments(self) -> list[Deployment]:
        return [self.get(n) for n in self.names()]

    def set_policy(
        self, name: str, policy: str, *, reason: str | None = None, **params: Any
    ) -> Deployment:
        """Replace the policy (its split starts over from the policy's own start)."""
        seen = self.get(name)
        stored = check_policy(policy, routes := [r.name for r in seen.routes], params)
        weights = gates.checked_change(seen, {}, initial_weights(stored, routes))

        def decide(current: Deployment, _events: object) -> Change:
            gates.same_revision(seen, current)  # so its routes, and the policy's start
            return _move(current, stored, weights, "policy", reason)

        return self._changed(name, decide)

    def set_route(
        self, name: str, route: str, model: str, *, reason: str | None = None
    ) -> Deployment:
        """Point a route at another model reference (``fraud@5``); its share is kept."""
        checked = check_routes({route: model})
        seen = gates.checked_change(self.get(name), checked)

        def decide(current: Deployment, _events: object) -> Change:
            gates.same_revision(seen, current)
            before = current.route(route).model
            detail = {"route": route, "before": before, "after": model}
            return Change("route", detail, reason, models={route: checked[route]})

        return self._changed(name, decide)

    def promote(
        self, name: str, route: str | None = None, *, reason: str | None = None
    ) -> Deployment:
        """All traffic to ``route``, or to the policy's own choice (the canary's candidate,
        blue-green's other colour). The split before is kept for :meth:`rollback`. The
        version it puts on all traffic must pass its model's policy (GatesFailed)."""
        model = gates.checked_promotion(self.get(name), route)  # outside the transaction

        def decide(current: Deployment, _events: object) -> Change:
            routes = [r.name for r in current.routes]
            policy, chosen = policy_of(current.policy).promote(current.policy, routes, route)
            gates.unchanged(current, chosen, model)
            weights = {r: 100.0 if r == chosen else 0.0 for r in routes}
            return _move(current, policy, weights, "promoted", reason)

        return self._changed(name, decide)

    def rollback(self, name: str, *, reason: str | None = None) -> Deployment:
        """Restore the policy and split from before the last change not yet rolled back."""

        def decide(current: Deployment, events: Callable[[], list[DeploymentEvent]]) -> Change:
            undone = 0
            for event in events():
                if event.kind == "rolled-back":
                    undone += 1
                elif event.kind in _UNDOABLE and "before" in event.detail:
                    if undone == 0:
                        before = event.detail["before"]
                        return _move(
                            current, before["policy"], before["split"], "rolled-back", reason
                        )
                    undone -= 1
            raise Conflict(f"Deployment {name!r} has no change left to roll back.")

        return self._changed(name, decide)

    def record_decision(
        self,
        name: str,
        seen_revision: int,
        policy: dict[str, Any],
        weights: dict[str, float],
        kind: str,
        evidence: dict[str, Any],
        seen_id: str | None = None,
    ) -> Deployment | None:
        """A server's decision (a canary step or rollback), applied only if nobody changed
        the deployment since ``seen_revision`` (of the deployment ``seen_id``, when given);
        None when someone did (the decision is dropped)."""

        decided = gates.gated_decision(self.get(name), policy, weights, kind, evidence)

        def decide(current: Deployment, _events: object) -> Change | None:
            if current.revision != seen_revision or seen_id not in (None, current.id):
                return None
            return _move(current, *decided[:3], None, decided[3])

        return self.change(name, decide)

    def _changed(self, name: str, decide: Decide) -> Deployment:
        done = self.change(name, decide)
        assert done is not None
        return done


def _move(
    current: Deployment,
    policy: dict[str, Any],
    weights: Mapping[str, float],
    kind: str,
    reason: str | None,
    evidence: dict[str, Any] | None = None,
) -> Change:
    """A change of policy and split, its event recording both before and after."""
    detail: dict[str, Any] = {
        "before": {"policy": current.policy, "split": current.split},
        "after": {"policy": policy, "split": dict(weights)},
    }
    if evidence:
        detail["evidence"] = evidence
    return Change(kind, detail, reason, policy=policy, weights=weights)


def check_routes(routes: Mapping[str, str]) -> dict[str, str]:
    """``routes`` checked: names valid, each model reference resolving now."""
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


class SQLDeploymentStore(DeploymentStore):
    """Deployments in the metadata store (``deployments``, ``deployment_routes``,
    ``deployment_events``); a change locks its row (``SELECT ... FOR UPDATE``)."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def insert(
        self,
        name: str,
        routes: Mapping[str, str],
        policy: dict[str, Any],
        weights: Mapping[str, float],
        description: str | None,
        reason: str | None,
    ) -> Deployment:
        now = time.time()
        deployment_id = uuid.uuid4().hex
        with self.database.write() as conn:
            if conn.scalar(select(DEPLOYMENTS.c.id).where(DEPLOYMENTS.c.name == name)):
                raise Conflict(
                    f"Deployment {name!r} exists; change it with set-policy, or delete it first."
                )
            conn.execute(
                insert(DEPLOYMENTS).values(
                    id=deployment_id, name=name, policy=json.dumps(policy), revision=1,
                    description=description, created_at=now, updated_at=now,
                )
            )  # fmt: skip
            _write_routes(conn, deployment_id, routes, weights)
            detail = {"routes": dict(routes), "split": dict(weights), **policy}
            _event(conn, deployment_id, "created", detail, reason)
            return _read(conn, name)

    def get(self, name: str) -> Deployment:
        with self.database.read() as conn:
            return _read(conn, name)

    def names(self) -> list[str]:
        with self.database.read() as conn:
            return list(conn.scalars(select(DEPLOYMENTS.c.name).order_by(DEPLOYMENTS.c.name)).all())

    def list_deployments(self) -> list[Deployment]:
        with self.database.read() as conn:
            names = conn.scalars(select(DEPLOYMENTS.c.name).order_by(DEPLOYMENTS.c.name)).all()
            return [_read(conn, n) for n in names]

    def revision(self, name: str) -> tuple[str, int]:
        with self.database.read() as conn:
            row = conn.execute(
                select(DEPLOYMENTS.c.id, DEPLOYMENTS.c.revision).where(DEPLOYMENTS.c.name == name)
            ).first()
        if row is None:
            raise NotFound(f"No deployment named {name!r}. Try: shipyard deployments list")
        return str(row.id), int(row.revision)

    def history(self, name: str, limit: int = 200) -> list[DeploymentEvent]:
        with self.database.read() as conn:
            return _events(conn, _id(conn, name), limit)

    def change(self, name: str, decide: Decide) -> Deployment | None:
        with self.database.write() as conn:
            deployment_id = _id(conn, name, lock=True)
            current = _read(conn, name)
            change = decide(current, lambda: _events(conn, deployment_id, None))
            if change is None:
                return None
            _apply(conn, deployment_id, current, change)
            return _read(conn, name)

    def delete(self, name: str) -> None:
        with self.database.write() as conn:
            deployment_id = _id(conn, name, lock=True)
            append_audit(conn, "deleted", "deployment", name, before=_read(conn, name).split)
            conn.execute(sql_delete(DEPLOYMENTS).where(DEPLOYMENTS.c.id == deployment_id))


# -- inside transactions -------------------------------------------------------------------


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


def _apply(conn: Connection, deployment_id: str, current: Deployment, change: Change) -> None:
    if change.weights is not None:
        for route in current.routes:
            conn.execute(
                update(ROUTES)
                .where(ROUTES.c.deployment_id == deployment_id, ROUTES.c.route == route.name)
                .values(weight=float(change.weights.get(route.name, 0.0)))
            )
    for name, model in change.models.items():
        conn.execute(
            update(ROUTES)
            .where(ROUTES.c.deployment_id == deployment_id, ROUTES.c.route == name)
            .values(model=model)
        )
    if change.policy is not None:
        conn.execute(
            update(DEPLOYMENTS)
            .where(DEPLOYMENTS.c.id == deployment_id)
            .values(policy=json.dumps(change.policy))
        )
    _bump(conn, deployment_id)
    _event(conn, deployment_id, change.kind, change.detail, change.reason)


def _events(conn: Connection, deployment_id: str, limit: int | None) -> list[DeploymentEvent]:
    query = (
        select(EVENTS).where(EVENTS.c.deployment_id == deployment_id).order_by(EVENTS.c.id.desc())
    )
    if limit is not None:
        query = query.limit(limit)
    rows = conn.execute(query).all()
    return [DeploymentEvent(r.kind, json.loads(r.detail), r.actor, r.reason, r.at) for r in rows]


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
    )  # and the audit log's entry, in the same transaction
    name = str(conn.scalar(select(DEPLOYMENTS.c.name).where(DEPLOYMENTS.c.id == deployment_id)))
    append_audit(conn, kind, "deployment", name, after=detail, reason=reason)


def _id(conn: Connection, name: str, *, lock: bool = False) -> str:
    """The deployment's id (its row locked until the transaction ends with ``lock``)."""
    query = select(DEPLOYMENTS.c.id).where(DEPLOYMENTS.c.name == name)
    value = conn.scalar(query.with_for_update() if lock else query)
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

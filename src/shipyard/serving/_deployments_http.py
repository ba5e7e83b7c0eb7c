"""Deployments in remote mode: :class:`HttpDeploymentStore` does each move with one call
to the platform server's deployments routes (``shipyard server``), which does it with
its SQL store: the same checks, the same errors, one revision and one event per move."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from shipyard._time import epoch
from shipyard.errors import InvalidInput
from shipyard.serving._deployments import (
    Decide,
    Deployment,
    DeploymentEvent,
    DeploymentStore,
    Route,
)
from shipyard.serving._stats import RouteStats
from shipyard.store import RemoteClient

__all__ = ["HttpDeploymentStore"]


def _path(name: str, *rest: str) -> str:
    return "/".join(["/api/deployments", quote(name, safe=""), *(quote(r, safe="") for r in rest)])


def deployment_of(data: Mapping[str, Any]) -> Deployment:
    """A deployment rebuilt from the API's JSON (times back to epoch seconds)."""
    return Deployment(
        id=str(data["id"]),
        name=str(data["name"]),
        routes=tuple(Route(r["route"], r["model"], float(r["weight"])) for r in data["routes"]),
        policy=dict(data["policy"]),
        revision=int(data["revision"]),
        description=data.get("description"),
        created_at=epoch(data["created_at"]) or 0.0,
        updated_at=epoch(data["updated_at"]) or 0.0,
    )


class HttpDeploymentStore(DeploymentStore):
    """The deployments of a platform server. Thread-safe (the client pools connections).
    :meth:`change` with a Python callable cannot travel: each move is its own route."""

    def __init__(self, client: RemoteClient) -> None:
        self.client = client

    # -- primitives ------------------------------------------------------------------------
    def insert(
        self,
        name: str,
        routes: Mapping[str, str],
        policy: dict[str, Any],
        weights: Mapping[str, float],
        description: str | None,
        reason: str | None,
    ) -> Deployment:
        raise InvalidInput(
            "insert: a stored policy cannot be sent as it is; use create(name, routes, "
            "policy=..., **params) in remote mode (SHIPYARD_URL)."
        )

    def get(self, name: str) -> Deployment:
        return deployment_of(self.client.get(_path(name, "revision")))

    def names(self) -> list[str]:
        return [d.name for d in self.list_deployments()]

    def list_deployments(self) -> list[Deployment]:
        return [deployment_of(d) for d in self.client.pages("/api/deployments")]

    def revision(self, name: str) -> tuple[str, int]:
        found = self.client.get(_path(name, "revision"))
        return str(found["id"]), int(found["revision"])

    def history(self, name: str, limit: int = 200) -> list[DeploymentEvent]:
        events: list[DeploymentEvent] = []
        for item in self.client.pages(_path(name, "history"), page_size=min(limit, 1000)):
            events.append(
                DeploymentEvent(
                    kind=item["kind"],
                    detail=item["detail"],
                    actor=item.get("actor"),
                    reason=item.get("reason"),
                    at=epoch(item["at"]) or 0.0,
                )
            )
            if len(events) >= limit:
                break
        return events

    def change(self, name: str, decide: Decide) -> Deployment | None:
        raise InvalidInput(
            "change: a decision function cannot travel over HTTP; use the moves "
            "(set_policy, set_route, promote, rollback) in remote mode (SHIPYARD_URL)."
        )

    def delete(self, name: str) -> None:
        self.client.delete(_path(name))

    # -- the moves, one route each ---------------------------------------------------------
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
        body = {
            "name": name,
            "routes": dict(routes),
            "policy": policy,
            "params": params,
            "description": description,
            "reason": reason,
        }
        return deployment_of(self.client.post("/api/deployments", json=body))

    def set_policy(
        self, name: str, policy: str, *, reason: str | None = None, **params: Any
    ) -> Deployment:
        body = {"policy": policy, "params": params, "reason": reason}
        return deployment_of(self.client.put(_path(name, "policy"), json=body))

    def set_route(
        self, name: str, route: str, model: str, *, reason: str | None = None
    ) -> Deployment:
        body = {"model": model, "reason": reason}
        return deployment_of(self.client.put(_path(name, "routes", route), json=body))

    def promote(
        self, name: str, route: str | None = None, *, reason: str | None = None
    ) -> Deployment:
        body = {"route": route, "reason": reason}
        return deployment_of(self.client.post(_path(name, "promote"), json=body))

    def rollback(self, name: str, *, reason: str | None = None) -> Deployment:
        return deployment_of(self.client.post(_path(name, "rollback"), json={"reason": reason}))

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
        body = {
            "seen_revision": seen_revision,
            "policy": policy,
            "weights": weights,
            "kind": kind,
            "evidence": evidence,
            "seen_id": seen_id,
        }
        found = self.client.post(_path(name, "decisions"), json=body)["deployment"]
        return None if found is None else deployment_of(found)

    def statistics(self, name: str) -> dict[str, RouteStats]:
        """Each route's pooled statistics in the current period (``deployments.statistics``)."""
        found = self.client.get(_path(name, "evidence"))
        return {route: RouteStats.from_json(stats) for route, stats in found["routes"].items()}

"""The model registry through a platform server: remote mode's :class:`ModelBackend`.

With ``SHIPYARD_URL`` set, ``sy.models`` records versions, moves and exports through the
server's REST API (``shipyard server``, ``server/_models.py``) instead of a local database;
each primitive is one request to the route that calls the SQL store's same primitive, so
results, events and error messages are the local ones. Model files and sample rows are
blobs of the artifact store (``store.default_artifacts()``, remote too in remote mode); the
records only name their sha256, checked again at every load.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from shipyard._refs import Ref
from shipyard._time import epoch
from shipyard.models._backend import ModelBackend, NewModelVersion
from shipyard.models._policies import Policy, PolicyVersion
from shipyard.models._policy_rows import Move
from shipyard.models._store import check_alias
from shipyard.models._types import Evidence, Model, ModelEvent, ModelVersion
from shipyard.models._wire import (
    event_from_json,
    model_from_json,
    new_version_json,
    version_from_json,
)
from shipyard.store import RemoteClient

__all__ = ["HttpModelBackend"]

PAGE = 1000  # the largest page the server gives


def _segment(value: str) -> str:
    """One path segment, escaped (a ``.`` or ``..`` segment too: it would be folded away)."""
    escaped = quote(value, safe="")
    return escaped.replace(".", "%2E") if value in (".", "..") else escaped


def _selector(ref: Ref) -> str:
    return str(ref.version) if ref.version is not None else (ref.alias or "latest")


class HttpModelBackend(ModelBackend):
    """The registry of a platform server, over its REST API. Thread-safe (the client pools
    connections across threads); the constructor only stores its argument."""

    def __init__(self, client: RemoteClient) -> None:
        self.client = client

    def _model(self, name: str) -> str:
        return f"/api/models/{_segment(name)}"

    def _version(self, ref: Ref) -> str:
        return f"{self._model(ref.name)}/versions/{_segment(_selector(ref))}"

    # -- registration and reading ------------------------------------------------------

    def add_version(self, name: str, new: NewModelVersion) -> ModelVersion:
        """``POST /api/models/{name}/versions``."""
        found = self.client.post(f"{self._model(name)}/versions", new_version_json(new))
        return version_from_json(found)

    def get(self, version_id: str) -> ModelVersion:
        """``GET /api/model-versions/{id}``."""
        return version_from_json(self.client.get(f"/api/model-versions/{_segment(version_id)}"))

    def resolve(self, ref: Ref) -> ModelVersion:
        """``GET /api/models/{name}/versions/{version}``."""
        return version_from_json(self.client.get(self._version(ref)))

    def resolve_id(self, ref: Ref) -> str:
        """``GET /api/models/{name}/versions/{version}/id``: a small answer."""
        return str(self.client.get(f"{self._version(ref)}/id")["id"])

    def versions(self, name: str) -> list[ModelVersion]:
        """Every page of ``GET /api/models/{name}/versions``."""
        pages = self.client.pages(f"{self._model(name)}/versions", page_size=PAGE)
        return [version_from_json(v) for v in pages]

    def trained_on(self, dataset_version_id: str) -> list[ModelVersion]:
        """Every page of ``GET /api/model-versions?trained_on=``."""
        pages = self.client.pages(
            "/api/model-versions", trained_on=dataset_version_id, page_size=PAGE
        )
        return [version_from_json(v) for v in pages]

    def list_models(self) -> list[Model]:
        """Every page of ``GET /api/models``."""
        return [model_from_json(m) for m in self.client.pages("/api/models", page_size=PAGE)]

    def events(self, name: str, limit: int = 200) -> list[ModelEvent]:
        """The first ``limit`` events of ``GET /api/models/{name}/events``."""
        found: list[ModelEvent] = []
        if limit < 1:
            return found
        for e in self.client.pages(f"{self._model(name)}/events", page_size=min(limit, PAGE)):
            found.append(event_from_json(e))
            if len(found) >= limit:
                break
        return found

    # -- moves ---------------------------------------------------------------------------

    def set_alias(
        self, ref: Ref, alias: str, actor: str | None, reason: str | None
    ) -> ModelVersion:
        """``POST /api/models/{name}/aliases/{alias}``."""
        check_alias(alias)  # before it becomes a path: 'a/b' is refused, not a wrong URL
        body = {"version": _selector(ref), "reason": reason, "actor": actor}
        found = self.client.post(f"{self._model(ref.name)}/aliases/{_segment(alias)}", body)
        return version_from_json(found)

    def remove_alias(self, name: str, alias: str, actor: str | None, reason: str | None) -> None:
        """``DELETE /api/models/{name}/aliases/{alias}``."""
        path = f"{self._model(name)}/aliases/{_segment(alias)}"
        self.client.delete(path, reason=reason, actor=actor or "")

    def set_stage(
        self, ref: Ref, stage: str, actor: str | None, reason: str | None
    ) -> ModelVersion:
        """``POST /api/models/{name}/versions/{version}/stage``."""
        body = {"stage": stage, "reason": reason, "actor": actor}
        return version_from_json(self.client.post(f"{self._version(ref)}/stage", body))

    def rollback(self, name: str, actor: str | None, reason: str | None) -> tuple[int | None, int]:
        """``POST /api/models/{name}/rollback``: (from, to) numbers."""
        found = self.client.post(
            f"{self._model(name)}/rollback", {"reason": reason, "actor": actor}
        )
        return found["previous"], int(found["version"]["version"])

    def delete_version(
        self, ref: Ref, actor: str | None, reason: str | None, force: bool
    ) -> ModelVersion:
        """``DELETE /api/models/{name}/versions/{version}``."""
        found = self.client.delete(
            self._version(ref), force=force, reason=reason, actor=actor or ""
        )
        return version_from_json(found)

    def delete_model(self, name: str) -> int:
        """``DELETE /api/models/{name}`` (the admin role with auth)."""
        return int(self.client.delete(self._model(name))["versions"])

    def add_export(
        self,
        version_id: str,
        fmt: str,
        digest: str,
        size: int,
        meta: Mapping[str, Any],
        report: Mapping[str, Any],
        actor: str | None,
    ) -> ModelVersion:
        """``POST /api/model-versions/{id}/exports``."""
        body = {
            "format": fmt,
            "digest": digest,
            "size": size,
            "meta": dict(meta),
            "report": dict(report),
            "actor": actor,
        }
        path = f"/api/model-versions/{_segment(version_id)}/exports"
        return version_from_json(self.client.post(path, body))

    # -- evidence ----------------------------------------------------------------------

    def add_evidence(
        self, ref: Ref, kind: str, data: Mapping[str, Any], actor: str | None
    ) -> Evidence:
        """``POST /api/models/{name}/versions/{version}/evidence``."""
        body = {"kind": kind, "data": dict(data), "actor": actor}
        return _evidence(self.client.post(f"{self._version(ref)}/evidence", json=body))

    def evidence(self, ref: Ref, kind: str | None = None) -> list[Evidence]:
        """``GET /api/models/{name}/versions/{version}/evidence``."""
        params = {} if kind is None else {"kind": kind}
        found = self.client.get(f"{self._version(ref)}/evidence", **params)
        return [_evidence(item) for item in found["items"]]

    # -- policies, gates and approvals (the server checks the gates) ---------------------

    def set_policy(
        self, name: str, policy: Policy, source: str | None, actor: str | None
    ) -> PolicyVersion:
        """``PUT /api/models/{name}/policy``."""
        body = {"policy": policy.to_dict(), "source": source, "actor": actor}
        return policy_version_from_json(self.client.put(f"{self._model(name)}/policy", body))

    def policies(self, name: str, version: int | None = None) -> list[PolicyVersion]:
        """``GET /api/models/{name}/policies``."""
        params = {} if version is None else {"version": version}
        found = self.client.get(f"{self._model(name)}/policies", **params)
        return [policy_version_from_json(item) for item in found["items"]]

    def move(self, ref: Ref, move: Move) -> ModelVersion:
        """``POST`` the alias or stage route with ``force``: the server checks the gates."""
        body: dict[str, Any] = {"reason": move.reason, "actor": move.actor, "force": move.force}
        if move.kind == "alias":
            check_alias(move.to)
            path = f"{self._model(ref.name)}/aliases/{_segment(move.to)}"
            return version_from_json(self.client.post(path, {**body, "version": _selector(ref)}))
        found = self.client.post(f"{self._version(ref)}/stage", {**body, "stage": move.to})
        return version_from_json(found)

    def check(
        self, ref: Ref, to: str | None, against: str | None = None, score: bool = True
    ) -> dict[str, Any]:
        """``GET /api/models/{name}/versions/{version}/gates``: the server's gate report."""
        given = {"to": to, "against": against, "score": None if score else "false"}
        params = {k: v for k, v in given.items() if v is not None}
        return dict(self.client.get(f"{self._version(ref)}/gates", **params))

    def approve(
        self, ref: Ref, comment: str | None, for_: str | None, actor: str | None
    ) -> Evidence:
        """``POST /api/models/{name}/versions/{version}/approvals`` (the caller's role)."""
        body = {"comment": comment, "for": for_, "actor": actor}
        return _evidence(self.client.post(f"{self._version(ref)}/approvals", json=body))


def policy_version_from_json(item: dict[str, Any]) -> PolicyVersion:
    """A policy version as the API answers it."""
    return PolicyVersion(
        item["model"],
        int(item["version"]),
        Policy.from_dict(item["policy"]),
        item.get("source"),
        epoch(item["created_at"]) or 0.0,
        item.get("created_by"),
    )


def _evidence(item: dict[str, Any]) -> Evidence:
    return Evidence(**{**item, "created_at": epoch(item["created_at"])})

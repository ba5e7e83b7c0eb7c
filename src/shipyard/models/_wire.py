"""The registry's records as JSON and back: what the platform server answers
(``server/_models.py``) and what remote mode's :class:`~shipyard.models._http.HttpModelBackend`
reads, so a record survives the round trip unchanged (times travel as ISO 8601 in UTC, to the
microsecond)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shipyard._time import epoch, iso
from shipyard.models._backend import NewModelVersion
from shipyard.models._types import Export, Model, ModelEvent, ModelVersion

__all__ = [
    "event_from_json",
    "event_json",
    "model_from_json",
    "model_json",
    "new_version_from_json",
    "new_version_json",
    "signature_from_json",
    "version_from_json",
    "version_json",
]


def _time(value: Any) -> float:
    found = epoch(value)
    return 0.0 if found is None else found


def model_json(m: Model) -> dict[str, Any]:
    """A model's summary."""
    return {
        "id": m.id,
        "name": m.name,
        "created_at": iso(m.created_at),
        "description": m.description,
        "versions": m.versions,
        "latest": m.latest,
        "production": m.production,
        "aliases": dict(m.aliases),
    }


def model_from_json(data: Mapping[str, Any]) -> Model:
    return Model(
        id=data["id"],
        name=data["name"],
        created_at=_time(data["created_at"]),
        description=data.get("description"),
        versions=int(data.get("versions") or 0),
        latest=data.get("latest"),
        production=data.get("production"),
        aliases={str(k): int(v) for k, v in (data.get("aliases") or {}).items()},
    )


def _export_json(e: Export) -> dict[str, Any]:
    return {
        "format": e.format,
        "digest": e.digest,
        "size": e.size,
        "meta": e.meta,
        "report": e.report,
        "created_at": iso(e.created_at),
    }


def _export_from_json(data: Mapping[str, Any]) -> Export:
    return Export(
        format=data["format"],
        digest=data["digest"],
        size=int(data["size"]),
        meta=dict(data.get("meta") or {}),
        report=dict(data.get("report") or {}),
        created_at=_time(data["created_at"]),
    )


def version_json(v: ModelVersion) -> dict[str, Any]:
    """A version's full record (signature as :meth:`Signature.to_dict` writes it)."""
    return {
        "id": v.id,
        "model_id": v.model_id,
        "name": v.name,
        "version": v.version,
        "ref": v.ref,
        "flavor": v.flavor,
        "digest": v.digest,
        "size": v.size,
        "flavor_meta": v.flavor_meta,
        "signature": None if v.signature is None else v.signature.to_dict(),
        "environment": v.environment,
        "sample_digest": v.sample_digest,
        "metrics": v.metrics,
        "run_id": v.run_id,
        "source_commit": v.source_commit,
        "stage": v.stage,
        "description": v.description,
        "created_at": iso(v.created_at),
        "created_by": v.created_by,
        "aliases": list(v.aliases),
        "tags": v.tags,
        "datasets": list(v.datasets),
        "exports": {fmt: _export_json(e) for fmt, e in v.exports.items()},
    }


def signature_from_json(data: Mapping[str, Any] | None) -> Any:
    """A :class:`~shipyard.models.Signature` from its JSON form (None stays None)."""
    if data is None:
        return None
    from shipyard.models._signature import Signature  # NumPy, pandas: listings need neither

    return Signature.from_dict(data)


def version_from_json(data: Mapping[str, Any]) -> ModelVersion:
    """The :class:`ModelVersion` a server's answer describes."""
    return ModelVersion(
        id=data["id"],
        model_id=data["model_id"],
        name=data["name"],
        version=int(data["version"]),
        flavor=data["flavor"],
        digest=data["digest"],
        size=int(data["size"]),
        flavor_meta=dict(data.get("flavor_meta") or {}),
        signature=signature_from_json(data.get("signature")),
        environment=dict(data.get("environment") or {}),
        sample_digest=data.get("sample_digest"),
        metrics={str(k): float(m) for k, m in (data.get("metrics") or {}).items()},
        run_id=data.get("run_id"),
        source_commit=data.get("source_commit"),
        stage=data["stage"],
        description=data.get("description"),
        created_at=_time(data["created_at"]),
        created_by=data.get("created_by"),
        aliases=tuple(data.get("aliases") or ()),
        tags={str(k): str(t) for k, t in (data.get("tags") or {}).items()},
        datasets=tuple(data.get("datasets") or ()),
        exports={str(fmt): _export_from_json(e) for fmt, e in (data.get("exports") or {}).items()},
    )


def event_json(e: ModelEvent) -> dict[str, Any]:
    """One recorded move."""
    return {
        "id": e.id,
        "model": e.model,
        "version": e.version,
        "kind": e.kind,
        "before": e.before,
        "after": e.after,
        "actor": e.actor,
        "reason": e.reason,
        "at": iso(e.at),
    }


def event_from_json(data: Mapping[str, Any]) -> ModelEvent:
    return ModelEvent(
        id=int(data["id"]),
        model=data["model"],
        version=data.get("version"),
        kind=data["kind"],
        before=data.get("before"),
        after=data.get("after"),
        actor=data.get("actor"),
        reason=data.get("reason"),
        at=_time(data["at"]),
    )


def new_version_json(new: NewModelVersion) -> dict[str, Any]:
    """The body of a registration (``POST /api/models/{name}/versions``)."""
    return {
        "flavor": new.flavor,
        "digest": new.digest,
        "size": new.size,
        "flavor_meta": dict(new.flavor_meta),
        "signature": None if new.signature is None else new.signature.to_dict(),
        "environment": dict(new.environment),
        "sample_digest": new.sample_digest,
        "metrics": dict(new.metrics),
        "run_id": new.run_id,
        "source_commit": new.source_commit,
        "created_by": new.created_by,
        "description": new.description,
        "tags": dict(new.tags),
        "datasets": list(new.datasets),
        "aliases": list(new.aliases),
        "stage": new.stage,
        "reason": new.reason,
    }


def new_version_from_json(data: Mapping[str, Any]) -> NewModelVersion:
    """The :class:`NewModelVersion` a registration's body describes."""
    return NewModelVersion(
        flavor=data["flavor"],
        digest=data["digest"],
        size=int(data["size"]),
        flavor_meta=dict(data.get("flavor_meta") or {}),
        signature=signature_from_json(data.get("signature")),
        environment=dict(data.get("environment") or {}),
        sample_digest=data.get("sample_digest"),
        metrics=dict(data.get("metrics") or {}),
        run_id=data.get("run_id"),
        source_commit=data.get("source_commit"),
        created_by=data.get("created_by"),
        description=data.get("description"),
        tags=dict(data.get("tags") or {}),
        datasets=tuple(data.get("datasets") or ()),
        aliases=tuple(data.get("aliases") or ()),
        stage=data.get("stage") or "none",
        reason=data.get("reason"),
    )

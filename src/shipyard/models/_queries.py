"""Queries on one connection that the registry's transactions share: resolve, lock, read."""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import Connection, Row, func, insert, select

from shipyard._refs import Ref
from shipyard.errors import NotFound
from shipyard.models._signature import Signature
from shipyard.models._types import STAGES, Export, ModelVersion
from shipyard.store._schema import Base

_t = Base.metadata.tables
MODELS = _t["models"]
VERSIONS = _t["model_versions"]
ALIASES = _t["model_aliases"]
TAGS = _t["model_version_tags"]
INPUTS = _t["model_inputs"]
EXPORTS = _t["model_exports"]
EVENTS = _t["model_events"]
DATASET_VERSIONS = _t["dataset_versions"]
DATASETS = _t["datasets"]


def resolve(conn: Connection, ref: Ref) -> str:
    model_id = conn.scalar(select(MODELS.c.id).where(MODELS.c.name == ref.name))
    if model_id is None:
        raise NotFound(f"No model named {ref.name!r}. Try: shipyard models list")
    where = VERSIONS.c.model_id == model_id
    if ref.version is not None:
        found = conn.scalar(select(VERSIONS.c.id).where(where, VERSIONS.c.version == ref.version))
    elif ref.alias == "latest":
        found = conn.scalar(
            select(VERSIONS.c.id).where(where).order_by(VERSIONS.c.version.desc()).limit(1)
        )
    else:
        found = conn.scalar(
            select(ALIASES.c.version_id).where(
                ALIASES.c.model_id == model_id, ALIASES.c.alias == ref.alias
            )
        )
        if found is None and ref.alias in STAGES:
            found = conn.scalar(
                select(VERSIONS.c.id)
                .where(where, VERSIONS.c.stage == ref.alias)
                .order_by(VERSIONS.c.version.desc())
                .limit(1)
            )
    if found is None:
        raise NotFound(missing(conn, model_id, ref))
    return str(found)


def missing(conn: Connection, model_id: str, ref: Ref) -> str:
    latest = conn.scalar(
        select(func.max(VERSIONS.c.version)).where(VERSIONS.c.model_id == model_id)
    )
    if ref.version is not None or ref.alias == "latest":
        hint = f"latest is {latest}" if latest else "it has no versions"
        return (
            f"Model {ref.name!r} has no version {ref.version or 'latest'} ({hint}). "
            f"Try: shipyard models versions {ref.name}"
        )
    if ref.alias in STAGES:
        return f"Model {ref.name!r} has no version in stage {ref.alias!r}."
    known = conn.scalars(select(ALIASES.c.alias).where(ALIASES.c.model_id == model_id)).all()
    return (
        f"Model {ref.name!r} has no alias {ref.alias!r} (aliases: "
        f"{', '.join(sorted(known)) or 'none'}; or use a version number)."
    )


def model_id(conn: Connection, name: str) -> str:
    model_id = conn.scalar(select(MODELS.c.id).where(MODELS.c.name == name))
    if model_id is None:
        raise NotFound(f"No model named {name!r}. Try: shipyard models list")
    return str(model_id)


def lock(conn: Connection, name: str) -> str:
    """The model's id, its row locked until the transaction ends."""
    model_id = conn.scalar(select(MODELS.c.id).where(MODELS.c.name == name).with_for_update())
    if model_id is None:
        raise NotFound(f"No model named {name!r}. Try: shipyard models list")
    return str(model_id)


def event(
    conn: Connection,
    model_id: str,
    version: int | None,
    kind: str,
    before: str | None,
    after: str | None,
    actor: str | None,
    reason: str | None,
) -> None:
    conn.execute(
        insert(EVENTS).values(
            model_id=model_id,
            version=version,
            kind=kind,
            before=before,
            after=after,
            actor=actor,
            reason=reason,
            at=time.time(),
        )
    )


def info(conn: Connection, version_id: str) -> ModelVersion:
    row = conn.execute(
        select(VERSIONS, MODELS.c.name.label("model_name"))
        .join(MODELS, MODELS.c.id == VERSIONS.c.model_id)
        .where(VERSIONS.c.id == version_id)
    ).first()
    if row is None:
        raise NotFound(f"No model version with id {version_id!r}.")
    aliases = tuple(
        conn.scalars(
            select(ALIASES.c.alias)
            .where(ALIASES.c.version_id == version_id)
            .order_by(ALIASES.c.alias)
        )
    )
    tags = dict(
        conn.execute(select(TAGS.c.key, TAGS.c.value).where(TAGS.c.version_id == version_id)).all()
    )
    datasets = tuple(
        f"{n}@{v}"
        for n, v in conn.execute(
            select(DATASETS.c.name, DATASET_VERSIONS.c.version)
            .join(DATASET_VERSIONS, DATASET_VERSIONS.c.dataset_id == DATASETS.c.id)
            .join(INPUTS, INPUTS.c.dataset_version_id == DATASET_VERSIONS.c.id)
            .where(INPUTS.c.version_id == version_id)
            .order_by(DATASETS.c.name, DATASET_VERSIONS.c.version)
        ).all()
    )
    exports = {
        e.format: Export(
            e.format, e.digest, e.size, json.loads(e.meta), json.loads(e.report), e.created_at
        )
        for e in conn.execute(select(EXPORTS).where(EXPORTS.c.version_id == version_id)).all()
    }
    return _version(row, aliases, tags, datasets, exports)


def at(alias: str, number: int | None) -> str | None:
    return None if number is None else f"{alias}@{number}"


def _version(
    row: Row[Any],
    aliases: tuple[str, ...],
    tags: dict[str, str],
    datasets: tuple[str, ...],
    exports: dict[str, Export],
) -> ModelVersion:
    m = row._mapping
    return ModelVersion(
        id=m["id"],
        model_id=m["model_id"],
        name=m["model_name"],
        version=m["version"],
        flavor=m["flavor"],
        digest=m["digest"],
        size=m["size"],
        flavor_meta=json.loads(m["flavor_meta"]),
        signature=Signature.from_dict(json.loads(m["signature"])) if m["signature"] else None,
        environment=json.loads(m["environment"]),
        sample_digest=m["sample_digest"],
        metrics=json.loads(m["metrics"]) if m["metrics"] else {},
        run_id=m["run_id"],
        source_commit=m["source_commit"],
        stage=m["stage"],
        description=m["description"],
        created_at=m["created_at"],
        created_by=m["created_by"],
        aliases=aliases,
        tags=tags,
        datasets=datasets,
        exports=exports,
    )

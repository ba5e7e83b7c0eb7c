"""Queries on one connection that the registry's transactions share: resolve, lock, read."""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import Connection, Row, bindparam, func, insert, select

from shipyard._refs import Ref
from shipyard.data._tables import DATASETS
from shipyard.data._tables import VERSIONS as DATASET_VERSIONS
from shipyard.errors import NotFound
from shipyard.models._signature import Signature
from shipyard.models._tables import ALIASES, EVENTS, EXPORTS, INPUTS, MODELS, TAGS, VERSIONS
from shipyard.models._types import STAGES, Export, ModelVersion

# The hot path of ``models.load`` is built once: one statement per kind of reference.
_BY_NUMBER = (
    select(VERSIONS.c.id)
    .join(MODELS, MODELS.c.id == VERSIONS.c.model_id)
    .where(MODELS.c.name == bindparam("name"), VERSIONS.c.version == bindparam("number"))
)
_LATEST = (
    select(VERSIONS.c.id)
    .join(MODELS, MODELS.c.id == VERSIONS.c.model_id)
    .where(MODELS.c.name == bindparam("name"))
    .order_by(VERSIONS.c.version.desc())
    .limit(1)
)
_BY_ALIAS = (
    select(ALIASES.c.version_id)
    .join(MODELS, MODELS.c.id == ALIASES.c.model_id)
    .where(MODELS.c.name == bindparam("name"), ALIASES.c.alias == bindparam("alias"))
)


def resolve(conn: Connection, ref: Ref) -> str:
    """The id of the version ``ref`` names: one query when it exists."""
    if ref.version is not None:
        found = conn.scalar(_BY_NUMBER, {"name": ref.name, "number": ref.version})
    elif ref.alias == "latest":
        found = conn.scalar(_LATEST, {"name": ref.name})
    else:
        found = conn.scalar(_BY_ALIAS, {"name": ref.name, "alias": ref.alias})
    if found is not None:
        return str(found)
    owner = model_id(conn, ref.name)  # NotFound for an unknown model
    if ref.alias in STAGES:
        found = conn.scalar(
            select(VERSIONS.c.id)
            .where(VERSIONS.c.model_id == owner, VERSIONS.c.stage == ref.alias)
            .order_by(VERSIONS.c.version.desc())
            .limit(1)
        )
        if found is not None:
            return str(found)
    raise NotFound(missing(conn, owner, ref))


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


_VERSION = (
    select(VERSIONS, MODELS.c.name.label("model_name"))
    .join(MODELS, MODELS.c.id == VERSIONS.c.model_id)
    .where(VERSIONS.c.id == bindparam("vid"))
)
_ALIASES = (
    select(ALIASES.c.alias)
    .where(ALIASES.c.version_id == bindparam("vid"))
    .order_by(ALIASES.c.alias)
)
_TAGS = select(TAGS.c.key, TAGS.c.value).where(TAGS.c.version_id == bindparam("vid"))
_DATASETS = (
    select(DATASETS.c.name, DATASET_VERSIONS.c.version)
    .join(DATASET_VERSIONS, DATASET_VERSIONS.c.dataset_id == DATASETS.c.id)
    .join(INPUTS, INPUTS.c.dataset_version_id == DATASET_VERSIONS.c.id)
    .where(INPUTS.c.version_id == bindparam("vid"))
    .order_by(DATASETS.c.name, DATASET_VERSIONS.c.version)
)
_EXPORTS = select(EXPORTS).where(EXPORTS.c.version_id == bindparam("vid"))


def info(conn: Connection, version_id: str) -> ModelVersion:
    """The full record of a version: row, aliases, tags, dataset inputs, exports."""
    key = {"vid": version_id}
    row = conn.execute(_VERSION, key).first()
    if row is None:
        raise NotFound(f"No model version with id {version_id!r}.")
    aliases = tuple(conn.scalars(_ALIASES, key))
    tags = {k: v for k, v in conn.execute(_TAGS, key).all()}
    datasets = tuple(f"{n}@{v}" for n, v in conn.execute(_DATASETS, key).all())
    exports = {
        e.format: Export(
            e.format, e.digest, e.size, json.loads(e.meta), json.loads(e.report), e.created_at
        )
        for e in conn.execute(_EXPORTS, key).all()
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

"""The model registry over the versioned-registry core, and the queries on one connection
that its transactions share: resolve (stages too), lock, read a version."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, Row, bindparam, select

from shipyard._refs import Ref
from shipyard.data._tables import DATASETS
from shipyard.data._tables import VERSIONS as DATASET_VERSIONS
from shipyard.errors import NotFound
from shipyard.models._tables import ALIASES, EVENTS, EXPORTS, INPUTS, MODELS, TAGS, VERSIONS
from shipyard.models._types import STAGES, Export, ModelVersion
from shipyard.store import Edges, RegistrySpec, VersionedRegistry

#: The model registry: versions numbered from a counter (a deleted number is never reused),
#: every move recorded as an event, stage names reserved, lineage to dataset versions.
REGISTRY = VersionedRegistry(
    RegistrySpec(
        kind="Model",
        cli="models",
        entities=MODELS,
        versions=VERSIONS,
        aliases=ALIASES,
        tags=TAGS,
        fk="model_id",
        events=EVENTS,
        lineage=Edges(INPUTS, child="version_id", parent="dataset_version_id"),
        counter="next_version",
        reserved=STAGES,
    )
)


def resolve(conn: Connection, ref: Ref) -> str:
    """The id of the version ``ref`` names (a stage too): one query when it exists."""
    found = REGISTRY.find(conn, ref)
    if found is not None:
        return found
    owner = REGISTRY.entity_id(conn, ref.name)  # NotFound for an unknown model
    if ref.alias in STAGES:
        found = conn.scalar(
            select(VERSIONS.c.id)
            .where(VERSIONS.c.model_id == owner, VERSIONS.c.stage == ref.alias)
            .order_by(VERSIONS.c.version.desc())
            .limit(1)
        )
        if found is not None:
            return str(found)
        raise NotFound(f"Model {ref.name!r} has no version in stage {ref.alias!r}.")
    raise NotFound(REGISTRY.missing(conn, owner, ref))


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
    row = REGISTRY.row(conn, version_id)
    aliases = REGISTRY.aliases_of(conn, version_id)
    tags = REGISTRY.tags_of(conn, version_id)
    datasets = tuple(f"{n}@{v}" for n, v in conn.execute(_DATASETS, key).all())
    exports = {
        e.format: Export(
            e.format, e.digest, e.size, json.loads(e.meta), json.loads(e.report), e.created_at
        )
        for e in conn.execute(_EXPORTS, key).all()
    }
    return _version(row, aliases, tags, datasets, exports)


def _version(
    row: Row[Any],
    aliases: tuple[str, ...],
    tags: dict[str, str],
    datasets: tuple[str, ...],
    exports: dict[str, Export],
) -> ModelVersion:
    from shipyard.models._signature import Signature  # NumPy, pandas: listings need neither

    m = row._mapping
    return ModelVersion(
        id=m["id"],
        model_id=m["model_id"],
        name=m["entity_name"],
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

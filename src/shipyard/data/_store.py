"""Datasets in the metadata store: a thin layer over the versioned-registry core that adds
the dataset payload (schemas, content hashes, validation, transforms, runs' inputs)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Row, func, insert, select, update
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from shipyard._refs import Ref
from shipyard.data._backend import POLICIES, DatasetBackend, NewVersion, SchemaChanged
from shipyard.data._tables import (
    ALIASES,
    DATASETS,
    LINEAGE,
    RUN_INPUTS,
    SCHEMAS,
    TAGS,
    TRANSFORM_OUTPUTS,
    TRANSFORMS,
    VERSIONS,
)
from shipyard.data._types import Dataset, VersionInfo, checks_state
from shipyard.errors import Conflict, InvalidInput, NotFound
from shipyard.store import Database, Edges, RegistrySpec, VersionedRegistry
from shipyard.tracking._tables import RUNS

__all__ = ["POLICIES", "REGISTRY", "DatasetStore", "NewVersion", "SchemaChanged", "check_alias"]

#: The dataset registry: versions numbered max + 1 (they are never deleted), no events.
REGISTRY = VersionedRegistry(
    RegistrySpec(
        kind="Dataset",
        cli="data",
        entities=DATASETS,
        versions=VERSIONS,
        aliases=ALIASES,
        tags=TAGS,
        fk="dataset_id",
        lineage=Edges(LINEAGE, child="child_id", parent="parent_id"),
        alias_field="aliases",
    )
)


def check_alias(alias: object) -> str:
    """A dataset alias: the registry's one rule (no ``latest``, no version numbers)."""
    return REGISTRY.check_alias(alias)


class DatasetStore(DatasetBackend):
    """Dataset records in a :class:`~shipyard.store.Database` (SQLite, PostgreSQL, memory).

    Thread-safe. The constructor only stores its argument; the database connects on first use.
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- datasets ----------------------------------------------------------------------

    def dataset_or_none(self, name: str) -> Dataset | None:
        """The dataset called ``name``, or None."""
        with self.db.read() as conn:
            row = REGISTRY.entity(conn, name)
        return None if row is None else _dataset(dict(row._mapping))

    def set_policy(self, name: str, policy: str) -> None:
        """Reject invalid new versions, or accept them with warnings."""
        if policy not in POLICIES:
            raise InvalidInput(f"policy must be one of {POLICIES}, got {policy!r}.")
        ds = self.dataset(name)
        with self.db.write() as conn:
            conn.execute(update(DATASETS).where(DATASETS.c.id == ds.id).values(policy=policy))
            REGISTRY.event(conn, ds.id, None, "policy", ds.policy, policy, None, None)

    def list_datasets(self) -> list[Dataset]:
        """Every dataset with its number of versions and latest version."""
        with self.db.read() as conn:
            rows = REGISTRY.summaries(conn)
        return [_dataset(dict(r._mapping), versions=r.n or 0, latest=r.latest) for r in rows]

    # -- schemas -----------------------------------------------------------------------

    def schema(
        self, dataset_id: str, version: int | None = None
    ) -> tuple[int, dict[str, Any]] | None:
        """(schema version, schema JSON), the newest unless ``version`` is given."""
        query = select(SCHEMAS.c.version, SCHEMAS.c.schema).where(
            SCHEMAS.c.dataset_id == dataset_id
        )
        query = (
            query.where(SCHEMAS.c.version == version)
            if version
            else query.order_by(SCHEMAS.c.version.desc()).limit(1)
        )
        with self.db.read() as conn:
            row = conn.execute(query).first()
        return None if row is None else (int(row.version), json.loads(row.schema))

    def put_schema(self, dataset_id: str, schema: Mapping[str, Any]) -> int:
        """Store a new schema version (an edit); returns its number."""
        with self.db.write() as conn:
            return _put_schema(conn, dataset_id, schema)

    # -- versions ----------------------------------------------------------------------

    def by_content(self, dataset_id: str, content_hash: str) -> VersionInfo | None:
        """The version of this dataset with exactly this content, if any."""
        with self.db.read() as conn:
            row = conn.execute(
                select(VERSIONS.c.id).where(
                    VERSIONS.c.dataset_id == dataset_id, VERSIONS.c.content_hash == content_hash
                )
            ).first()
            return None if row is None else _info(conn, row.id)

    def add_version(self, name: str, new: NewVersion) -> VersionInfo:
        """Record a version, and the dataset on its first version, in one transaction.

        The dataset row is locked (SQLite: the write lock) so version numbers never race.
        ``new.expected_schema`` is the schema version the data was validated against (None:
        the dataset had none, and ``new.new_schema`` becomes version 1); if another writer
        changed the schema meanwhile, :class:`SchemaChanged` asks the caller to validate
        again. Identical content registered concurrently returns the version that won, with
        this call's aliases and tags applied to it.
        """
        for attempt in range(3):
            try:
                with self.db.write() as conn:
                    return _add_version(conn, name, new)
            except SAIntegrityError as exc:
                found = self.dataset_or_none(name)
                existing = found and self.by_content(found.id, new.content_hash)
                if existing:
                    self.label(existing.id, new.aliases, new.tags)
                    return self.get(existing.id)
                if attempt == 2:
                    raise Conflict(
                        f"Dataset {name!r} is being written by others; version not stored "
                        f"({exc.orig}). Try again."
                    ) from exc
        raise AssertionError("unreachable")

    def label(self, version_id: str, aliases: Sequence[str], tags: Mapping[str, str]) -> None:
        """Point aliases at a version and set tags on it, in one transaction."""
        if not aliases and not tags:
            return
        with self.db.write() as conn:
            dataset_id = conn.scalar(
                select(VERSIONS.c.dataset_id).where(VERSIONS.c.id == version_id)
            )
            _label(conn, str(dataset_id), version_id, aliases, tags)

    def unknown_versions(self, version_ids: Sequence[str]) -> list[str]:
        """The ids among ``version_ids`` that are not dataset versions."""
        if not version_ids:
            return []
        with self.db.read() as conn:
            found = set(
                conn.scalars(select(VERSIONS.c.id).where(VERSIONS.c.id.in_(list(version_ids))))
            )
        return [v for v in version_ids if v not in found]

    def get(self, version_id: str) -> VersionInfo:
        """A version by id."""
        with self.db.read() as conn:
            return _info(conn, version_id)

    def resolve(self, ref: Ref) -> VersionInfo:
        """The version a reference names: a number, ``latest`` or an alias."""
        with self.db.read() as conn:
            return _info(conn, REGISTRY.resolve(conn, ref))

    def versions(self, name: str) -> list[VersionInfo]:
        """Every version of a dataset, newest first."""
        with self.db.read() as conn:
            ids = REGISTRY.version_ids(conn, REGISTRY.entity_id(conn, name))
            return [_info(conn, i) for i in ids]

    def resolve_default(self, name: str) -> VersionInfo:
        """The newest version that is not flagged (see :class:`DatasetBackend`)."""
        query = select(VERSIONS.c.id, VERSIONS.c.version, VERSIONS.c.validation)
        with self.db.read() as conn:
            dataset_id = REGISTRY.entity_id(conn, name)
            order = VERSIONS.c.version.desc()
            rows = conn.execute(query.where(VERSIONS.c.dataset_id == dataset_id).order_by(order))
            newest = found = None
            for row in rows:  # newest first: usually the first row is the answer
                newest = newest or int(row.version)
                if checks_state(json.loads(row.validation) if row.validation else None) != "failed":
                    found = str(row.id)
                    break
            rows.close()
            if found is not None:
                return _info(conn, found)
        if newest is None:
            raise NotFound(f"Dataset {name!r} has no versions yet.")
        raise NotFound(
            f"Dataset {name!r} has no version that passed its checks (the newest, "
            f"{name}@{newest}, failed them). Use {name}@{newest} explicitly, or accept it: "
            f"shipyard data accept {name}@{newest}"
        )

    def accept(self, version_id: str) -> None:
        """Mark a version that failed its checks as accepted."""
        with self.db.write() as conn:
            raw = conn.scalar(select(VERSIONS.c.validation).where(VERSIONS.c.id == version_id))
            report = json.loads(raw) if raw else None
            if checks_state(report) != "failed":
                return
            assert report is not None
            conn.execute(
                update(VERSIONS)
                .where(VERSIONS.c.id == version_id)
                .values(validation=json.dumps({**report, "accepted": True}))
            )
            row = conn.execute(select(VERSIONS).where(VERSIONS.c.id == version_id)).one()
            REGISTRY.event(
                conn, row.dataset_id, row.version, "accepted", "failed", None, None, None
            )

    def set_alias(self, dataset_id: str, alias: str, version_id: str) -> None:
        """Point ``alias`` at a version (moving it if it pointed elsewhere)."""
        with self.db.write() as conn:
            REGISTRY.set_alias(conn, dataset_id, alias, version_id)

    def remove_alias(self, dataset_id: str, alias: str) -> None:
        """Delete an alias; a missing one is a :class:`NotFound` listing the known ones."""
        with self.db.write() as conn:
            REGISTRY.remove_alias(conn, dataset_id, alias)

    # -- lineage -----------------------------------------------------------------------

    def record_input(self, run_id: str, version_id: str) -> None:
        """Remember that a run read a version (idempotent, also across threads)."""
        try:
            with self.db.write() as conn:
                seen = conn.scalar(
                    select(RUN_INPUTS.c.run_id).where(
                        RUN_INPUTS.c.run_id == run_id, RUN_INPUTS.c.version_id == version_id
                    )
                )
                if seen is None:
                    conn.execute(insert(RUN_INPUTS).values(run_id=run_id, version_id=version_id))
        except SAIntegrityError:
            pass  # recorded by a concurrent read of the same version in the same run

    def children(self, version_id: str) -> list[str]:
        """Ids of versions made from this one."""
        with self.db.read() as conn:
            return REGISTRY.children(conn, version_id)

    def readers(self, version_id: str) -> list[dict[str, Any]]:
        """Runs that read this version: id, name, status."""
        query = (
            select(RUNS.c.id, RUNS.c.name, RUNS.c.status)
            .join(RUN_INPUTS, RUN_INPUTS.c.run_id == RUNS.c.id)
            .where(RUN_INPUTS.c.version_id == version_id)
            .order_by(RUNS.c.start_time)
        )
        with self.db.read() as conn:
            return [dict(r._mapping) for r in conn.execute(query).all()]

    def run_inputs(self, run_id: str) -> list[VersionInfo]:
        """Dataset versions a run read."""
        with self.db.read() as conn:
            ids = conn.scalars(
                select(RUN_INPUTS.c.version_id).where(RUN_INPUTS.c.run_id == run_id)
            ).all()
            return [_info(conn, i) for i in ids]

    # -- transforms --------------------------------------------------------------------

    def transform(self, name: str, kind: str, code: str, code_hash: str) -> str:
        """The id of this transform at this code (recorded on first sight)."""
        query = select(TRANSFORMS.c.id).where(
            TRANSFORMS.c.name == name, TRANSFORMS.c.code_hash == code_hash
        )
        with self.db.read() as conn:
            found = conn.scalar(query)
        if found is not None:
            return str(found)
        try:
            with self.db.write() as conn:
                new_id = uuid.uuid4().hex
                conn.execute(
                    insert(TRANSFORMS).values(
                        id=new_id,
                        name=name,
                        kind=kind,
                        code=code,
                        code_hash=code_hash,
                        created_at=time.time(),
                    )
                )
                return new_id
        except SAIntegrityError:
            with self.db.read() as conn:
                return str(conn.scalar(query))

    def transform_code(self, transform_id: str) -> dict[str, Any]:
        """Name, kind and code of a transform."""
        with self.db.read() as conn:
            row = conn.execute(select(TRANSFORMS).where(TRANSFORMS.c.id == transform_id)).first()
        if row is None:
            raise NotFound(f"No transform with id {transform_id!r}.")
        return dict(row._mapping)

    def cached_output(self, transform_id: str, input_key: str) -> VersionInfo | None:
        """The version this transform already made from these inputs and params."""
        with self.db.read() as conn:
            found = conn.scalar(
                select(TRANSFORM_OUTPUTS.c.version_id).where(
                    TRANSFORM_OUTPUTS.c.transform_id == transform_id,
                    TRANSFORM_OUTPUTS.c.input_key == input_key,
                )
            )
            return None if found is None else _info(conn, found)

    def cache_output(self, transform_id: str, input_key: str, version_id: str) -> None:
        """Remember the output of a transform run."""
        try:
            with self.db.write() as conn:
                conn.execute(
                    insert(TRANSFORM_OUTPUTS).values(
                        transform_id=transform_id, input_key=input_key, version_id=version_id
                    )
                )
        except SAIntegrityError:
            pass  # the same run finished concurrently: either output is right


_NO = (None, None)  # no actor given (the context's), no reason


def _put_schema(conn: Connection, dataset_id: str, schema: Mapping[str, Any]) -> int:
    current = (
        conn.scalar(select(func.max(SCHEMAS.c.version)).where(SCHEMAS.c.dataset_id == dataset_id))
        or 0
    )
    conn.execute(
        insert(SCHEMAS).values(
            dataset_id=dataset_id,
            version=current + 1,
            schema=json.dumps(schema, sort_keys=True),
            created_at=time.time(),
        )
    )
    return int(current) + 1


def _add_version(conn: Connection, name: str, new: NewVersion) -> VersionInfo:
    dataset_id = REGISTRY.lock_or_create(
        conn, name, {"description": new.description, "policy": new.policy}
    )
    current = conn.scalar(
        select(func.max(SCHEMAS.c.version)).where(SCHEMAS.c.dataset_id == dataset_id)
    )
    if current != new.expected_schema:
        raise SchemaChanged(name)
    schema_version = (
        _put_schema(conn, dataset_id, new.new_schema) if new.new_schema is not None else current
    )
    version_id, number = REGISTRY.add_version(conn, dataset_id, _payload(new, schema_version))
    REGISTRY.event(conn, dataset_id, number, "registered", None, new.content_hash, None, None)
    REGISTRY.add_edges(conn, version_id, new.parents)
    _label(conn, dataset_id, version_id, new.aliases, new.tags)
    return _info(conn, version_id)


def _payload(new: NewVersion, schema_version: int | None) -> dict[str, Any]:
    """The dataset columns of a new version row."""
    return {
        "content_hash": new.content_hash,
        "digest": new.digest,
        "rows": new.rows,
        "columns": new.columns,
        "size": new.size,
        "schema_version": schema_version,
        "profile_digest": new.profile_digest,
        "validation": json.dumps(new.validation) if new.validation is not None else None,
        "created_at": time.time(),
        "run_id": new.run_id,
        "transform_id": new.transform_id,
        "transform_params": (
            json.dumps(new.transform_params, sort_keys=True)
            if new.transform_params is not None
            else None
        ),
        "description": new.description,
    }


def _label(
    conn: Connection,
    dataset_id: str,
    version_id: str,
    aliases: Sequence[str],
    tags: Mapping[str, str],
) -> None:
    REGISTRY.set_tags(conn, version_id, tags)
    for alias in aliases:
        REGISTRY.set_alias(conn, dataset_id, alias, version_id)


def _info(conn: Connection, version_id: str) -> VersionInfo:
    row = REGISTRY.row(conn, version_id)
    return _version(
        row,
        REGISTRY.aliases_of(conn, version_id),
        REGISTRY.tags_of(conn, version_id),
        REGISTRY.parents(conn, version_id),
    )


def _dataset(m: Mapping[str, Any], versions: int = 0, latest: int | None = None) -> Dataset:
    return Dataset(
        m["id"], m["name"], m["created_at"], m["description"], m["policy"], versions, latest
    )


def _version(
    row: Row[Any], aliases: tuple[str, ...], tags: dict[str, str], parents: tuple[str, ...]
) -> VersionInfo:
    m = row._mapping
    return VersionInfo(
        id=m["id"],
        dataset_id=m["dataset_id"],
        name=m["entity_name"],
        version=m["version"],
        content_hash=m["content_hash"],
        digest=m["digest"],
        rows=m["rows"],
        columns=m["columns"],
        size=m["size"],
        schema_version=m["schema_version"],
        profile_digest=m["profile_digest"],
        validation=json.loads(m["validation"]) if m["validation"] else None,
        created_at=m["created_at"],
        run_id=m["run_id"],
        transform_id=m["transform_id"],
        transform_params=json.loads(m["transform_params"]) if m["transform_params"] else None,
        description=m["description"],
        aliases=aliases,
        tags=tags,
        parents=parents,
    )

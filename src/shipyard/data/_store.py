"""Datasets, versions, schemas, aliases, tags, lineage and transforms in the metadata store."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from shipyard._refs import Ref
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
from shipyard.data._types import Dataset, VersionInfo
from shipyard.errors import Conflict, InvalidInput, NotFound
from shipyard.store import Database
from shipyard.tracking._tables import RUNS

POLICIES = ("warn", "reject")
RESERVED_ALIASES = "'latest' and version numbers (3, v3)"


@dataclass(frozen=True)
class NewVersion:
    """What :meth:`DatasetStore.add_version` records for a new version."""

    policy: str
    expected_schema: int | None
    content_hash: str
    digest: str
    rows: int
    columns: int
    size: int
    profile_digest: str | None
    validation: Mapping[str, Any] | None
    new_schema: Mapping[str, Any] | None
    run_id: str | None
    parents: Sequence[str] = ()
    transform_id: str | None = None
    transform_params: Mapping[str, Any] | None = None
    description: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    aliases: Sequence[str] = ()


class SchemaChanged(Exception):
    """Another writer changed the dataset's schema while this version was being validated."""


def check_alias(alias: str) -> str:
    """An alias that does not shadow ``latest`` or a version number."""
    if alias == "latest" or alias.isdigit() or (alias[:1] in "vV" and alias[1:].isdigit()):
        raise InvalidInput(
            f"Alias {alias!r} is reserved: {RESERVED_ALIASES} always mean what "
            "they say. Field: aliases."
        )
    return alias


class DatasetStore:
    """Dataset records in a :class:`~shipyard.store.Database`. Thread-safe."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- datasets ----------------------------------------------------------------------

    def dataset(self, name: str) -> Dataset:
        """The dataset called ``name`` (datasets are created with their first version)."""
        found = self.dataset_or_none(name)
        if found is None:
            raise NotFound(f"No dataset named {name!r}. Try: shipyard data list")
        return found

    def set_policy(self, name: str, policy: str) -> None:
        """Reject invalid new versions, or accept them with warnings."""
        if policy not in POLICIES:
            raise InvalidInput(f"policy must be one of {POLICIES}, got {policy!r}.")
        ds = self.dataset(name)
        with self.db.write() as conn:
            conn.execute(update(DATASETS).where(DATASETS.c.id == ds.id).values(policy=policy))

    def list_datasets(self) -> list[Dataset]:
        """Every dataset with its number of versions and latest version."""
        counts = (
            select(
                VERSIONS.c.dataset_id,
                func.count().label("n"),
                func.max(VERSIONS.c.version).label("latest"),
            )
            .group_by(VERSIONS.c.dataset_id)
            .subquery()
        )
        query = (
            select(DATASETS, counts.c.n, counts.c.latest)
            .outerjoin(counts, counts.c.dataset_id == DATASETS.c.id)
            .order_by(DATASETS.c.name)
        )
        with self.db.read() as conn:
            return [
                _dataset(dict(r._mapping), versions=r.n or 0, latest=r.latest)
                for r in conn.execute(query).all()
            ]

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
            return self._put_schema(conn, dataset_id, schema)

    def _put_schema(self, conn: Connection, dataset_id: str, schema: Mapping[str, Any]) -> int:
        current = (
            conn.scalar(
                select(func.max(SCHEMAS.c.version)).where(SCHEMAS.c.dataset_id == dataset_id)
            )
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

    # -- versions ----------------------------------------------------------------------

    def by_content(self, dataset_id: str, content_hash: str) -> VersionInfo | None:
        """The version of this dataset with exactly this content, if any."""
        with self.db.read() as conn:
            row = conn.execute(
                select(VERSIONS.c.id).where(
                    VERSIONS.c.dataset_id == dataset_id, VERSIONS.c.content_hash == content_hash
                )
            ).first()
            return None if row is None else self._info(conn, row.id)

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
                    return self._add_version(conn, name, new)
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

    def _add_version(self, conn: Connection, name: str, new: NewVersion) -> VersionInfo:
        dataset_id = conn.scalar(
            select(DATASETS.c.id).where(DATASETS.c.name == name).with_for_update()
        )
        if dataset_id is None:
            dataset_id = uuid.uuid4().hex
            conn.execute(
                insert(DATASETS).values(
                    id=dataset_id,
                    name=name,
                    created_at=time.time(),
                    description=new.description,
                    policy=new.policy,
                )
            )
        current = conn.scalar(
            select(func.max(SCHEMAS.c.version)).where(SCHEMAS.c.dataset_id == dataset_id)
        )
        if current != new.expected_schema:
            raise SchemaChanged(name)
        schema_version = (
            self._put_schema(conn, dataset_id, new.new_schema)
            if new.new_schema is not None
            else current
        )
        number = (
            conn.scalar(
                select(func.max(VERSIONS.c.version)).where(VERSIONS.c.dataset_id == dataset_id)
            )
            or 0
        ) + 1
        version_id = uuid.uuid4().hex
        conn.execute(
            insert(VERSIONS).values(
                id=version_id,
                dataset_id=dataset_id,
                version=number,
                content_hash=new.content_hash,
                digest=new.digest,
                rows=new.rows,
                columns=new.columns,
                size=new.size,
                schema_version=schema_version,
                profile_digest=new.profile_digest,
                validation=json.dumps(new.validation) if new.validation is not None else None,
                created_at=time.time(),
                run_id=new.run_id,
                transform_id=new.transform_id,
                transform_params=(
                    json.dumps(new.transform_params, sort_keys=True)
                    if new.transform_params is not None
                    else None
                ),
                description=new.description,
            )
        )
        if new.parents:
            conn.execute(
                insert(LINEAGE),
                [{"child_id": version_id, "parent_id": p} for p in dict.fromkeys(new.parents)],
            )
        self._label(conn, dataset_id, version_id, new.aliases, new.tags)
        return self._info(conn, version_id)

    def label(self, version_id: str, aliases: Sequence[str], tags: Mapping[str, str]) -> None:
        """Point aliases at a version and set tags on it, in one transaction."""
        if not aliases and not tags:
            return
        with self.db.write() as conn:
            dataset_id = conn.scalar(
                select(VERSIONS.c.dataset_id).where(VERSIONS.c.id == version_id)
            )
            self._label(conn, str(dataset_id), version_id, aliases, tags)

    def _label(
        self,
        conn: Connection,
        dataset_id: str,
        version_id: str,
        aliases: Sequence[str],
        tags: Mapping[str, str],
    ) -> None:
        if tags:
            conn.execute(
                delete(TAGS).where(TAGS.c.version_id == version_id, TAGS.c.key.in_(list(tags)))
            )
            conn.execute(
                insert(TAGS),
                [{"version_id": version_id, "key": k, "value": v} for k, v in tags.items()],
            )
        for alias in aliases:
            self._set_alias(conn, dataset_id, alias, version_id)

    def dataset_or_none(self, name: str) -> Dataset | None:
        """The dataset called ``name``, or None."""
        with self.db.read() as conn:
            row = conn.execute(select(DATASETS).where(DATASETS.c.name == name)).first()
        return None if row is None else _dataset(dict(row._mapping))

    def versions_exist(self, version_ids: Sequence[str]) -> list[str]:
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
            return self._info(conn, version_id)

    def resolve(self, ref: Ref) -> VersionInfo:
        """The version a reference names: a number, ``latest`` or an alias."""
        with self.db.read() as conn:
            ds = conn.execute(select(DATASETS.c.id).where(DATASETS.c.name == ref.name)).first()
            if ds is None:
                raise NotFound(f"No dataset named {ref.name!r}. Try: shipyard data list")
            latest = conn.scalar(
                select(func.max(VERSIONS.c.version)).where(VERSIONS.c.dataset_id == ds.id)
            )
            if ref.version is not None or ref.alias == "latest":
                number = ref.version if ref.version is not None else latest
                row = conn.execute(
                    select(VERSIONS.c.id).where(
                        VERSIONS.c.dataset_id == ds.id, VERSIONS.c.version == number
                    )
                ).first()
                if row is None and number is None:
                    raise NotFound(f"Dataset {ref.name!r} has no versions yet.")
                if row is None:
                    hint = f"latest is {latest}" if latest else "it has no versions yet"
                    raise NotFound(
                        f"Dataset {ref.name!r} has no version {number} ({hint}). "
                        f"Try: shipyard data versions {ref.name}"
                    )
                return self._info(conn, row.id)
            row = conn.execute(
                select(ALIASES.c.version_id).where(
                    ALIASES.c.dataset_id == ds.id, ALIASES.c.alias == ref.alias
                )
            ).first()
            if row is None:
                known = conn.scalars(
                    select(ALIASES.c.alias).where(ALIASES.c.dataset_id == ds.id)
                ).all()
                raise NotFound(
                    f"Dataset {ref.name!r} has no alias {ref.alias!r} (aliases: "
                    f"{', '.join(known) or 'none'}; or use a version number)."
                )
            return self._info(conn, row.version_id)

    def versions(self, name: str) -> list[VersionInfo]:
        """Every version of a dataset, newest first."""
        ds = self.dataset(name)
        with self.db.read() as conn:
            ids = conn.scalars(
                select(VERSIONS.c.id)
                .where(VERSIONS.c.dataset_id == ds.id)
                .order_by(VERSIONS.c.version.desc())
            ).all()
            return [self._info(conn, i) for i in ids]

    def set_alias(self, dataset_id: str, alias: str, version_id: str) -> None:
        """Point ``alias`` at a version (moving it if it pointed elsewhere)."""
        with self.db.write() as conn:
            self._set_alias(conn, dataset_id, alias, version_id)

    def _set_alias(self, conn: Connection, dataset_id: str, alias: str, version_id: str) -> None:
        check_alias(alias)
        conn.execute(
            delete(ALIASES).where(ALIASES.c.dataset_id == dataset_id, ALIASES.c.alias == alias)
        )
        conn.execute(
            insert(ALIASES).values(dataset_id=dataset_id, alias=alias, version_id=version_id)
        )

    def remove_alias(self, dataset_id: str, alias: str) -> None:
        """Delete an alias; a missing one is a :class:`NotFound` listing the known ones."""
        with self.db.write() as conn:
            gone = conn.execute(
                delete(ALIASES).where(ALIASES.c.dataset_id == dataset_id, ALIASES.c.alias == alias)
            ).rowcount
            known = list(
                conn.scalars(select(ALIASES.c.alias).where(ALIASES.c.dataset_id == dataset_id))
            )
            name = conn.scalar(select(DATASETS.c.name).where(DATASETS.c.id == dataset_id))
        if not gone:
            raise NotFound(
                f"Dataset {name!r} has no alias {alias!r} to remove (aliases: "
                f"{', '.join(known) or 'none'})."
            )

    def set_tags(self, version_id: str, tags: Mapping[str, str]) -> None:
        """Set tags on a version (replacing values of the same keys)."""
        self.label(version_id, (), tags)

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
            return list(
                conn.scalars(select(LINEAGE.c.child_id).where(LINEAGE.c.parent_id == version_id))
            )

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
            return [self._info(conn, i) for i in ids]

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
            return None if found is None else self._info(conn, found)

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

    # -- helpers -----------------------------------------------------------------------

    def _info(self, conn: Connection, version_id: str) -> VersionInfo:
        row = conn.execute(
            select(VERSIONS, DATASETS.c.name.label("dataset_name"))
            .join(DATASETS, DATASETS.c.id == VERSIONS.c.dataset_id)
            .where(VERSIONS.c.id == version_id)
        ).first()
        if row is None:
            raise NotFound(f"No dataset version with id {version_id!r}.")
        aliases = tuple(
            conn.scalars(
                select(ALIASES.c.alias)
                .where(ALIASES.c.version_id == version_id)
                .order_by(ALIASES.c.alias)
            )
        )
        tags = {
            k: v
            for k, v in conn.execute(
                select(TAGS.c.key, TAGS.c.value).where(TAGS.c.version_id == version_id)
            ).all()
        }
        parents = tuple(
            conn.scalars(select(LINEAGE.c.parent_id).where(LINEAGE.c.child_id == version_id))
        )
        return _version(row, aliases, tags, parents)


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
        name=m["dataset_name"],
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

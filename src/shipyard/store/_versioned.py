"""The versioned-registry core: names, numbered versions, aliases, tags, events and lineage.

Datasets and models (and, next, pipelines and feature views) are thin layers over one
:class:`VersionedRegistry`, each describing its own tables with a :class:`RegistrySpec` and
adding its payload columns. The core runs inside the capability's transactions: every method
takes the open :class:`~sqlalchemy.Connection`, so a registration or a move is one
transaction with its payload and its event.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sqlalchemy import Connection, Row, Table, bindparam, delete, func, insert, select, update

from shipyard._refs import _SELECTOR, Ref
from shipyard.errors import InvalidInput, NotFound
from shipyard.store._audit import append as append_audit

__all__ = ["Edges", "RegistrySpec", "VersionedRegistry", "check_alias", "watch_versions"]

_made: ContextVar[list[str] | None] = ContextVar("shipyard_versions_made", default=None)


@contextmanager
def watch_versions() -> Iterator[list[str]]:
    """Collect the versions registered meanwhile in this context (``model:churn@3``,
    ``dataset:loans@2``), so a pipeline step can link what it made."""
    made: list[str] = []
    token = _made.set(made)
    try:
        yield made
    finally:
        _made.reset(token)


def check_alias(alias: object, reserved: Sequence[str] = (), *, field: str = "alias") -> str:
    """An alias: 1 to 64 letters, digits, ``_-.``, that shadows no reference word.

    ``latest``, version numbers (``3``, ``v3``) and the capability's ``reserved`` words (the
    model stages) are refused whatever their case.

    Raises:
        InvalidInput: a malformed or reserved alias.
    """
    if not isinstance(alias, str) or not _SELECTOR.match(alias):
        raise InvalidInput(
            f"Alias {alias!r} is not valid: expected 1 to 64 letters, digits, '_', '-' or '.'."
        )
    folded = alias.lower()
    words = ("latest", *reserved)
    if folded in words or alias.isdigit() or (folded[:1] == "v" and alias[1:].isdigit()):
        named = ", ".join(repr(w) for w in words)
        raise InvalidInput(
            f"Alias {alias!r} is reserved: {named} and version numbers (3, v3) always mean "
            f"what they say. Field: {field}."
        )
    return alias


def at(alias: str, number: int | None) -> str | None:
    """``alias@number`` for an event's before/after, None when there is no number."""
    return None if number is None else f"{alias}@{number}"


@dataclass(frozen=True)
class Edges:
    """A lineage table: ``child`` column (a version of this registry) made from ``parent``."""

    table: Table
    child: str
    parent: str


@dataclass(frozen=True)
class RegistrySpec:
    """The tables one capability's registry lives in (the capability owns and migrates them).

    ``entities`` has ``id``, ``name``, ``created_at`` (and, with ``counter``, the column
    numbering versions, so a deleted version's number is never reused; without it the next
    number is ``max(version) + 1``). ``versions`` has ``id``, the ``fk`` column, ``version``.
    ``aliases`` has ``fk``, ``alias``, ``version_id``; ``tags`` has ``version_id``, ``key``,
    ``value``; ``events`` (optional) has ``id``, ``fk``, ``version``, ``kind``, ``before``,
    ``after``, ``actor``, ``reason``, ``at``.
    """

    kind: str  # "Dataset", "Model": the noun of messages
    cli: str  # "data", "models": the CLI group named in hints
    entities: Table
    versions: Table
    aliases: Table
    tags: Table
    fk: str
    events: Table | None = None
    lineage: Edges | None = None
    counter: str | None = None
    reserved: tuple[str, ...] = ()  # alias words besides 'latest' and numbers
    alias_field: str = "alias"  # the field named when an alias is refused


class VersionedRegistry:
    """Statements of one registry, run on the caller's connection.

    Stateless apart from statements built once on first use, so one instance per spec is
    shared by every thread. Raises :class:`~shipyard.errors.NotFound` for unknown names,
    versions and aliases, :class:`~shipyard.errors.InvalidInput` for refused aliases.
    """

    def __init__(self, spec: RegistrySpec) -> None:
        self.spec = spec

    # -- statements built once (the hot path of loads resolves with one of them) -------

    @cached_property
    def _statements(self) -> dict[str, Any]:
        s = self.spec
        ent, ver, ali, tags = s.entities, s.versions, s.aliases, s.tags
        fk = ver.c[s.fk]
        name = ent.c.name == bindparam("name")
        vid: Any = bindparam("vid")
        return {
            "number": select(ver.c.id)
            .join(ent, ent.c.id == fk)
            .where(name, ver.c.version == bindparam("number")),
            "latest": select(ver.c.id)
            .join(ent, ent.c.id == fk)
            .where(name)
            .order_by(ver.c.version.desc())
            .limit(1),
            "alias": select(ali.c.version_id)
            .join(ent, ent.c.id == ali.c[s.fk])
            .where(name, ali.c.alias == bindparam("alias")),
            "row": select(ver, ent.c.name.label("entity_name"))
            .join(ent, ent.c.id == fk)
            .where(ver.c.id == vid),
            "aliases": select(ali.c.alias).where(ali.c.version_id == vid).order_by(ali.c.alias),
            "tags": select(tags.c.key, tags.c.value).where(tags.c.version_id == vid),
        }

    # -- names -------------------------------------------------------------------------

    def unknown(self, name: str) -> NotFound:
        """The error for a name with no entity."""
        s = self.spec
        return NotFound(f"No {s.kind.lower()} named {name!r}. Try: shipyard {s.cli} list")

    def entity(self, conn: Connection, name: str) -> Row[Any] | None:
        """The entity row called ``name``, or None."""
        ent = self.spec.entities
        return conn.execute(select(ent).where(ent.c.name == name)).first()

    def entity_id(self, conn: Connection, name: str) -> str:
        """The id of the entity called ``name``; :class:`NotFound` when there is none."""
        ent = self.spec.entities
        found = conn.scalar(select(ent.c.id).where(ent.c.name == name))
        if found is None:
            raise self.unknown(name)
        return str(found)

    def lock(self, conn: Connection, name: str) -> str:
        """The entity's id, its row locked until the transaction ends (NotFound if none)."""
        found = self._lock(conn, name)
        if found is None:
            raise self.unknown(name)
        return found

    def _lock(self, conn: Connection, name: str) -> str | None:
        ent = self.spec.entities
        found = conn.scalar(select(ent.c.id).where(ent.c.name == name).with_for_update())
        return None if found is None else str(found)

    def lock_or_create(self, conn: Connection, name: str, values: Mapping[str, Any]) -> str:
        """The entity's id, locked; created with ``values`` (its payload) when missing.

        Two first registrations racing on one name: the loser's insert raises SQLAlchemy's
        ``IntegrityError`` at commit or here; the caller retries its transaction.
        """
        found = self._lock(conn, name)
        if found is not None:
            return found
        new_id = uuid.uuid4().hex
        row = {"id": new_id, "name": name, "created_at": time.time(), **values}
        if self.spec.counter:
            row[self.spec.counter] = 1
        conn.execute(insert(self.spec.entities).values(row))
        return new_id

    # -- versions ----------------------------------------------------------------------

    def add_version(
        self, conn: Connection, entity_id: str, values: Mapping[str, Any]
    ) -> tuple[str, int]:
        """Insert a version numbered under the entity's lock; (version id, number)."""
        number = self._next_number(conn, entity_id)
        version_id = uuid.uuid4().hex
        row = {"id": version_id, self.spec.fk: entity_id, "version": number, **values}
        conn.execute(insert(self.spec.versions).values(row))
        made = _made.get()
        if made is not None:
            name = conn.scalar(
                select(self.spec.entities.c.name).where(self.spec.entities.c.id == entity_id)
            )
            made.append(f"{self.spec.kind.lower()}:{name}@{number}")
        return version_id, number

    def _next_number(self, conn: Connection, entity_id: str) -> int:
        s = self.spec
        if s.counter:
            column = s.entities.c[s.counter]
            number = int(conn.scalar(select(column).where(s.entities.c.id == entity_id)) or 1)
            conn.execute(
                update(s.entities).where(s.entities.c.id == entity_id).values({column: number + 1})
            )
            return number
        ver = s.versions
        latest = conn.scalar(select(func.max(ver.c.version)).where(ver.c[s.fk] == entity_id))
        return int(latest or 0) + 1

    def row(self, conn: Connection, version_id: str) -> Row[Any]:
        """The version row with its entity's name (``entity_name``); NotFound if deleted."""
        found = conn.execute(self._statements["row"], {"vid": version_id}).first()
        if found is None:
            raise NotFound(f"No {self.spec.kind.lower()} version with id {version_id!r}.")
        return found

    def number(self, conn: Connection, version_id: str) -> int | None:
        """The number of a version, None when it does not exist."""
        ver = self.spec.versions
        found = conn.scalar(select(ver.c.version).where(ver.c.id == version_id))
        return None if found is None else int(found)

    def latest(self, conn: Connection, entity_id: str) -> int | None:
        """The highest version number of an entity, None when it has none."""
        ver = self.spec.versions
        found = conn.scalar(select(func.max(ver.c.version)).where(ver.c[self.spec.fk] == entity_id))
        return None if found is None else int(found)

    def version_ids(self, conn: Connection, entity_id: str) -> list[str]:
        """The ids of an entity's versions, newest first."""
        ver = self.spec.versions
        return list(
            conn.scalars(
                select(ver.c.id)
                .where(ver.c[self.spec.fk] == entity_id)
                .order_by(ver.c.version.desc())
            )
        )

    def summaries(self, conn: Connection) -> list[Row[Any]]:
        """Every entity row with ``n`` (its versions) and ``latest``, by name."""
        s = self.spec
        fk = s.versions.c[s.fk]
        counts = (
            select(
                fk.label("entity_id"),
                func.count().label("n"),
                func.max(s.versions.c.version).label("latest"),
            )
            .group_by(fk)
            .subquery()
        )
        query = (
            select(s.entities, counts.c.n, counts.c.latest)
            .outerjoin(counts, counts.c.entity_id == s.entities.c.id)
            .order_by(s.entities.c.name)
        )
        return list(conn.execute(query).all())

    # -- references --------------------------------------------------------------------

    def find(self, conn: Connection, ref: Ref) -> str | None:
        """The id of the version ``ref`` names by number, ``latest`` or alias: one query."""
        st = self._statements
        if ref.version is not None:
            found = conn.scalar(st["number"], {"name": ref.name, "number": ref.version})
        elif ref.alias == "latest":
            found = conn.scalar(st["latest"], {"name": ref.name})
        else:
            found = conn.scalar(st["alias"], {"name": ref.name, "alias": ref.alias})
        return None if found is None else str(found)

    def resolve(self, conn: Connection, ref: Ref) -> str:
        """Like :meth:`find`, or :class:`NotFound` saying what exists instead."""
        found = self.find(conn, ref)
        if found is not None:
            return found
        raise NotFound(self.missing(conn, self.entity_id(conn, ref.name), ref))

    def missing(self, conn: Connection, entity_id: str, ref: Ref) -> str:
        """Why ``ref`` names no version of an existing entity, and what to try."""
        kind, name = self.spec.kind, ref.name
        if ref.version is not None or ref.alias == "latest":
            latest = self.latest(conn, entity_id)
            if latest is None and ref.version is None:
                return f"{kind} {name!r} has no versions yet."
            hint = f"latest is {latest}" if latest else "it has no versions yet"
            return (
                f"{kind} {name!r} has no version {ref.version or 'latest'} ({hint}). "
                f"Try: shipyard {self.spec.cli} versions {name}"
            )
        return (
            f"{kind} {name!r} has no alias {ref.alias!r} (aliases: "
            f"{', '.join(self.known_aliases(conn, entity_id)) or 'none'}; or use a version "
            "number)."
        )

    # -- aliases and tags --------------------------------------------------------------

    def aliases_of(self, conn: Connection, version_id: str) -> tuple[str, ...]:
        """The aliases pointing at a version, sorted."""
        return tuple(conn.scalars(self._statements["aliases"], {"vid": version_id}))

    def tags_of(self, conn: Connection, version_id: str) -> dict[str, str]:
        """A version's tags."""
        return {k: v for k, v in conn.execute(self._statements["tags"], {"vid": version_id})}

    def known_aliases(self, conn: Connection, entity_id: str) -> list[str]:
        """An entity's aliases, sorted."""
        ali = self.spec.aliases
        return sorted(conn.scalars(select(ali.c.alias).where(ali.c[self.spec.fk] == entity_id)))

    def check_alias(self, alias: object) -> str:
        """This registry's alias rule (:func:`check_alias` with its reserved words)."""
        return check_alias(alias, self.spec.reserved, field=self.spec.alias_field)

    def set_alias(
        self,
        conn: Connection,
        entity_id: str,
        alias: str,
        version_id: str,
        actor: str | None = None,
        reason: str | None = None,
    ) -> None:
        """Point ``alias`` at a version (moving it), with an ``alias`` event when it moved."""
        self.check_alias(alias)
        number = self.number(conn, version_id)
        before = self.alias_target(conn, entity_id, alias)
        if before is not None and before == number:
            return
        ali = self.spec.aliases
        where = (ali.c[self.spec.fk] == entity_id) & (ali.c.alias == alias)
        conn.execute(delete(ali).where(where))
        conn.execute(
            insert(ali).values({self.spec.fk: entity_id, "alias": alias, "version_id": version_id})
        )
        self.event(
            conn, entity_id, number, "alias", at(alias, before), at(alias, number), actor, reason
        )

    def alias_target(self, conn: Connection, entity_id: str, alias: str) -> int | None:
        """The number of the version ``alias`` points at, None when it is not set."""
        ali, ver = self.spec.aliases, self.spec.versions
        found = conn.scalar(
            select(ver.c.version)
            .join(ali, ali.c.version_id == ver.c.id)
            .where(ali.c[self.spec.fk] == entity_id, ali.c.alias == alias)
        )
        return None if found is None else int(found)

    def remove_alias(
        self,
        conn: Connection,
        entity_id: str,
        alias: str,
        actor: str | None = None,
        reason: str | None = None,
    ) -> int:
        """Delete an alias (with an ``alias-removed`` event); the number it pointed at.

        Raises:
            NotFound: the alias is not set; the message lists the known ones.
        """
        number = self.alias_target(conn, entity_id, alias)
        if number is None:
            name = conn.scalar(
                select(self.spec.entities.c.name).where(self.spec.entities.c.id == entity_id)
            )
            raise NotFound(
                f"{self.spec.kind} {name!r} has no alias {alias!r} to remove (aliases: "
                f"{', '.join(self.known_aliases(conn, entity_id)) or 'none'})."
            )
        ali = self.spec.aliases
        conn.execute(delete(ali).where(ali.c[self.spec.fk] == entity_id, ali.c.alias == alias))
        self.event(conn, entity_id, number, "alias-removed", at(alias, number), None, actor, reason)
        return number

    def drop_aliases(
        self,
        conn: Connection,
        entity_id: str,
        version_id: str,
        actor: str | None = None,
        reason: str | None = None,
    ) -> None:
        """Delete every alias of a version (an ``alias-removed`` event each)."""
        number = self.number(conn, version_id)
        for alias in self.aliases_of(conn, version_id):
            self.event(
                conn, entity_id, number, "alias-removed", at(alias, number), None, actor, reason
            )
        ali = self.spec.aliases
        conn.execute(delete(ali).where(ali.c.version_id == version_id))

    def set_tags(self, conn: Connection, version_id: str, tags: Mapping[str, str]) -> None:
        """Set tags on a version, replacing the values of the same keys."""
        if not tags:
            return
        table = self.spec.tags
        conn.execute(
            delete(table).where(table.c.version_id == version_id, table.c.key.in_(list(tags)))
        )
        conn.execute(
            insert(table),
            [{"version_id": version_id, "key": k, "value": v} for k, v in tags.items()],
        )

    # -- events and lineage ------------------------------------------------------------

    def event(
        self,
        conn: Connection,
        entity_id: str,
        version: int | None,
        kind: str,
        before: str | None,
        after: str | None,
        actor: str | None,
        reason: str | None,
    ) -> None:
        """Record who did what to which version, when and why: in the registry's events
        (when it has them) and in the audit log, both in the caller's transaction."""
        ent = self.spec.entities
        name = conn.execute(select(ent.c.name).where(ent.c.id == entity_id)).scalar_one()
        change: dict[str, Any] = {
            "version": version,
            "before": before,
            "after": after,
            "reason": reason,
        }
        append_audit(conn, kind, self.spec.kind.lower(), name, actor=actor, **change)
        if self.spec.events is None:
            return
        conn.execute(
            insert(self.spec.events).values(
                {self.spec.fk: entity_id, "kind": kind, "actor": actor, "at": time.time(), **change}
            )
        )

    def events(self, conn: Connection, entity_id: str, limit: int = 200) -> list[Row[Any]]:
        """An entity's events, newest first (empty without an events table)."""
        table = self.spec.events
        if table is None:
            return []
        return list(
            conn.execute(
                select(table)
                .where(table.c[self.spec.fk] == entity_id)
                .order_by(table.c.id.desc())
                .limit(limit)
            ).all()
        )

    def add_edges(self, conn: Connection, child_id: str, parent_ids: Sequence[str]) -> None:
        """Record that ``child_id`` was made from each of ``parent_ids`` (duplicates once)."""
        edges = self._edges()
        if parent_ids:
            conn.execute(
                insert(edges.table),
                [{edges.child: child_id, edges.parent: p} for p in dict.fromkeys(parent_ids)],
            )

    def parents(self, conn: Connection, child_id: str) -> tuple[str, ...]:
        """What a version was made from."""
        edges = self._edges()
        column, where = edges.table.c[edges.parent], edges.table.c[edges.child] == child_id
        return tuple(conn.scalars(select(column).where(where)))

    def children(self, conn: Connection, parent_id: str) -> list[str]:
        """The versions of this registry made from ``parent_id``."""
        edges = self._edges()
        column, where = edges.table.c[edges.child], edges.table.c[edges.parent] == parent_id
        return list(conn.scalars(select(column).where(where)))

    def _edges(self) -> Edges:
        if self.spec.lineage is None:
            raise InvalidInput(f"{self.spec.kind} versions record no lineage.")
        return self.spec.lineage

"""Models in the metadata store: a thin layer over the versioned-registry core that adds the
model payload (flavor, signature, environment, stages, exports, rollback).

Every move (alias set, stage change, rollback, delete) is one transaction that also writes
its event, under the model row's lock (``SELECT ... FOR UPDATE`` on PostgreSQL, the write
lock on SQLite), so concurrent moves serialize and the registry is never half-moved:
exactly one version is in production, and an alias always points at a version that exists.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from shipyard._refs import Ref
from shipyard.errors import Conflict, InvalidInput, NotFound
from shipyard.models import _evidence as evidence_rows
from shipyard.models import _policy_rows as policy_rows
from shipyard.models import _queries as q
from shipyard.models._backend import ModelBackend, NewModelVersion
from shipyard.models._policies import Policy, PolicyVersion
from shipyard.models._policy_rows import Move
from shipyard.models._queries import REGISTRY
from shipyard.models._tables import ALIASES, EVENTS, EXPORTS, MODELS, VERSIONS
from shipyard.models._types import STAGES, Evidence, Model, ModelEvent, ModelVersion
from shipyard.store import Database, append_audit

__all__ = ["RESERVED", "ModelStore", "NewModelVersion", "check_alias", "check_stage"]

RESERVED = ("latest", *STAGES)


def check_alias(alias: object) -> str:
    """A model alias: the registry's one rule (no ``latest``, stage or version number)."""
    return REGISTRY.check_alias(alias)


def check_stage(stage: object) -> str:
    """One of the lifecycle stages."""
    if stage not in STAGES:
        raise InvalidInput(f"stage must be one of {', '.join(STAGES)}; got {stage!r}.")
    return str(stage)


class ModelStore(ModelBackend):
    """Model registry records in a :class:`~shipyard.store.Database` (SQLite, PostgreSQL,
    memory). Thread-safe. The constructor only stores its argument."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- registration ------------------------------------------------------------------

    def add_version(self, name: str, new: NewModelVersion) -> ModelVersion:
        """Record a version (and the model on its first version) in one transaction."""
        for attempt in range(3):
            try:
                with self.db.write() as conn:
                    return _add_version(conn, name, new)
            except SAIntegrityError as exc:  # two first registrations raced on the name
                if attempt == 2:
                    raise Conflict(
                        f"Model {name!r} is being registered by others; version not stored "
                        f"({exc.orig}). Try again."
                    ) from exc
        raise AssertionError("unreachable")

    # -- reading -----------------------------------------------------------------------

    def get(self, version_id: str) -> ModelVersion:
        """A version by id."""
        with self.db.read() as conn:
            return q.info(conn, version_id)

    def resolve(self, ref: Ref) -> ModelVersion:
        """The version a reference names: a number, ``latest``, an alias or a stage."""
        with self.db.read() as conn:
            return q.info(conn, q.resolve(conn, ref))

    def resolve_id(self, ref: Ref) -> str:
        """The id of the version a reference names (one small query on the hot path)."""
        with self.db.read() as conn:
            return q.resolve(conn, ref)

    def versions(self, name: str) -> list[ModelVersion]:
        """Every version of a model, newest first."""
        with self.db.read() as conn:
            ids = REGISTRY.version_ids(conn, REGISTRY.entity_id(conn, name))
            return [q.info(conn, i) for i in ids]

    def trained_on(self, dataset_version_id: str) -> list[ModelVersion]:
        """Versions trained on a dataset version (lineage downstream of the data)."""
        with self.db.read() as conn:
            found = [q.info(conn, i) for i in REGISTRY.children(conn, dataset_version_id)]
        return sorted(found, key=lambda v: (v.name, v.version))

    def list_models(self) -> list[Model]:
        """Every model with its version count, latest and production versions and aliases."""
        with self.db.read() as conn:
            rows = REGISTRY.summaries(conn)
            production = dict(
                conn.execute(
                    select(VERSIONS.c.model_id, VERSIONS.c.version).where(
                        VERSIONS.c.stage == "production"
                    )
                ).all()
            )
            aliases: dict[str, dict[str, int]] = {}
            for model_id, alias, number in conn.execute(
                select(ALIASES.c.model_id, ALIASES.c.alias, VERSIONS.c.version).join(
                    VERSIONS, VERSIONS.c.id == ALIASES.c.version_id
                )
            ).all():
                aliases.setdefault(model_id, {})[alias] = number
        return [
            Model(
                r.id,
                r.name,
                r.created_at,
                r.description,
                r.n or 0,
                r.latest,
                production.get(r.id),
                dict(sorted(aliases.get(r.id, {}).items())),
            )
            for r in rows
        ]

    def events(self, name: str, limit: int = 200) -> list[ModelEvent]:
        """The model's recorded moves, newest first."""
        with self.db.read() as conn:
            rows = REGISTRY.events(conn, REGISTRY.entity_id(conn, name), limit)
        return [
            ModelEvent(r.id, name, r.version, r.kind, r.before, r.after, r.actor, r.reason, r.at)
            for r in rows
        ]

    # -- moves -------------------------------------------------------------------------

    def set_alias(
        self, ref: Ref, alias: str, actor: str | None, reason: str | None
    ) -> ModelVersion:
        """Point ``alias`` at the version ``ref`` names (moving it if it pointed elsewhere)."""
        check_alias(alias)
        with self.db.write() as conn:
            model_id = REGISTRY.lock(conn, ref.name)
            version_id = q.resolve(conn, ref)
            REGISTRY.set_alias(conn, model_id, alias, version_id, actor, reason)
            return q.info(conn, version_id)

    def remove_alias(self, name: str, alias: str, actor: str | None, reason: str | None) -> None:
        """Delete an alias; a missing one is a :class:`NotFound` listing the known ones."""
        with self.db.write() as conn:
            REGISTRY.remove_alias(conn, REGISTRY.lock(conn, name), alias, actor, reason)

    def set_stage(
        self, ref: Ref, stage: str, actor: str | None, reason: str | None
    ) -> ModelVersion:
        """Move a version to a stage; promoting to production archives the previous one."""
        check_stage(stage)
        with self.db.write() as conn:
            model_id = REGISTRY.lock(conn, ref.name)
            version_id = q.resolve(conn, ref)
            number = REGISTRY.number(conn, version_id) or 0
            _set_stage(conn, model_id, version_id, number, stage, actor, reason)
            return q.info(conn, version_id)

    def rollback(
        self, name: str, actor: str | None, reason: str | None, guard: Move | None = None
    ) -> tuple[int | None, int]:
        """Put the previous production version back in production; (from, to) numbers.

        Production history is replayed from the events: a promotion pushes a version, a
        rollback pops one; deleted versions are skipped. So rolling back twice goes back two
        promotions, not back and forth. ``guard``: what the gates were checked against
        (the policy version; in ``holder``, the id of the version rolled back to).
        """
        with self.db.write() as conn:
            model_id = REGISTRY.lock(conn, name)
            current, target, live = _rollback_target(conn, model_id, name)
            if guard is not None:
                policy_rows.check_unchanged(conn, model_id, name, guard)
                if live[target] != guard.holder:
                    raise Conflict(
                        f"Model {name!r}: its production history moved while the gates were "
                        "checked; nothing moved. Try again."
                    )
            why = reason or f"rollback from version {current}"
            move = (target, "production", actor, why)
            _set_stage(conn, model_id, live[target], *move, kind="rollback")
            return (None if current is None else int(current)), int(target)

    def rollback_target(self, name: str) -> tuple[int, str]:
        """The number and id of the version :meth:`rollback` would put back now."""
        with self.db.read() as conn:
            _, target, live = _rollback_target(conn, REGISTRY.entity_id(conn, name), name)
            return target, live[target]

    def delete_version(
        self, ref: Ref, actor: str | None, reason: str | None, force: bool
    ) -> ModelVersion:
        """Delete a version; one in production or with aliases only with ``force``."""
        with self.db.write() as conn:
            model_id = REGISTRY.lock(conn, ref.name)
            info = q.info(conn, q.resolve(conn, ref))
            if not force and (info.stage == "production" or info.aliases):
                holds = ", ".join(
                    (["stage production"] if info.stage == "production" else [])
                    + [f"alias {a!r}" for a in info.aliases]
                )
                raise Conflict(
                    f"Model version {info.ref} is in use ({holds}); move those first or delete "
                    "with force (its aliases are removed with it)."
                )
            REGISTRY.drop_aliases(conn, model_id, info.id, actor, "version deleted")
            conn.execute(delete(VERSIONS).where(VERSIONS.c.id == info.id))
            REGISTRY.event(conn, model_id, info.version, "deleted", info.stage, None, actor, reason)
            return info

    def delete_model(self, name: str) -> int:
        """Delete a model with all its versions and history; returns how many versions."""
        with self.db.write() as conn:
            model_id = REGISTRY.lock(conn, name)
            count = len(REGISTRY.version_ids(conn, model_id))
            append_audit(conn, "model-deleted", "model", name, before={"versions": count})
            conn.execute(delete(MODELS).where(MODELS.c.id == model_id))
            return count

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
        """Store another form of a version (replacing an earlier one of that format)."""
        with self.db.write() as conn:
            row = conn.execute(
                select(VERSIONS.c.model_id, VERSIONS.c.version).where(VERSIONS.c.id == version_id)
            ).first()
            if row is None:
                raise NotFound(f"Model version {version_id!r} was deleted meanwhile.")
            # Concurrent exports of one version serialize on the model row (PostgreSQL).
            conn.execute(select(MODELS.c.id).where(MODELS.c.id == row.model_id).with_for_update())
            conn.execute(
                delete(EXPORTS).where(EXPORTS.c.version_id == version_id, EXPORTS.c.format == fmt)
            )
            conn.execute(
                insert(EXPORTS).values(
                    version_id=version_id,
                    format=fmt,
                    digest=digest,
                    size=size,
                    meta=json.dumps(meta),
                    report=json.dumps(report),
                    created_at=time.time(),
                )
            )
            REGISTRY.event(conn, row.model_id, row.version, "exported", None, fmt, actor, None)
            return q.info(conn, version_id)

    # -- evidence ----------------------------------------------------------------------

    def add_evidence(
        self, ref: Ref, kind: str, data: Mapping[str, Any], actor: str | None
    ) -> Evidence:
        """Append a governance record about a version (with its audit-log entry)."""
        with self.db.write() as conn:
            REGISTRY.lock(conn, ref.name)
            return evidence_rows.add(conn, q.resolve(conn, ref), kind, data, actor)

    def evidence(self, ref: Ref, kind: str | None = None) -> list[Evidence]:
        """A version's governance records, newest first (of one kind when given)."""
        with self.db.read() as conn:
            return evidence_rows.read(conn, q.resolve(conn, ref), kind)

    # -- policies and gated moves --------------------------------------------------------

    def set_policy(
        self, name: str, policy: Policy, source: str | None, actor: str | None
    ) -> PolicyVersion:
        """Store the model's next policy version (with its audit entry)."""
        with self.db.write() as conn:
            return policy_rows.add(conn, REGISTRY.lock(conn, name), name, policy, source, actor)

    def policies(self, name: str, version: int | None = None) -> list[PolicyVersion]:
        """The model's policy versions, newest first (only ``version`` when given)."""
        with self.db.read() as conn:
            return policy_rows.read(conn, REGISTRY.entity_id(conn, name), name, version)

    def move(self, ref: Ref, move: Move) -> ModelVersion:
        """A gated alias or stage move: one transaction that re-checks what the gates saw,
        appends the override record (if any) and moves."""
        if move.kind == "alias":
            check_alias(move.to)
        else:
            check_stage(move.to)
        with self.db.write() as conn:
            model_id = REGISTRY.lock(conn, ref.name)
            version_id = q.resolve(conn, ref)
            policy_rows.check_unchanged(conn, model_id, ref.name, move)
            if move.override is not None:
                evidence_rows.add(conn, version_id, "override", move.override, move.actor)
                append_audit(conn, "gates-overridden", "model", ref.name,
                             version=REGISTRY.number(conn, version_id), after=dict(move.override),
                             actor=move.actor, reason=move.reason)  # fmt: skip
            if move.kind == "alias":
                REGISTRY.set_alias(conn, model_id, move.to, version_id, move.actor, move.reason)
            else:
                number = REGISTRY.number(conn, version_id) or 0
                _set_stage(conn, model_id, version_id, number, move.to, move.actor, move.reason)
            return q.info(conn, version_id)


def _add_version(conn: Connection, name: str, new: NewModelVersion) -> ModelVersion:
    model_id = REGISTRY.lock_or_create(conn, name, {"description": None})
    targets = [*new.aliases, *([new.stage] if new.stage != "none" else [])]
    policy_rows.refuse_protected(conn, model_id, name, targets)
    version_id, number = REGISTRY.add_version(conn, model_id, _payload(new))
    REGISTRY.set_tags(conn, version_id, new.tags)
    REGISTRY.add_edges(conn, version_id, new.datasets)
    REGISTRY.event(
        conn, model_id, number, "registered", None, new.flavor, new.created_by, new.reason
    )
    for alias in new.aliases:
        REGISTRY.set_alias(conn, model_id, alias, version_id, new.created_by, new.reason)
    if new.stage != "none":
        _set_stage(conn, model_id, version_id, number, new.stage, new.created_by, new.reason)
    return q.info(conn, version_id)


def _payload(new: NewModelVersion) -> dict[str, Any]:
    """The model columns of a new version row."""
    return {
        "flavor": new.flavor,
        "digest": new.digest,
        "size": new.size,
        "flavor_meta": json.dumps(new.flavor_meta),
        "signature": None if new.signature is None else json.dumps(new.signature.to_dict()),
        "environment": json.dumps(new.environment),
        "sample_digest": new.sample_digest,
        "metrics": json.dumps(dict(new.metrics)) if new.metrics else None,
        "run_id": new.run_id,
        "source_commit": new.source_commit,
        "stage": "none",
        "description": new.description,
        "created_at": time.time(),
        "created_by": new.created_by,
    }


def _set_stage(
    conn: Connection,
    model_id: str,
    version_id: str,
    number: int,
    stage: str,
    actor: str | None,
    reason: str | None,
    kind: str = "stage",
) -> None:
    """Move a version to a stage (archiving the one it replaces in production), with events."""
    current = conn.scalar(select(VERSIONS.c.stage).where(VERSIONS.c.id == version_id))
    if current == stage:
        return
    if stage == "production":
        replaced = f"replaced by version {number}"
        for other_id, other in conn.execute(
            select(VERSIONS.c.id, VERSIONS.c.version).where(
                VERSIONS.c.model_id == model_id,
                VERSIONS.c.stage == "production",
                VERSIONS.c.id != version_id,
            )
        ).all():
            conn.execute(update(VERSIONS).where(VERSIONS.c.id == other_id).values(stage="archived"))
            REGISTRY.event(
                conn, model_id, other, "stage", "production", "archived", actor, replaced
            )
    conn.execute(update(VERSIONS).where(VERSIONS.c.id == version_id).values(stage=stage))
    REGISTRY.event(conn, model_id, number, kind, current, stage, actor, reason)


def _production_history(conn: Connection, model_id: str) -> list[int]:
    """The stack of production versions replayed from the events, the current one last.

    A promotion pushes a version; a rollback to a version pops back down to it.
    """
    rows = conn.execute(
        select(EVENTS.c.kind, EVENTS.c.version)
        .where(
            EVENTS.c.model_id == model_id,
            EVENTS.c.kind.in_(("stage", "rollback")),
            EVENTS.c.after == "production",
        )
        .order_by(EVENTS.c.id)
    ).all()
    stack: list[int] = []
    for kind, number in rows:
        if kind == "rollback":
            while stack and stack[-1] != number:
                stack.pop()  # the versions rolled back from
            if stack:
                continue
        stack.append(number)
    return stack


def _rollback_target(
    conn: Connection, model_id: str, name: str
) -> tuple[int | None, int, dict[int, str]]:
    """(production now, the version a rollback puts back, live number -> id)."""
    live = dict(
        conn.execute(
            select(VERSIONS.c.version, VERSIONS.c.id).where(VERSIONS.c.model_id == model_id)
        ).all()
    )
    current = conn.scalar(
        select(VERSIONS.c.version).where(
            VERSIONS.c.model_id == model_id, VERSIONS.c.stage == "production"
        )
    )
    candidates = [v for v in _production_history(conn, model_id) if v in live]
    if candidates and candidates[-1] == current:
        candidates.pop()
    candidates = [v for v in candidates if v != current]
    if not candidates:
        raise Conflict(
            f"Model {name!r} has no earlier production version to roll back to "
            f"(production now: {current if current is not None else 'none'}). "
            f"Try: shipyard models promote {name} <version> --to production"
        )
    return (None if current is None else int(current)), int(candidates[-1]), live

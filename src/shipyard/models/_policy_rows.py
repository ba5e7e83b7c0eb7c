"""Policies and guarded moves in the metadata store: the SQL under ``ModelStore``.

A policy version is one row of ``model_policies`` (the parsed policy as JSON, the YAML as
given), written with its audit entry in one transaction. A guarded move re-reads, inside
its transaction, what the gates were checked against (the policy version in force and the
version holding the target) and refuses when either moved meanwhile.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, insert, select

from shipyard.errors import Conflict
from shipyard.models._policies import Policy, PolicyVersion
from shipyard.models._tables import ALIASES, POLICIES, VERSIONS
from shipyard.store import append_audit

__all__ = [
    "Move", "add", "check_unchanged", "holder", "latest_number", "read", "refuse_protected",
]  # fmt: skip


@dataclass(frozen=True)
class Move:
    """A gated move of a version to an alias (``kind="alias"``) or stage (``"stage"``).

    ``checked``: the policy was read at version ``policy_version`` (None: no policy), and
    with ``guard_holder`` the gates saw ``holder`` (a version id, None for nobody) hold the
    target: the store refuses if either changed.
    ``override``: the "override" record to append in the move's transaction. ``force``:
    what a remote client asks of the server (which checks the gates itself).
    """

    kind: str
    to: str
    actor: str | None
    reason: str | None
    force: bool = False
    checked: bool = False
    policy_version: int | None = None
    holder: str | None = None
    guard_holder: bool = False
    override: Mapping[str, Any] | None = None


def latest_number(conn: Connection, model_id: str) -> int | None:
    """The number of the policy version in force, None without a policy."""
    found = conn.scalar(select(func.max(POLICIES.c.version)).where(POLICIES.c.model_id == model_id))
    return None if found is None else int(found)


def _version(name: str, row: Any) -> PolicyVersion:
    policy = Policy.from_dict(json.loads(row.body))
    return PolicyVersion(
        name, int(row.version), policy, row.source, float(row.created_at), row.created_by
    )


def read(
    conn: Connection, model_id: str, name: str, version: int | None = None
) -> list[PolicyVersion]:
    """Policy versions of a model, newest first (only ``version`` when given)."""
    query = select(POLICIES).where(POLICIES.c.model_id == model_id)
    if version is not None:
        query = query.where(POLICIES.c.version == version)
    rows = conn.execute(query.order_by(POLICIES.c.version.desc())).all()
    return [_version(name, r) for r in rows]


def add(
    conn: Connection,
    model_id: str,
    name: str,
    policy: Policy,
    source: str | None,
    actor: str | None,
) -> PolicyVersion:
    """Store ``policy`` as the model's next policy version (the caller holds the model
    row's lock), with its audit entry."""
    before = latest_number(conn, model_id)
    number = (before or 0) + 1
    body = policy.to_dict()
    at = time.time()
    conn.execute(
        insert(POLICIES).values(
            model_id=model_id,
            version=number,
            body=json.dumps(body, separators=(",", ":")),
            source=source,
            created_at=at,
            created_by=actor,
        )
    )
    previous = read(conn, model_id, name, before)[0].policy.to_dict() if before else None
    append_audit(
        conn,
        "policy-set",
        "model",
        name,
        before={"policy_version": before, "policy": previous},
        after={"policy_version": number, "policy": body},
        actor=actor,
    )
    return PolicyVersion(name, number, policy, source, at, actor)


def holder(conn: Connection, model_id: str, kind: str, to: str) -> str | None:
    """The id of the version holding alias or stage ``to`` now (for a stage other than
    production, which many versions share: None)."""
    if kind == "alias":
        return conn.scalar(
            select(ALIASES.c.version_id).where(
                ALIASES.c.model_id == model_id, ALIASES.c.alias == to
            )
        )
    if to != "production":
        return None
    return conn.scalar(
        select(VERSIONS.c.id).where(VERSIONS.c.model_id == model_id, VERSIONS.c.stage == to)
    )


def check_unchanged(conn: Connection, model_id: str, name: str, move: Move) -> None:
    """Refuse (Conflict) if the policy or the target's holder moved since the gates ran."""
    if not move.checked:
        return
    now = latest_number(conn, model_id)
    if now != move.policy_version:
        raise Conflict(
            f"Model {name!r}: its policy changed while the gates were checked (version "
            f"{move.policy_version} then, {now} now); nothing moved. Try again."
        )
    if move.guard_holder and holder(conn, model_id, move.kind, move.to) != move.holder:
        raise Conflict(
            f"Model {name!r}: {move.to} moved to another version while the gates were "
            "checked; nothing moved. Try again."
        )


def refuse_protected(conn: Connection, model_id: str, name: str, targets: list[str]) -> None:
    """A new version cannot take an alias or stage the policy in force protects (it has
    passed no gate): Conflict naming them. Checked in the registration's transaction, so a
    client posting the version itself (``POST /api/models/{name}/versions``) is refused too."""
    number = latest_number(conn, model_id) if targets else None
    if number is None:
        return
    policy = read(conn, model_id, name, number)[0].policy
    hit = [t for t in targets if policy.protects(t)]
    if hit:
        raise Conflict(
            f"{', '.join(hit)} of model {name!r} protected by its policy (version {number}): "
            "register without them, then promote the new version through the gates "
            "(sy.models.set_alias / promote)."
        )

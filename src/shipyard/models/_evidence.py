"""Evidence: what governance records about a version, kept with it in the registry.

An explanation, a fairness report, a mitigation, an evaluation, the card's user-written
sections, an approval, a gate override: one JSON object each, with who recorded it and when,
appended (never edited) in the same transaction as its audit-log entry. The promotion gates
and the model card read the newest record of each kind.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, insert, select

from shipyard.errors import InvalidInput, NotFound
from shipyard.models._tables import EVIDENCE, MODELS, VERSIONS
from shipyard.models._types import EVIDENCE_KINDS, Evidence
from shipyard.store import append_audit

__all__ = ["MAX_BYTES", "add", "check_kind", "encode", "read"]

MAX_BYTES = 16 * 1024 * 1024
"""The largest record (its JSON text): explanations keep a sample of rows, not all of them."""


def check_kind(kind: object) -> str:
    """``kind`` if it is one of :data:`EVIDENCE_KINDS`, else an :class:`InvalidInput`."""
    if not isinstance(kind, str) or kind not in EVIDENCE_KINDS:
        raise InvalidInput(f"kind: expected one of {', '.join(EVIDENCE_KINDS)}, got {kind!r}.")
    return kind


def encode(data: object) -> str:
    """``data`` as compact JSON text, or an :class:`InvalidInput` naming the field."""
    if not isinstance(data, Mapping):
        raise InvalidInput(f"data: expected a JSON object, got {type(data).__name__}.")
    try:
        text = json.dumps(dict(data), allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"data: expected JSON values (finite numbers): {exc}.") from None
    if len(text) > MAX_BYTES:
        raise InvalidInput(f"data: {len(text):,} bytes of JSON; at most {MAX_BYTES:,}.")
    return text


def add(
    conn: Connection, version_id: str, kind: str, data: Mapping[str, Any], actor: str | None
) -> Evidence:
    """Append a record for a version on ``conn`` (with its audit entry)."""
    check_kind(kind)
    text = encode(data)
    row = conn.execute(
        select(MODELS.c.name, VERSIONS.c.version)
        .join(MODELS, MODELS.c.id == VERSIONS.c.model_id)
        .where(VERSIONS.c.id == version_id)
    ).first()
    if row is None:
        raise NotFound(f"Model version {version_id!r} was deleted meanwhile.")
    at = time.time()
    new_id = conn.execute(
        insert(EVIDENCE)
        .values(version_id=version_id, kind=kind, data=text, created_at=at, created_by=actor)
        .returning(EVIDENCE.c.id)
    ).scalar_one()
    summary = {k: v for k, v in data.items() if isinstance(v, str | int | float | bool)}
    append_audit(
        conn, f"{kind}-recorded", "model", row.name, version=row.version, after=summary, actor=actor
    )
    return Evidence(int(new_id), row.name, int(row.version), kind, json.loads(text), at, actor)


def read(conn: Connection, version_id: str, kind: str | None = None) -> list[Evidence]:
    """A version's records, newest first (of one ``kind`` when given)."""
    query = (
        select(EVIDENCE, MODELS.c.name, VERSIONS.c.version)
        .join(VERSIONS, VERSIONS.c.id == EVIDENCE.c.version_id)
        .join(MODELS, MODELS.c.id == VERSIONS.c.model_id)
        .where(EVIDENCE.c.version_id == version_id)
        .order_by(EVIDENCE.c.id.desc())
    )
    if kind is not None:
        query = query.where(EVIDENCE.c.kind == check_kind(kind))
    return [
        Evidence(
            int(r.id),
            r.name,
            int(r.version),
            r.kind,
            json.loads(r.data),
            r.created_at,
            r.created_by,
        )
        for r in conn.execute(query).all()
    ]

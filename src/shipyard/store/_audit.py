"""The audit log: every state change, appended in the same transaction as the change.

One table, ``audit_log``: who (``actor``), when (``at``), from where (``origin``), what
(``action`` on ``kind:name`` and its ``version``), before and after (canonical JSON text) and
why (``reason``). Each entry carries the SHA-256 of its own fields and of the previous entry's
hash, so editing, inserting or deleting an entry breaks the chain at that entry;
``audit_head`` holds the last entry's number and hash, so cutting entries off the end shows
too. Entries are numbered under ``audit_head``'s row lock (``SELECT ... FOR UPDATE`` on
PostgreSQL; SQLite's writers are already one at a time), so concurrent writers keep one chain.

Who and from where come from the caller (``actor=``) or from the context :func:`acting` sets
(the platform server sets it per request from the signed-in user and the client's address),
else the login name and this host.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any

from sqlalchemy import BigInteger, Connection, Float, Index, Integer, String, Text, insert, select
from sqlalchemy import update as sql_update
from sqlalchemy.orm import Mapped, mapped_column

from shipyard.config import current_user
from shipyard.store._schema import Base

__all__ = [
    "GENESIS",
    "AuditEntry",
    "acting",
    "append",
    "canonical",
    "encode_fields",
    "entries",
    "entry_hash",
    "head",
]

GENESIS = "0" * 64
"""The ``prev`` of the first entry."""


class AuditRow(Base):
    """One state change, chained to the one before it by ``prev`` and ``hash``."""

    __tablename__ = "audit_log"
    __table_args__ = (Index(None, "kind", "name", "seq"),)

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    at: Mapped[float] = mapped_column(Float)
    actor: Mapped[str | None] = mapped_column(String(128))
    origin: Mapped[str | None] = mapped_column(String(256))
    action: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(256))
    version: Mapped[int | None] = mapped_column(Integer)
    before: Mapped[str | None] = mapped_column(Text)  # canonical JSON
    after: Mapped[str | None] = mapped_column(Text)  # canonical JSON
    reason: Mapped[str | None] = mapped_column(Text)
    prev: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHeadRow(Base):
    """The chain's last entry (one row, ``id`` 1): what verification compares the end with."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


LOG = Base.metadata.tables["audit_log"]
HEAD = Base.metadata.tables["audit_head"]

# The fields a hash covers, in order (``hash`` itself excluded).
FIELDS = (
    "seq", "at", "actor", "origin", "action", "kind", "name", "version", "before", "after",
    "reason", "prev",
)  # fmt: skip


@dataclass(frozen=True)
class AuditEntry:
    """One entry of the audit log as read back (``before``/``after`` decoded from JSON)."""

    seq: int
    at: float
    actor: str | None
    origin: str | None
    action: str
    kind: str
    name: str
    version: int | None
    before: Any
    after: Any
    reason: str | None
    prev: str
    hash: str

    @classmethod
    def from_row(cls, row: Any) -> AuditEntry:
        m = row._mapping
        fields = {k: m[k] for k in (*FIELDS, "hash")}
        for key in ("before", "after"):
            fields[key] = None if m[key] is None else json.loads(m[key])
        return cls(**fields)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AuditEntry:
        """An entry from :meth:`to_dict`'s shape (``at`` as epoch seconds or ISO 8601)."""
        from shipyard._time import epoch

        fields: dict[str, Any] = {k: data.get(k) for k in (*FIELDS, "hash")}
        fields["at"] = epoch(fields["at"])
        return cls(**fields)

    @property
    def target(self) -> str:
        """``model:churn@7``, ``deployment:churn-api``: what the entry changed."""
        at = "" if self.version is None else f"@{self.version}"
        return f"{self.kind}:{self.name}{at}"

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in (*FIELDS, "hash")}


Actor = str | Callable[[], str | None] | None
_context: ContextVar[tuple[Actor, str | None] | None] = ContextVar(
    "shipyard_audit_context", default=None
)


@contextmanager
def acting(actor: Actor, origin: str | None) -> Iterator[None]:
    """Within this context, entries without an explicit actor name ``actor``, and every
    entry names ``origin`` (``http 10.0.0.7`` for a server request). ``actor`` may be a
    function, asked when an entry is appended (the platform server knows who called only
    once the route has checked the token)."""
    token = _context.set((actor, origin))
    try:
        yield
    finally:
        _context.reset(token)


def _local_origin() -> str:
    return f"{socket.gethostname()} pid {os.getpid()}"[:256]


def canonical(value: Any) -> str | None:
    """``value`` as canonical JSON text (sorted keys, no spaces), ``None`` for ``None``."""
    if value is None:
        return None
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


# json.dumps(values, separators=(",", ":"), ensure_ascii=False), its C encoder built once
# (json.dumps builds one per call: half the time of verifying an entry)
_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_c_encoder = None if c_make_encoder is None else c_make_encoder(
    None, _encoder.default, encode_basestring, None, ":", ",", False, False, True
)  # fmt: skip


def encode_fields(values: list[Any]) -> str:
    """An entry's field values as the JSON text its hash covers (``json.dumps``'s, compact,
    not ASCII-escaped)."""
    if _c_encoder is None:  # pragma: no cover - an interpreter without the C accelerator
        return _encoder.encode(values)
    return "".join(_c_encoder(values, 0))


def entry_hash(fields: dict[str, Any]) -> str:
    """The SHA-256 (hex) of an entry's fields (``FIELDS``, in order, as a JSON array)."""
    return hashlib.sha256(encode_fields([fields[k] for k in FIELDS]).encode()).hexdigest()


def _insert_head(conn: Connection) -> Any:
    """The genesis head row, unless a concurrent writer inserted it first."""
    values = {"id": 1, "seq": 0, "hash": GENESIS}
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(HEAD).values(**values).on_conflict_do_nothing()
    if conn.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(HEAD).values(**values).on_conflict_do_nothing()
    return insert(HEAD).values(**values)


def append(
    conn: Connection,
    action: str,
    kind: str,
    name: str,
    *,
    version: int | None = None,
    before: Any = None,
    after: Any = None,
    actor: str | None = None,
    reason: str | None = None,
) -> int:
    """Append one entry on ``conn`` (inside the caller's transaction); its number.

    ``action`` is a verb (``registered``, ``alias-set``, ``stage-changed``, ``revoked``...),
    ``kind`` the noun of what changed (``model``, ``dataset``, ``deployment``, ``key``...).
    """
    context = _context.get()
    if actor is None:
        given = context[0] if context is not None else None
        actor = (given() if callable(given) else given) or current_user()
    origin = context[1] if context is not None and context[1] else _local_origin()
    locked = select(HEAD.c.seq, HEAD.c.hash).where(HEAD.c.id == 1).with_for_update()
    last = conn.execute(locked).first()
    if last is None:  # a store created from the metadata (or emptied): concurrent-safe
        conn.execute(_insert_head(conn))
        last = conn.execute(locked).one()
    seq, prev = int(last.seq) + 1, str(last.hash)
    fields: dict[str, Any] = {
        "seq": seq,
        "at": time.time(),
        "actor": None if actor is None else actor[:128],
        "origin": origin[:256],
        "action": action[:64],
        "kind": kind[:32],
        "name": name[:256],
        "version": version,
        "before": canonical(before),
        "after": canonical(after),
        "reason": reason,
        "prev": prev,
    }
    digest = entry_hash(fields)
    conn.execute(insert(LOG).values(**fields, hash=digest))
    conn.execute(sql_update(HEAD).where(HEAD.c.id == 1).values(seq=seq, hash=digest))
    return seq


def head(conn: Connection) -> tuple[int, str]:
    """The chain's last entry as ``audit_head`` records it: ``(seq, hash)`` (``(0, GENESIS)``
    for an empty log)."""
    row = conn.execute(select(HEAD.c.seq, HEAD.c.hash).where(HEAD.c.id == 1)).first()
    return (0, GENESIS) if row is None else (int(row.seq), str(row.hash))


def entries(
    conn: Connection,
    *,
    kind: str | None = None,
    name: str | None = None,
    version: int | None = None,
    actor: str | None = None,
    limit: int = 100,
    after: int | None = None,
) -> list[AuditEntry]:
    """Entries newest first, filtered by what is given; ``after`` is the ``seq`` of the last
    entry of the previous page (keyset paging: this page continues with older entries)."""
    query = select(LOG)
    for column, value in (("kind", kind), ("name", name), ("version", version)):
        if value is not None:
            query = query.where(LOG.c[column] == value)
    if actor is not None:
        query = query.where(LOG.c.actor == actor)
    if after is not None:
        query = query.where(LOG.c.seq < after)
    rows = conn.execute(query.order_by(LOG.c.seq.desc()).limit(limit))
    return [AuditEntry.from_row(row) for row in rows]

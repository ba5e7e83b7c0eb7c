"""Verifying the audit log: the whole chain, streamed in batches, in one read snapshot.

Each entry's hash is recomputed from its fields and compared with the one stored, and its
``prev`` with the hash of the entry before it; the end is compared with ``audit_head`` (and,
when given, with a head hash kept elsewhere, which also catches a chain rewritten from some
entry on). The first break is named with its kind:

- ``edited``: an entry's fields no longer hash to its hash, or (hash recomputed) the next
  entry chains to another hash;
- ``inserted``: an entry the chain skips (the next one chains to the entry before it), or an
  entry after the recorded head;
- ``deleted``: a gap in the numbers, or entries renumbered after a deletion;
- ``truncated``: entries cut off the end (the head names a later entry);
- ``head mismatch``: the head's hash is not the last entry's, or the given head is not in
  the chain.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Connection, select

from shipyard.store._audit import FIELDS, GENESIS, HEAD, LOG, encode_fields

__all__ = ["BREAKS", "AuditBreak", "AuditReport", "verify"]

BATCH = 20_000  # entries read per query (keyset paging on seq)
BREAKS = ("edited", "inserted", "deleted", "truncated", "head mismatch")
_COLUMNS = [LOG.c[k] for k in (*FIELDS, "hash")]
_SEQ, _PREV, _HASH = 0, FIELDS.index("prev"), len(FIELDS)
_MAX_SHIFT = 64  # renumbering after deleting this many entries is still named "deleted"


@dataclass(frozen=True)
class AuditBreak:
    """Where the chain breaks first: the entry (``seq``), the kind of break (one of
    :data:`BREAKS`) and a one-line explanation."""

    seq: int
    kind: str
    message: str


@dataclass(frozen=True)
class AuditReport:
    """The verdict of one verification: ``ok``, how many entries were checked, the head
    (``head_seq``, ``head_hash``) as recorded, the first break (None when intact), the
    external head checked (``anchor``) and how long it took."""

    ok: bool
    entries: int
    head_seq: int
    head_hash: str
    broken: AuditBreak | None
    seconds: float
    anchor: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AuditReport:
        found = data.get("broken")
        broken = None if found is None else AuditBreak(**found)
        return cls(**{**data, "broken": broken})

    def __str__(self) -> str:
        if self.broken is None:
            return (
                f"Audit log intact: {self.entries} entries verified, head {self.head_seq} "
                f"{self.head_hash[:16]} ({self.seconds:.2f} s)."
            )
        where = f"entry {self.broken.seq} ({self.broken.kind})"
        return f"Audit log BROKEN at {where}: {self.broken.message}"


_sha256 = hashlib.sha256


def _digest(row: Any, seq: int | None = None) -> str:
    values = list(row[:_HASH])
    if seq is not None:
        values[_SEQ] = seq
    return _sha256(encode_fields(values).encode()).hexdigest()


class _Walk:
    """The chain as read so far: the next number expected, the last hash and its ``prev``."""

    def __init__(self, head_seq: int, anchor: str | None) -> None:
        self.head_seq = head_seq
        self.anchor = anchor
        self.anchored = anchor is None
        self.expected = 1
        self.last = GENESIS
        self.before_last: str | None = None
        self.count = 0

    def steps(self, rows: Any) -> AuditBreak | None:
        """Check a batch in order: the usual case (all intact) without a call per entry."""
        expected, last, head_seq, anchor = self.expected, self.last, self.head_seq, self.anchor
        before_last, anchored, done = self.before_last, self.anchored, 0
        encode, sha256 = encode_fields, _sha256
        for row in rows:
            seq, stored = row[_SEQ], row[_HASH]
            intact = seq == expected and seq <= head_seq and row[_PREV] == last
            if not intact or sha256(encode(list(row[:_HASH])).encode()).hexdigest() != stored:
                self.expected, self.last, self.before_last = expected, last, before_last
                self.anchored, self.count, done = anchored, self.count + done, 0
                broken = self.step(row)
                if broken is not None:
                    return broken
                expected, last, before_last = self.expected, self.last, self.before_last
                anchored = self.anchored
                continue
            before_last, last, expected, done = last, stored, expected + 1, done + 1
            if stored == anchor:
                anchored = True
        self.expected, self.last, self.before_last = expected, last, before_last
        self.anchored, self.count = anchored, self.count + done
        return None

    def step(self, row: Any) -> AuditBreak | None:
        seq, prev, stored = int(row[_SEQ]), row[_PREV], row[_HASH]
        if seq > self.head_seq:
            return AuditBreak(
                seq, "inserted", f"entry {seq} is after the head (entry {self.head_seq})."
            )
        if seq != self.expected:
            gap = f"entry {self.expected}" if seq == self.expected + 1 else (
                f"entries {self.expected} to {seq - 1}"
            )  # fmt: skip
            return AuditBreak(self.expected, "deleted", f"{gap} missing (deleted).")
        actual = _digest(row)
        if prev != self.last:
            broken = self._relink(row, seq, prev, stored, actual)
            if broken is not None:
                return broken
        if actual != stored:
            return AuditBreak(seq, "edited", f"entry {seq}'s fields do not hash to its hash.")
        self.before_last, self.last = self.last, stored
        self.expected += 1
        self.count += 1
        if not self.anchored and stored == self.anchor:
            self.anchored = True
        return None

    def _relink(self, row: Any, seq: int, prev: str, stored: str, actual: str) -> AuditBreak:
        if prev == self.before_last:
            return AuditBreak(
                seq - 1,
                "inserted",
                f"entry {seq - 1} was inserted (entry {seq} chains to the entry before it).",
            )
        if actual == stored:
            return AuditBreak(
                seq - 1,
                "edited",
                f"entry {seq - 1} was edited and re-hashed (entry {seq} chains to another hash).",
            )
        for shift in range(1, _MAX_SHIFT + 1):
            if _digest(row, seq + shift) == stored:
                return AuditBreak(
                    seq,
                    "deleted",
                    f"{_count(shift)} before entry {seq} deleted and the rest renumbered.",
                )
        return AuditBreak(seq, "edited", f"entry {seq} was edited (it chains to another hash).")

    def end(self, head_hash: str) -> AuditBreak | None:
        last_seq = self.expected - 1
        if last_seq < self.head_seq:
            gap = f"entry {self.head_seq}" if last_seq + 1 == self.head_seq else (
                f"entries {last_seq + 1} to {self.head_seq}"
            )  # fmt: skip
            return AuditBreak(last_seq + 1, "truncated", f"{gap} cut off the end.")
        if head_hash != self.last:
            return AuditBreak(
                last_seq, "head mismatch", f"the head's hash is not entry {last_seq}'s."
            )
        if not self.anchored:
            return AuditBreak(
                last_seq,
                "head mismatch",
                f"the given head {self.anchor} is not in the chain (rewritten or cut before it).",
            )
        return None


def _count(n: int) -> str:
    return "1 entry" if n == 1 else f"{n} entries"


def verify(conn: Connection, *, anchor: str | None = None, batch: int = BATCH) -> AuditReport:
    """Verify the whole chain on ``conn`` (one read transaction: a consistent snapshot),
    reading ``batch`` entries at a time; ``anchor``: a head hash kept elsewhere, which the
    chain must contain."""
    started = time.perf_counter()
    found = conn.execute(select(HEAD.c.seq, HEAD.c.hash).where(HEAD.c.id == 1)).first()
    head_seq, head_hash = (0, GENESIS) if found is None else (int(found.seq), str(found.hash))
    walk = _Walk(head_seq, anchor)
    broken: AuditBreak | None = None
    after = 0
    while broken is None:
        query = select(*_COLUMNS).where(LOG.c.seq > after).order_by(LOG.c.seq).limit(batch)
        rows = conn.execute(query).all()
        if found is None and rows:
            broken = AuditBreak(1, "head mismatch", "the head row (audit_head) is missing.")
            break
        broken = walk.steps(rows)
        if len(rows) < batch:
            break
        after = int(rows[-1][_SEQ])
    if broken is None:
        broken = walk.end(head_hash)
    return AuditReport(
        ok=broken is None,
        entries=walk.count,
        head_seq=head_seq,
        head_hash=head_hash,
        broken=broken,
        seconds=time.perf_counter() - started,
        anchor=anchor,
    )

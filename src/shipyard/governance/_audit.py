"""The audit log, read and verified: who changed what, when, from where, before and after.

Every state change of the platform (registrations, promotions, alias moves, deployments,
keys, users, pipeline triggers, monitors...) is appended to one hash-chained log in the
same transaction as the change (``shipyard.store.append_audit``). :func:`audit_log` lists
it, newest first, filtered and paged; :func:`verify_audit` walks the whole chain and names
the first edited, inserted or deleted entry. In remote mode (``SHIPYARD_URL``) both go
through the platform server (``GET /api/audit``, ``GET /api/audit/verify``: admin role).
"""

from __future__ import annotations

import re
from typing import Any

from shipyard.config import get_settings
from shipyard.errors import InvalidInput
from shipyard.store import (
    AuditEntry,
    AuditReport,
    audit_entries,
    default_database,
    remote_client,
    verify_audit_chain,
)

__all__ = ["MAX_LIMIT", "audit_log", "check_filters", "check_head", "verify_audit"]

MAX_LIMIT = 10_000
_HASH = re.compile(r"[0-9a-f]{64}")


def check_filters(
    kind: str | None, name: str | None, version: int | None, actor: str | None,
    limit: int, after: int | None,
) -> None:  # fmt: skip
    """InvalidInput naming the first filter out of range (before any query)."""
    for field, value, size in (("kind", kind, 32), ("name", name, 256), ("actor", actor, 128)):
        if value is not None and (not isinstance(value, str) or not value or len(value) > size):
            raise InvalidInput(f"{field}: expected a non-empty text of at most {size} characters.")
    bounds = (("version", version, 2**31 - 1), ("after", after, 2**63 - 1), ("limit", limit, None))
    for field, number, high in bounds:
        if number is None:
            continue
        if isinstance(number, bool) or not isinstance(number, int) or number < 1:
            raise InvalidInput(f"{field}: expected a whole number >= 1, got {number!r}.")
        if high is not None and number > high:  # the column's range
            raise InvalidInput(f"{field}: expected at most {high:,}, got {number:,}.")
    if limit > MAX_LIMIT:
        raise InvalidInput(f"limit: expected at most {MAX_LIMIT}, got {limit}.")


def check_head(head: str | None) -> str | None:
    """The head hash normalized (lower case), InvalidInput unless 64 hex digits."""
    if head is None:
        return None
    value = head.strip().lower() if isinstance(head, str) else ""
    if not _HASH.fullmatch(value):
        raise InvalidInput(f"head: expected a SHA-256 hash (64 hex digits), got {head!r}.")
    return value


def audit_log(
    kind: str | None = None,
    name: str | None = None,
    version: int | None = None,
    actor: str | None = None,
    limit: int = 100,
    after: int | None = None,
) -> list[AuditEntry]:
    """Audit entries, newest first: only those about ``kind`` (``model``, ``dataset``,
    ``deployment``, ``key``, ``user``, ``pipeline``, ``monitor``...), ``name``, ``version``
    or by ``actor`` when given; at most ``limit``. ``after``: the ``seq`` of the last entry
    of the previous page (the next page continues with older entries).

    Example:
        >>> entries = audit_log(kind="model", name="churn", limit=5)  # doctest: +SKIP
        >>> [e.action for e in entries]  # doctest: +SKIP
        ['alias', 'registered']

    Raises:
        InvalidInput: a filter out of range (limit 1 to 10,000).
    """
    check_filters(kind, name, version, actor, limit, after)
    if get_settings().remote:
        return _remote(
            {"kind": kind, "name": name, "version": version, "actor": actor}, limit, after
        )
    with default_database().read() as conn:
        return audit_entries(
            conn, kind=kind, name=name, version=version, actor=actor, limit=limit, after=after
        )


def _remote(query: dict[str, Any], limit: int, after: int | None) -> list[AuditEntry]:
    """``limit`` entries from the server, in pages of at most 1,000 (its largest)."""
    found: list[AuditEntry] = []
    while len(found) < limit:
        size = min(limit - len(found), 1000)
        answer = remote_client().get("/api/audit", **query, page_size=size, after=after)
        found += [AuditEntry.from_dict(item) for item in answer["items"]]
        if len(answer["items"]) < size:
            break
        after = found[-1].seq
    return found


def verify_audit(head: str | None = None) -> AuditReport:
    """Walk the whole audit log and check every entry's hash and link; the report names the
    first broken entry and how it broke (edited, inserted, deleted, truncated, head
    mismatch). ``head``: a head hash kept elsewhere (``shipyard audit head``, written down
    earlier), which the chain must still contain: this catches a log rewritten from some
    entry on, which a chain alone cannot.

    Raises:
        InvalidInput: ``head`` is not a SHA-256 hash.
    """
    anchor = check_head(head)
    if get_settings().remote:
        found = remote_client().get("/api/audit/verify", head=anchor)
        return AuditReport.from_dict(found)
    with default_database().read() as conn:
        return verify_audit_chain(conn, anchor=anchor)

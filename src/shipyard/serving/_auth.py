"""API keys, scopes, rate limits and the overload guard of the inference server.

A key is ``sy_<prefix>_<secret>``: 32 random bytes from :mod:`secrets`, shown once at
creation; the store keeps its SHA-256 (a key is high-entropy, so a plain hash is safe to
keep: there is nothing to brute-force, unlike a password). Scopes: ``predict`` (inference and
model metadata), ``feedback`` (``POST /feedback``), ``admin`` (``/metrics``). Health
endpoints never need a key. Rate limits are token buckets per key and per server process.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import insert, select, update

from shipyard._refs import check_name
from shipyard.config import current_user
from shipyard.errors import Conflict, InvalidInput, NotFound
from shipyard.serving._tables import KEYS
from shipyard.store import default_database

__all__ = ["SCOPES", "ApiKey", "Keyring", "RateLimiter", "create_key", "list_keys", "revoke_key"]

SCOPES = ("predict", "feedback", "admin")


@dataclass(frozen=True)
class ApiKey:
    name: str
    prefix: str
    scopes: tuple[str, ...]
    rate_limit: float | None
    created_at: float
    created_by: str | None
    revoked_at: float | None


def create_key(
    name: str, scopes: Iterable[str] = ("predict",), rate_limit: float | None = None
) -> str:
    """A new key (returned once; only its hash is stored)."""
    check_name("API key", name)
    chosen = tuple(dict.fromkeys(scopes))
    unknown = [s for s in chosen if s not in SCOPES]
    if not chosen or unknown:
        raise InvalidInput(f"scopes must be some of {', '.join(SCOPES)}; got {list(chosen)}.")
    if rate_limit is not None and not rate_limit > 0:
        raise InvalidInput(f"rate_limit must be a positive number per second; got {rate_limit}.")
    prefix = secrets.token_hex(4)
    key = f"sy_{prefix}_{secrets.token_urlsafe(32)}"
    with default_database().write() as conn:
        if conn.scalar(select(KEYS.c.id).where(KEYS.c.name == name)):
            raise Conflict(f"An API key named {name!r} exists; revoke it or pick another name.")
        conn.execute(
            insert(KEYS).values(
                id=uuid.uuid4().hex,
                name=name,
                prefix=prefix,
                digest=_digest(key),
                scopes=",".join(chosen),
                rate_limit=rate_limit,
                created_at=time.time(),
                created_by=current_user(),
                revoked_at=None,
            )
        )
    return key


def list_keys() -> list[ApiKey]:
    with default_database().read() as conn:
        rows = conn.execute(select(KEYS).order_by(KEYS.c.name)).all()
    return [_key(r) for r in rows]


def revoke_key(name: str) -> None:
    """Revoke a key: servers refuse it from their next refresh (within their poll)."""
    with default_database().write() as conn:
        done = conn.execute(
            update(KEYS)
            .where(KEYS.c.name == name, KEYS.c.revoked_at.is_(None))
            .values(revoked_at=time.time())
        )
        if done.rowcount == 0:
            known = conn.scalar(select(KEYS.c.id).where(KEYS.c.name == name))
            if known is None:
                raise NotFound(f"No API key named {name!r}. Try: shipyard keys list")


class Keyring:
    """The live keys by hash, as a server checks them: read again from the store every
    ``ttl`` seconds (a revoked key stops working within it), and at most once a second when
    an unknown key arrives (a new key works at once)."""

    def __init__(self, ttl: float = 5.0) -> None:
        self.ttl = ttl
        self._by_digest: dict[str, ApiKey] = {}
        self.loaded = 0.0
        self.refresh()

    def refresh(self) -> None:
        with default_database().read() as conn:
            rows = conn.execute(select(KEYS).where(KEYS.c.revoked_at.is_(None))).all()
        self._by_digest = {r.digest: _key(r) for r in rows}
        self.loaded = time.monotonic()

    def find(self, key: str) -> ApiKey | None:
        age = time.monotonic() - self.loaded
        if age > self.ttl:
            self.refresh()
        found = self._by_digest.get(_digest(key))
        if found is None and age > 1.0:
            self.refresh()
            found = self._by_digest.get(_digest(key))
        return found


class RateLimiter:
    """Token buckets, one per key name: ``rate`` requests per second, bursts up to it."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}  # name -> (tokens, last time)

    def allow(self, name: str, rate: float) -> float:
        """0 if the request may go; otherwise seconds until it may."""
        now = time.monotonic()
        capacity = max(rate, 1.0)  # a rate under 1/s still allows one request at a time
        tokens, last = self._buckets.get(name, (capacity, now))
        tokens = min(capacity, tokens + (now - last) * rate)
        if tokens >= 1:
            self._buckets[name] = (tokens - 1, now)
            return 0.0
        self._buckets[name] = (tokens, now)
        return (1 - tokens) / rate


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _key(row: object) -> ApiKey:
    return ApiKey(
        name=row.name,  # type: ignore[attr-defined]
        prefix=row.prefix,  # type: ignore[attr-defined]
        scopes=tuple(row.scopes.split(",")),  # type: ignore[attr-defined]
        rate_limit=row.rate_limit,  # type: ignore[attr-defined]
        created_at=row.created_at,  # type: ignore[attr-defined]
        created_by=row.created_by,  # type: ignore[attr-defined]
        revoked_at=row.revoked_at,  # type: ignore[attr-defined]
    )

"""API keys, scopes and rate limits: the one key check of the inference server and the
platform API (:func:`check_key`).

A key is ``sy_<prefix>_<secret>``: 32 random bytes from :mod:`secrets`, shown once at
creation; the store keeps its SHA-256 (a key is high-entropy, so a plain hash is safe to
keep: there is nothing to brute-force, unlike a password). Scopes: ``predict`` (inference and
model metadata), ``feedback`` (``POST /feedback``), ``admin`` (``/metrics``). Health
endpoints never need a key. Rate limits are token buckets per key and per server process.
"""

from __future__ import annotations

import abc
import hashlib
import math
import secrets
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import insert, select, update

from shipyard._refs import check_name
from shipyard.config import current_user
from shipyard.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from shipyard.serving._tables import KEYS
from shipyard.store import Database, append_audit, default_database

__all__ = [
    "SCOPES",
    "ApiKey",
    "KeyStore",
    "Keyring",
    "RateLimiter",
    "SQLKeyStore",
    "check_key",
    "create_key",
    "default_keys",
    "list_keys",
    "presented_key",
    "revoke_key",
]

SCOPES = ("predict", "feedback", "admin")


@dataclass(frozen=True)
class ApiKey:
    """An API key as stored (never the key itself: its name, prefix, scopes and limit)."""

    name: str
    prefix: str
    scopes: tuple[str, ...]
    rate_limit: float | None
    created_at: float
    created_by: str | None
    revoked_at: float | None


class KeyStore(abc.ABC):
    """Where API keys live: the primitives a backend implements, conveniences built on them.

    Thread-safe. Only a key's SHA-256 is stored. ``insert`` raises Conflict for a name in
    use; ``revoke`` raises NotFound for an unknown name (revoking twice is no error).
    """

    @abc.abstractmethod
    def insert(self, key: ApiKey, digest: str) -> None: ...

    @abc.abstractmethod
    def keys(self) -> list[ApiKey]:
        """Every key, revoked or not, by name."""

    @abc.abstractmethod
    def live(self) -> dict[str, ApiKey]:
        """The keys not revoked, by digest."""

    @abc.abstractmethod
    def revoke(self, name: str) -> None: ...

    def create(
        self, name: str, scopes: Iterable[str] = ("predict",), rate_limit: float | None = None
    ) -> str:
        """A new key (returned once; only its hash is stored)."""
        check_name("API key", name)
        chosen = tuple(dict.fromkeys(scopes))
        unknown = [s for s in chosen if s not in SCOPES]
        if not chosen or unknown:
            raise InvalidInput(f"scopes must be some of {', '.join(SCOPES)}; got {list(chosen)}.")
        if rate_limit is not None and not rate_limit > 0:
            raise InvalidInput(
                f"rate_limit must be a positive number per second; got {rate_limit}."
            )
        prefix = secrets.token_hex(4)
        key = f"sy_{prefix}_{secrets.token_urlsafe(32)}"
        made = ApiKey(name, prefix, chosen, rate_limit, time.time(), current_user(), None)
        self.insert(made, _digest(key))
        return key


class SQLKeyStore(KeyStore):
    """API keys in the metadata store's ``api_keys`` table."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def insert(self, key: ApiKey, digest: str) -> None:
        with self.database.write() as conn:
            if conn.scalar(select(KEYS.c.id).where(KEYS.c.name == key.name)):
                raise Conflict(
                    f"An API key named {key.name!r} exists; revoke it or pick another name."
                )
            conn.execute(
                insert(KEYS).values(
                    id=uuid.uuid4().hex,
                    name=key.name,
                    prefix=key.prefix,
                    digest=digest,
                    scopes=",".join(key.scopes),
                    rate_limit=key.rate_limit,
                    created_at=key.created_at,
                    created_by=key.created_by,
                    revoked_at=None,
                )
            )
            after = {"prefix": key.prefix, "scopes": list(key.scopes), "rate": key.rate_limit}
            append_audit(conn, "created", "key", key.name, after=after)

    def keys(self) -> list[ApiKey]:
        with self.database.read() as conn:
            rows = conn.execute(select(KEYS).order_by(KEYS.c.name)).all()
        return [_key(r) for r in rows]

    def live(self) -> dict[str, ApiKey]:
        with self.database.read() as conn:
            rows = conn.execute(select(KEYS).where(KEYS.c.revoked_at.is_(None))).all()
        return {r.digest: _key(r) for r in rows}

    def revoke(self, name: str) -> None:
        with self.database.write() as conn:
            done = conn.execute(
                update(KEYS)
                .where(KEYS.c.name == name, KEYS.c.revoked_at.is_(None))
                .values(revoked_at=time.time())
            )
            if done.rowcount == 0:
                known = conn.scalar(select(KEYS.c.id).where(KEYS.c.name == name))
                if known is None:
                    raise NotFound(f"No API key named {name!r}. Try: shipyard keys list")
            else:
                append_audit(conn, "revoked", "key", name)


def default_keys() -> KeyStore:
    """The key store of the default metadata store (built here, at the SDK's edge)."""
    return SQLKeyStore(default_database())


def create_key(
    name: str, scopes: Iterable[str] = ("predict",), rate_limit: float | None = None
) -> str:
    """A new key (returned once; only its hash is stored)."""
    return default_keys().create(name, scopes, rate_limit)


def list_keys() -> list[ApiKey]:
    return default_keys().keys()


def revoke_key(name: str) -> None:
    """Revoke a key: servers refuse it from their next refresh (within their poll)."""
    default_keys().revoke(name)


class Keyring:
    """The live keys by hash, as a server checks them: read again from ``store`` every
    ``ttl`` seconds (a revoked key stops working within it), and at once when an unknown
    key arrives, so a new key works on its first request. Those extra reads are
    rate-limited (a bucket of ``burst`` reads refilled at ``per_second``) and an unknown
    key's verdict is kept for ``NEGATIVE_TTL`` seconds, so a flood of bad keys costs the
    store a few reads a second, not one per request. The first :meth:`find` (or
    :meth:`refresh`) reads the store; the constructor only keeps its arguments."""

    NEGATIVE_TTL = 1.0

    def __init__(
        self, store: KeyStore, ttl: float = 5.0, *, burst: int = 4, per_second: float = 2.0
    ) -> None:
        self.store = store
        self.ttl = ttl
        self.burst = burst
        self.per_second = per_second
        self._by_digest: dict[str, ApiKey] = {}
        self.loaded: float | None = None
        self.reads = 0  # how many times the store was read (tests, metrics)
        self._tokens, self._filled = float(burst), time.monotonic()
        self._unknown: dict[str, float] = {}  # digest -> when the store last lacked it

    def refresh(self) -> None:
        self._by_digest = self.store.live()
        self.loaded = time.monotonic()
        self.reads += 1

    def find(self, key: str) -> ApiKey | None:
        now = time.monotonic()
        if self.loaded is None or now - self.loaded > self.ttl:
            self.refresh()
        digest = _digest(key)
        found = self._by_digest.get(digest)
        if found is not None or not self._may_read(digest, now):
            return found
        self.refresh()
        found = self._by_digest.get(digest)
        if found is None:
            if len(self._unknown) >= 10_000:
                self._unknown.clear()
            self._unknown[digest] = now
        return found

    def _may_read(self, digest: str, now: float) -> bool:
        """Whether an unknown key may read the store again: not one refused a moment ago,
        and a token left in the bucket."""
        if now - self._unknown.get(digest, -math.inf) < self.NEGATIVE_TTL:
            return False
        self._tokens = min(self.burst, self._tokens + (now - self._filled) * self.per_second)
        self._filled = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key a request carries: ``Authorization: Bearer <key>`` or ``X-API-Key``."""
    header = headers.get("authorization", "")
    key = header[7:].strip() if header[:7].lower() == "bearer " else None
    return key or headers.get("x-api-key") or None


def check_key(keyring: Keyring, headers: Mapping[str, str], scope: str | None) -> ApiKey:
    """The live key of a request that holds ``scope`` (None: any live key will do); the
    one key check of the inference server and the platform API.

    Raises:
        Unauthorized: no key, or an unknown or revoked one (401).
        Forbidden: a key without ``scope`` (403).
    """
    key = presented_key(headers)
    if not key:
        raise Unauthorized("An API key is required: 'Authorization: Bearer <key>'.")
    found = keyring.find(key)
    if found is None:
        raise Unauthorized("Unknown or revoked API key.")
    if scope is not None and scope not in found.scopes:
        raise Forbidden(
            f"Key {found.name!r} lacks the {scope!r} scope this request needs "
            f"(it has {', '.join(found.scopes)})."
        )
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

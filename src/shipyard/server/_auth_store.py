"""Where the platform server's users and tokens live: the interface and its SQL store.

A token is ``syt_<prefix>_<secret>``: 4 random bytes of prefix (hex, how a token is told
apart and revoked) and 32 of secret from :mod:`secrets`, shown once at creation. The store
keeps its SHA-256 only: a token is high-entropy, so a plain hash is safe to keep (nothing to
brute-force, unlike a password), and looking one up by its hash compares in constant time
what the caller sent.
"""

from __future__ import annotations

import abc
import hashlib
import re
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from shipyard.errors import Conflict, NotFound
from shipyard.server._access import ROLES
from shipyard.server._tables import TOKENS, USERS
from shipyard.store import Database, append_audit

__all__ = ["SQLUserStore", "Token", "User", "UserStore", "digest", "new_token", "token_prefix"]

_TOKEN = re.compile(r"syt_([0-9a-f]{8})_[A-Za-z0-9_\-]{43}")


@dataclass(frozen=True)
class User:
    """A user of the platform server: a name, one role, and whether they may sign in."""

    name: str
    role: str
    created_at: float
    created_by: str | None
    disabled: bool


@dataclass(frozen=True)
class Token:
    """A user's token as stored (never the token itself): its prefix, name and times."""

    prefix: str
    user: str
    name: str
    created_at: float
    created_by: str | None
    last_used_at: float | None
    expires_at: float | None
    revoked_at: float | None

    @property
    def state(self) -> str:
        """``active``, ``revoked`` or ``expired``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= time.time():
            return "expired"
        return "active"


def new_token() -> tuple[str, str]:
    """A fresh token and its prefix."""
    prefix = secrets.token_hex(4)
    return f"syt_{prefix}_{secrets.token_urlsafe(32)}", prefix


def token_prefix(token: str) -> str | None:
    """The prefix of a well-formed token (None for anything else)."""
    found = _TOKEN.fullmatch(token)
    return found.group(1) if found else None


def digest(token: str) -> str:
    """What the store keeps of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


class UserStore(abc.ABC):
    """Users and their tokens. Thread-safe; returned objects are immutable snapshots.

    ``create_user`` raises Conflict for a name in use; every method naming a user or a
    token raises NotFound for an unknown one; ``update_user`` raises Conflict when the
    change would leave no enabled admin. Names and roles are checked by the caller (the
    SDK's functions in ``server._auth``).
    """

    @abc.abstractmethod
    def create_user(self, name: str, role: str, created_by: str | None) -> User: ...

    @abc.abstractmethod
    def users(self) -> list[User]:
        """Every user, by name."""

    @abc.abstractmethod
    def user(self, name: str) -> User: ...

    @abc.abstractmethod
    def update_user(
        self, name: str, *, role: str | None = None, disabled: bool | None = None
    ) -> User: ...

    @abc.abstractmethod
    def create_token(
        self, user: str, name: str, expires_in: float | None, created_by: str | None
    ) -> tuple[Token, str]:
        """A new token of ``user`` (valid ``expires_in`` seconds, or until revoked): its
        record and the token (shown once)."""

    @abc.abstractmethod
    def tokens(self, user: str | None = None) -> list[Token]:
        """Tokens (of ``user``, else everyone's), newest first."""

    @abc.abstractmethod
    def revoke_token(self, prefix: str) -> Token:
        """Revoke a token (revoking twice is no error); its record."""


class SQLUserStore(UserStore):
    """Users and tokens in the metadata store's ``users`` and ``user_tokens`` tables."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def create_user(self, name: str, role: str, created_by: str | None) -> User:
        made = User(name, role, time.time(), created_by, False)
        with self.database.write() as conn:
            if conn.scalar(select(USERS.c.name).where(USERS.c.name == name)) is not None:
                raise Conflict(f"A user named {name!r} exists. Try: shipyard users list")
            conn.execute(insert(USERS).values(**made.__dict__))
            append_audit(conn, "created", "user", name, after={"role": role})
        return made

    def users(self) -> list[User]:
        with self.database.read() as conn:
            rows = conn.execute(select(USERS).order_by(USERS.c.name)).all()
        return [_user(r) for r in rows]

    def user(self, name: str) -> User:
        with self.database.read() as conn:
            return _user(_one_user(conn, name))

    def update_user(
        self, name: str, *, role: str | None = None, disabled: bool | None = None
    ) -> User:
        with self.database.write() as conn:
            before = _user(_one_user(conn, name))
            after = User(
                name,
                before.role if role is None else role,
                before.created_at,
                before.created_by,
                before.disabled if disabled is None else disabled,
            )
            losing = before.role == "admin" and not before.disabled
            if losing and (after.role != "admin" or after.disabled):
                others = conn.scalar(
                    select(func.count())
                    .select_from(USERS)
                    .where(USERS.c.role == "admin", ~USERS.c.disabled, USERS.c.name != name)
                )
                if not others:
                    raise Conflict(
                        f"user {name!r} is the last enabled admin; make another user admin "
                        "first (shipyard users role NAME admin)."
                    )
            conn.execute(
                update(USERS)
                .where(USERS.c.name == name)
                .values(role=after.role, disabled=after.disabled)
            )
            action = "updated" if disabled is None or disabled == before.disabled else (
                "disabled" if disabled else "enabled"
            )  # fmt: skip
            was = {"role": before.role, "disabled": before.disabled}
            now = {"role": after.role, "disabled": after.disabled}
            append_audit(conn, action, "user", name, before=was, after=now)
        return after

    def create_token(
        self, user: str, name: str, expires_in: float | None, created_by: str | None
    ) -> tuple[Token, str]:
        now = time.time()
        expires_at = None if expires_in is None else now + expires_in
        with self.database.write() as conn:
            _one_user(conn, user)
            for _ in range(5):  # a prefix already taken (1 in 4 billion): draw again
                token, prefix = new_token()
                if conn.scalar(select(TOKENS.c.prefix).where(TOKENS.c.prefix == prefix)):
                    continue
                made = Token(prefix, user, name, now, created_by, None, expires_at, None)
                conn.execute(insert(TOKENS).values(**made.__dict__, digest=digest(token)))
                after = {"prefix": prefix, "name": name, "expires_at": expires_at}
                append_audit(conn, "token-created", "user", user, after=after)
                return made, token
        raise Conflict("token: could not draw an unused prefix; try again.")

    def tokens(self, user: str | None = None) -> list[Token]:
        query = select(TOKENS).order_by(TOKENS.c.created_at.desc(), TOKENS.c.prefix)
        with self.database.read() as conn:
            if user is not None:
                _one_user(conn, user)
                query = query.where(TOKENS.c.user == user)
            rows = conn.execute(query).all()
        return [_token(r) for r in rows]

    def revoke_token(self, prefix: str) -> Token:
        with self.database.write() as conn:
            done = conn.execute(
                update(TOKENS)
                .where(TOKENS.c.prefix == prefix, TOKENS.c.revoked_at.is_(None))
                .values(revoked_at=time.time())
            )
            row = conn.execute(select(TOKENS).where(TOKENS.c.prefix == prefix)).first()
            if done.rowcount and row is not None:
                append_audit(conn, "token-revoked", "user", row.user, before={"prefix": prefix})
        if row is None:
            raise NotFound(f"No token with prefix {prefix!r}. Try: shipyard tokens list")
        return _token(row)

    # the server's side only: finding the caller of a request

    def lookup(self, hashed: str) -> tuple[Token, User] | None:
        """The token of this digest and its user (revoked, expired or not), or None."""
        query = (
            select(TOKENS, USERS.c.role, USERS.c.disabled, USERS.c.created_at.label("since"))
            .join(USERS, USERS.c.name == TOKENS.c.user)
            .where(TOKENS.c.digest == hashed)
        )
        with self.database.read() as conn:
            row = conn.execute(query).first()
        if row is None or not secrets.compare_digest(row.digest, hashed):
            return None
        owner = User(row.user, row.role, row.since, None, bool(row.disabled))
        return _token(row), owner

    def touch(self, prefix: str, at: float) -> None:
        """Record when a token was last used."""
        with self.database.write() as conn:
            conn.execute(update(TOKENS).where(TOKENS.c.prefix == prefix).values(last_used_at=at))

    def bootstrap(self, name: str = "admin") -> str | None:
        """With no user at all: create ``name`` (admin) and return its first token, once;
        None when there are users (a second server starting at once included)."""
        try:
            with self.database.write() as conn:
                if conn.scalar(select(func.count()).select_from(USERS)):
                    return None
                conn.execute(
                    insert(USERS).values(
                        name=name, role="admin", created_at=time.time(), created_by=None,
                        disabled=False,
                    )
                )  # fmt: skip
                append_audit(conn, "created", "user", name, after={"role": "admin"})
        except IntegrityError:
            return None
        return self.create_token(name, "bootstrap", None, None)[1]


def _one_user(conn: Connection, name: str) -> object:
    row = conn.execute(select(USERS).where(USERS.c.name == name)).first()
    if row is None:
        raise NotFound(f"No user named {name!r}. Try: shipyard users list")
    return row


def _user(row: object) -> User:
    return User(
        name=row.name,  # type: ignore[attr-defined]
        role=row.role if row.role in ROLES else "viewer",  # type: ignore[attr-defined]
        created_at=row.created_at,  # type: ignore[attr-defined]
        created_by=row.created_by,  # type: ignore[attr-defined]
        disabled=bool(row.disabled),  # type: ignore[attr-defined]
    )


def _token(row: object) -> Token:
    return Token(
        prefix=row.prefix,  # type: ignore[attr-defined]
        user=row.user,  # type: ignore[attr-defined]
        name=row.name,  # type: ignore[attr-defined]
        created_at=row.created_at,  # type: ignore[attr-defined]
        created_by=row.created_by,  # type: ignore[attr-defined]
        last_used_at=row.last_used_at,  # type: ignore[attr-defined]
        expires_at=row.expires_at,  # type: ignore[attr-defined]
        revoked_at=row.revoked_at,  # type: ignore[attr-defined]
    )

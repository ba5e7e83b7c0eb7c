"""Users and tokens: the SDK's functions (what ``shipyard users``/``tokens`` and the
``/api/users`` routes call) and how the server turns a token into a caller.

The functions build the store at the edge (:func:`user_store`): the metadata store's
tables, or the platform server's routes in remote mode (``SHIPYARD_URL``). They check names,
roles and durations first, so a mistake is one line before anything is sent.
:class:`Authenticator` is what ``create_app(auth=True)`` sets as
``app.state.authenticate``: a token's verdict is kept for at most ``ttl`` seconds (one
second), so a revoked token, a disabled user or a changed role takes effect that soon.
"""

from __future__ import annotations

import math
import re
import threading
import time

from shipyard._refs import check_name
from shipyard.config import current_user, get_settings
from shipyard.errors import InvalidInput, Unauthorized
from shipyard.server._access import ROLES, Caller
from shipyard.server._auth_store import (
    SQLUserStore,
    Token,
    User,
    UserStore,
    digest,
    token_prefix,
)
from shipyard.store import default_database

__all__ = [
    "Authenticator",
    "check_role",
    "create_token",
    "create_user",
    "disable_user",
    "get_user",
    "issue_token",
    "list_tokens",
    "list_users",
    "parse_prefix",
    "revoke_token",
    "set_role",
    "user_store",
]

MAX_EXPIRY = 100 * 365.25 * 86400.0  # seconds: a token may live up to a hundred years
_PREFIX = re.compile(r"(?:syt_)?([0-9a-f]{8})(?:_\S*)?")


def user_store() -> UserStore:
    """The users and tokens of the default metadata store, or of the platform server in
    remote mode."""
    if get_settings().remote:
        from shipyard.server._auth_http import HttpUserStore
        from shipyard.store import remote_client

        return HttpUserStore(remote_client())
    return SQLUserStore(default_database())


def check_role(role: object) -> str:
    """``role`` if it is one of viewer, editor, admin; InvalidInput naming the field."""
    if role not in ROLES:
        raise InvalidInput(f"role: expected one of {', '.join(ROLES)}; got {role!r}.")
    return str(role)


def parse_prefix(value: str) -> str:
    """A token's prefix from what people paste: ``ab12cd34``, ``syt_ab12cd34`` or the
    whole token."""
    found = _PREFIX.fullmatch(value.strip()) if isinstance(value, str) else None
    if found is None:
        raise InvalidInput(
            f"token: expected its prefix (8 hex digits, as `shipyard tokens list` shows); "
            f"got {value!r}."
        )
    return found.group(1)


def create_user(name: str, role: str = "viewer", *, created_by: str | None = None) -> User:
    """A new user with ``role`` (viewer, editor or admin); give them a token with
    :func:`create_token`. Conflict when the name is taken."""
    check_name("user", name)
    check_role(role)
    return user_store().create_user(name, role, created_by or current_user())


def list_users() -> list[User]:
    """Every user, by name (disabled ones included)."""
    return user_store().users()


def get_user(name: str) -> User:
    """One user (NotFound for an unknown name)."""
    check_name("user", name)
    return user_store().user(name)


def set_role(name: str, role: str) -> User:
    """Give a user another role (Conflict when it would leave no enabled admin)."""
    check_name("user", name)
    check_role(role)
    return user_store().update_user(name, role=role)


def disable_user(name: str, disabled: bool = True) -> User:
    """Stop a user signing in (their tokens are refused within a second), or let them
    again with ``disabled=False``. Conflict when it would leave no enabled admin."""
    check_name("user", name)
    return user_store().update_user(name, disabled=bool(disabled))


def create_token(
    user: str,
    name: str = "token",
    *,
    expires_in: float | None = None,
    created_by: str | None = None,
) -> str:
    """A new token for ``user`` (``syt_<prefix>_<secret>``), valid ``expires_in`` seconds
    or until revoked. It is returned once; only its SHA-256 is stored."""
    return issue_token(user, name, expires_in=expires_in, created_by=created_by)[1]


def issue_token(
    user: str,
    name: str = "token",
    *,
    expires_in: float | None = None,
    created_by: str | None = None,
) -> tuple[Token, str]:
    """:func:`create_token`, with the new token's record."""
    check_name("user", user)
    check_name("token", name)
    if expires_in is not None:
        if isinstance(expires_in, bool) or not isinstance(expires_in, int | float):
            raise InvalidInput(f"expires_in: expected seconds; got {expires_in!r}.")
        if not (math.isfinite(expires_in) and 0 < expires_in <= MAX_EXPIRY):
            raise InvalidInput(
                f"expires_in: expected seconds above 0 and at most 100 years; got {expires_in}."
            )
    return user_store().create_token(user, name, expires_in, created_by or current_user())


def list_tokens(user: str | None = None) -> list[Token]:
    """Tokens (of ``user``, else everyone's), newest first; never the tokens themselves."""
    if user is not None:
        check_name("user", user)
    return user_store().tokens(user)


def revoke_token(prefix: str) -> Token:
    """Revoke a token by its prefix (or the token itself): servers refuse it within a
    second. Revoking twice is no error."""
    return user_store().revoke_token(parse_prefix(prefix))


class Authenticator:
    """A token to its :class:`Caller`, as ``app.state.authenticate`` (Unauthorized for a
    malformed, unknown, revoked or expired token, or a disabled user). Verdicts are kept
    ``ttl`` seconds, so a busy client costs the store one read a second; a token's
    ``last_used_at`` is written at most once a minute."""

    TOUCH_EVERY = 60.0
    MAX_KEPT = 10_000

    def __init__(self, store: SQLUserStore, ttl: float = 1.0) -> None:
        self.store = store
        self.ttl = ttl
        self._kept: dict[str, tuple[float, Caller | str, float | None]] = {}
        self._lock = threading.Lock()

    def __call__(self, token: str) -> Caller:
        if token_prefix(token) is None:
            raise Unauthorized("token: not a Shipyard token (syt_...); ask an admin for one.")
        hashed = digest(token)
        now = time.monotonic()
        with self._lock:
            kept = self._kept.get(hashed)
        if kept is None or now - kept[0] > self.ttl:
            verdict, expires_at = self._look_up(hashed)
            with self._lock:
                if len(self._kept) >= self.MAX_KEPT:
                    self._kept.clear()
                self._kept[hashed] = (now, verdict, expires_at)
        else:
            _, verdict, expires_at = kept
        if expires_at is not None and expires_at <= time.time():
            raise Unauthorized("token: expired; ask an admin for a new one.")
        if isinstance(verdict, str):
            raise Unauthorized(verdict)
        return verdict

    def _look_up(self, hashed: str) -> tuple[Caller | str, float | None]:
        found = self.store.lookup(hashed)
        if found is None:
            return "token: unknown; check it, or ask an admin for one.", None
        token, user = found
        if token.revoked_at is not None:
            return "token: revoked; ask an admin for a new one.", None
        if user.disabled:
            return f"user {user.name!r} is disabled; ask an admin.", None
        now = time.time()
        if token.last_used_at is None or now - token.last_used_at > self.TOUCH_EVERY:
            self.store.touch(token.prefix, now)
        return Caller(user.name, user.role), token.expires_at

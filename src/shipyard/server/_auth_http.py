"""Users and tokens in remote mode: the :class:`UserStore` of a platform server, through its
``/api/users`` and ``/api/tokens`` routes (admin role)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from shipyard._time import epoch
from shipyard.server._auth_store import Token, User, UserStore
from shipyard.store import RemoteClient

__all__ = ["HttpUserStore"]


class HttpUserStore(UserStore):
    """Each method is one request to the server (listings page by page). Who acted is the
    server's business: the token's user."""

    def __init__(self, client: RemoteClient) -> None:
        self.client = client

    def create_user(self, name: str, role: str, created_by: str | None) -> User:
        return _user(self.client.post("/api/users", {"name": name, "role": role}))

    def users(self) -> list[User]:
        return [_user(u) for u in self.client.pages("/api/users")]

    def user(self, name: str) -> User:
        return _user(self.client.get(f"/api/users/{quote(name, safe='')}"))

    def update_user(
        self, name: str, *, role: str | None = None, disabled: bool | None = None
    ) -> User:
        change = {k: v for k, v in (("role", role), ("disabled", disabled)) if v is not None}
        path = f"/api/users/{quote(name, safe='')}"
        return _user(self.client.request("PATCH", path, json=change))

    def create_token(
        self, user: str, name: str, expires_in: float | None, created_by: str | None
    ) -> tuple[Token, str]:
        body = {"user": user, "name": name, "expires_in": expires_in}
        made = self.client.post("/api/tokens", body)
        return _token(made), str(made["token"])

    def tokens(self, user: str | None = None) -> list[Token]:
        return [_token(t) for t in self.client.pages("/api/tokens", user=user)]

    def revoke_token(self, prefix: str) -> Token:
        return _token(self.client.delete(f"/api/tokens/{quote(prefix, safe='')}"))


def _user(raw: dict[str, Any]) -> User:
    return User(
        name=raw["name"],
        role=raw["role"],
        created_at=epoch(raw["created_at"]) or 0.0,
        created_by=raw.get("created_by"),
        disabled=bool(raw["disabled"]),
    )


def _token(raw: dict[str, Any]) -> Token:
    return Token(
        prefix=raw["prefix"],
        user=raw["user"],
        name=raw["name"],
        created_at=epoch(raw["created_at"]) or 0.0,
        created_by=raw.get("created_by"),
        last_used_at=epoch(raw.get("last_used_at")),
        expires_at=epoch(raw.get("expires_at")),
        revoked_at=epoch(raw.get("revoked_at")),
    )

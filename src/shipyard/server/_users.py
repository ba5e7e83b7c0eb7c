"""Users and their tokens over HTTP (admin role), and who the caller is (``/api/me``).

What ``shipyard users``/``shipyard tokens`` do in remote mode: the same SDK functions
(``server._auth``) over the server's own store. A token is answered once, when made.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Path, Query, Request
from pydantic import BaseModel, Field, StrictBool

from shipyard._refs import NAME_PATTERN
from shipyard._time import iso
from shipyard.server import _auth
from shipyard.server._access import ADMIN, VIEWER, caller_of
from shipyard.server._auth_store import Token, User
from shipyard.server._paging import PageSize, PageToken, page_of
from shipyard.serving._openapi import CHANGES, KEYED, errors

__all__ = ["router"]

# with auth: no or a bad token 401, too low a role 403; a name may be unknown (404) or
# refused (422); a change may be refused by the state of things (409: the last admin)
_LIST = errors(400, 401, 403, 422)
_READ = errors(400, 401, 403, 404, 422)
_CHANGE = errors(*CHANGES, *KEYED, 404, 409, 422)

router = APIRouter(tags=["users"])
Role = Literal["viewer", "editor", "admin"]
UserName = Annotated[str, Path(max_length=128, json_schema_extra={"pattern": f"^{NAME_PATTERN}$"})]


class UserOut(BaseModel):
    """A user: name, role, when and by whom made, whether disabled."""

    name: str
    role: Role
    created_at: str
    created_by: str | None
    disabled: bool


class UserPage(BaseModel):
    items: list[UserOut]
    next_page_token: str | None


class NewUser(BaseModel):
    name: str = Field(  # the pattern documented; the SDK refuses another name (422)
        max_length=128,
        description="A letter, then letters, digits, _ - .",
        json_schema_extra={"pattern": f"^{NAME_PATTERN}$"},
    )
    role: Role = "viewer"


class UserChange(BaseModel):
    role: Role | None = None
    # strict: 0 or "no" is not a yes-or-no (the schema says boolean)
    disabled: StrictBool | None = Field(None, description="true: refuse the user's tokens.")


class TokenOut(BaseModel):
    """A token as stored: its prefix (``syt_<prefix>_...``), never the token."""

    prefix: str
    user: str
    name: str
    state: Literal["active", "revoked", "expired"]
    created_at: str
    created_by: str | None
    last_used_at: str | None
    expires_at: str | None
    revoked_at: str | None


class NewTokenOut(TokenOut):
    token: str = Field(description="The token: shown this once, only its hash is kept.")


class TokenPage(BaseModel):
    items: list[TokenOut]
    next_page_token: str | None


class Me(BaseModel):
    """Who the caller is (``name`` null when auth is off: everyone acts as admin)."""

    name: str | None
    role: Role


@router.get("/me", response_model=Me, dependencies=[VIEWER], responses=errors(400, 401))
def me(request: Request) -> Me:
    """The caller's user name and role."""
    caller = caller_of(request)
    return Me(name=caller.name, role=caller.role)  # type: ignore[arg-type]


@router.get("/users", response_model=UserPage, dependencies=[ADMIN], responses=_LIST)
def list_users(page_size: PageSize = 100, page_token: PageToken = None) -> UserPage:
    """Every user, by name."""
    found = page_of([user_out(u) for u in _auth.list_users()], page_size, page_token, "users")
    return UserPage(**found)


@router.post(
    "/users", status_code=201, response_model=UserOut, dependencies=[ADMIN], responses=_CHANGE
)
def create_user(body: NewUser, request: Request) -> UserOut:
    """A new user (give them a token with ``POST /api/tokens``)."""
    made = _auth.create_user(body.name, body.role, created_by=caller_of(request).actor)
    return user_out(made)


@router.get("/users/{name}", response_model=UserOut, dependencies=[ADMIN], responses=_READ)
def get_user(name: UserName) -> UserOut:
    """One user."""
    return user_out(_auth.get_user(name))


@router.patch("/users/{name}", response_model=UserOut, dependencies=[ADMIN], responses=_CHANGE)
def change_user(name: UserName, body: UserChange) -> UserOut:
    """Give a user another role, or disable (enable) them: refused (409) when it would
    leave no enabled admin."""
    changed = _auth.get_user(name)
    if body.role is not None:
        changed = _auth.set_role(name, body.role)
    if body.disabled is not None:
        changed = _auth.disable_user(name, body.disabled)
    return user_out(changed)


@router.get("/tokens", response_model=TokenPage, dependencies=[ADMIN], responses=_READ)
def list_tokens(
    user: Annotated[str | None, Query(max_length=128, description="Only this user's.")] = None,
    page_size: PageSize = 100,
    page_token: PageToken = None,
) -> TokenPage:
    """Tokens, newest first (prefixes and times, never the tokens)."""
    items = [token_out(t) for t in _auth.list_tokens(user)]
    return TokenPage(**page_of(items, page_size, page_token, {"user": user}))


@router.post(
    "/tokens", status_code=201, response_model=NewTokenOut, dependencies=[ADMIN],
    responses=_CHANGE,
)  # fmt: skip
def create_token(
    request: Request,
    user: Annotated[str, Body(max_length=128, description="Whose token.")],
    name: Annotated[str, Body(max_length=128, description="What it is for.")] = "token",
    expires_in: Annotated[
        float | None, Body(gt=0, le=_auth.MAX_EXPIRY, description="Seconds it stays valid.")
    ] = None,
) -> NewTokenOut:
    """A new token for a user: answered this once."""
    made, token = _auth.issue_token(
        user, name, expires_in=expires_in, created_by=caller_of(request).actor
    )
    return NewTokenOut(**token_out(made).model_dump(), token=token)


@router.delete("/tokens/{prefix}", response_model=TokenOut, dependencies=[ADMIN], responses=_CHANGE)
def revoke_token(
    prefix: Annotated[str, Path(max_length=200, description="The token's prefix.")],
) -> TokenOut:
    """Revoke a token: refused from the next second on (revoking twice is no error)."""
    return token_out(_auth.revoke_token(prefix))


def user_out(user: User) -> UserOut:
    return UserOut(
        name=user.name,
        role=user.role,  # type: ignore[arg-type]
        created_at=iso(user.created_at) or "",
        created_by=user.created_by,
        disabled=user.disabled,
    )


def token_out(token: Token) -> TokenOut:
    return TokenOut(
        prefix=token.prefix,
        user=token.user,
        name=token.name,
        state=token.state,  # type: ignore[arg-type]
        created_at=iso(token.created_at) or "",
        created_by=token.created_by,
        last_used_at=iso(token.last_used_at),
        expires_at=iso(token.expires_at),
        revoked_at=iso(token.revoked_at),
    )

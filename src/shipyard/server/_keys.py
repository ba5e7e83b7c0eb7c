"""The inference server's API keys over HTTP (admin role): list, create, revoke.

Keys are what ``shipyard serve --auth`` checks (``serving._auth``); people sign in to this
server with users' tokens instead (``server._users``). A key is answered once, when made.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from shipyard._time import iso
from shipyard.server._access import ADMIN
from shipyard.server._paging import PageSize, PageToken, page_of
from shipyard.serving import ApiKey, create_key, list_keys, revoke_key
from shipyard.serving._openapi import CHANGES, KEYED, errors

__all__ = ["router"]

_LIST = errors(400, 401, 403, 422)
_CHANGE = errors(*CHANGES, *KEYED, 404, 409, 422)

router = APIRouter(tags=["keys"])
Scope = Literal["predict", "feedback", "admin"]


class KeyOut(BaseModel):
    """An API key as stored: name, prefix (``sy_<prefix>_...``), scopes, rate limit."""

    name: str
    prefix: str
    scopes: list[Scope]
    rate_limit: float | None
    created_at: str
    created_by: str | None
    revoked_at: str | None


class NewKeyOut(KeyOut):
    key: str = Field(description="The key: shown this once, only its hash is kept.")


class KeyPage(BaseModel):
    items: list[KeyOut]
    next_page_token: str | None


class NewKey(BaseModel):
    name: str = Field(max_length=128, description="A letter, then letters, digits, _ - .")
    scopes: list[Scope] = Field(default=["predict"], min_length=1, max_length=3)
    rate_limit: float | None = Field(
        None, gt=0, le=1e9, description="Requests per second (default: any)."
    )


@router.get("/keys", response_model=KeyPage, dependencies=[ADMIN], responses=_LIST)
def list_api_keys(page_size: PageSize = 100, page_token: PageToken = None) -> KeyPage:
    """Every key, by name (revoked ones included; never the keys)."""
    return KeyPage(**page_of([key_out(k) for k in list_keys()], page_size, page_token, "keys"))


@router.post(
    "/keys", status_code=201, response_model=NewKeyOut, dependencies=[ADMIN], responses=_CHANGE
)
def create_api_key(body: NewKey) -> NewKeyOut:
    """A new key for ``shipyard serve --auth``: answered this once."""
    key = create_key(body.name, body.scopes, body.rate_limit)
    return NewKeyOut(**key_out(_find(body.name)).model_dump(), key=key)


@router.delete("/keys/{name}", response_model=KeyOut, dependencies=[ADMIN], responses=_CHANGE)
def revoke_api_key(name: Annotated[str, Path(max_length=128)]) -> KeyOut:
    """Revoke a key: inference servers refuse it from their next refresh."""
    revoke_key(name)
    return key_out(_find(name))


def _find(name: str) -> ApiKey:
    return next(k for k in list_keys() if k.name == name)


def key_out(key: ApiKey) -> KeyOut:
    return KeyOut(
        name=key.name,
        prefix=key.prefix,
        scopes=list(key.scopes),  # type: ignore[arg-type]
        rate_limit=key.rate_limit,
        created_at=iso(key.created_at) or "",
        created_by=key.created_by,
        revoked_at=iso(key.revoked_at),
    )

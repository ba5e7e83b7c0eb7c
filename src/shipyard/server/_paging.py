"""Listings in pages: ``?page_size=&page_token=`` in, ``{"items", "next_page_token"}`` out.

A page token is opaque to clients: the offset of the next page and a digest of the query it
belongs to, base64url-encoded, so a token replayed with another filter or order is refused
(422) rather than silently answering a page of something else. Every listing of the
platform server answers this one shape, built by :func:`page`.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Sequence
from typing import Annotated, Any

import orjson
from fastapi import Query

from shipyard.errors import InvalidInput

__all__ = ["PageSize", "PageToken", "page", "page_of"]

# past any listing's length, and far inside a database's 64-bit OFFSET (a forged token's
# 2**70 would otherwise reach the driver as an overflow: a 500)
MAX_OFFSET = 1 << 53

PageSize = Annotated[int, Query(ge=1, le=1000, description="At most this many items.")]
PageToken = Annotated[
    str | None,
    Query(max_length=200, description="The `next_page_token` of the previous page."),
]


def _digest(query: Any) -> str:
    return hashlib.sha256(orjson.dumps(query, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def decode(token: str | None, query: Any = None) -> int:
    """The offset a token stands for (0 without one); InvalidInput for a token that is not
    one of ours or belongs to another query."""
    if not token:
        return 0
    try:
        raw = orjson.loads(base64.urlsafe_b64decode(token.encode() + b"=" * (-len(token) % 4)))
        offset, digest = raw["o"], str(raw["q"])
    except (ValueError, TypeError, KeyError, orjson.JSONDecodeError):
        raise InvalidInput("page_token: not a token this server gave out.") from None
    # the token is not signed: one made up by hand may hold anything
    if type(offset) is not int or not 0 <= offset <= MAX_OFFSET:
        raise InvalidInput("page_token: not a token this server gave out.")
    if digest != _digest(query):
        raise InvalidInput("page_token: it belongs to another query (same filters and order).")
    return offset


def encode(offset: int, query: Any = None) -> str:
    """The token of the page that starts at ``offset``."""
    raw = orjson.dumps({"o": offset, "q": _digest(query)})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def page(
    fetch: Callable[[int, int], Sequence[Any]],
    size: int,
    token: str | None,
    query: Any = None,
) -> dict[str, Any]:
    """One page: ``fetch(offset, limit)`` is asked for one item more than ``size`` to know
    whether another page follows. ``query`` is what the listing was filtered and ordered by."""
    offset = decode(token, query)
    items = list(fetch(offset, size + 1))
    more = len(items) > size
    return {
        "items": items[:size],
        "next_page_token": encode(offset + size, query) if more else None,
    }


def page_of(
    items: Sequence[Any], size: int, token: str | None, query: Any = None
) -> dict[str, Any]:
    """A page of a list already in memory (small listings: deployments, monitors)."""
    return page(lambda offset, limit: items[offset : offset + limit], size, token, query)

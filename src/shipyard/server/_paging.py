"""Listings in pages: ``?page_size=&page_token=`` in, ``{"items", "next_page_token"}`` out.

A page token is opaque to clients: the offset of the next page, a digest of the query it
belongs to, so a token replayed with another filter or order is refused (422) rather than
silently answering a page of something else, and a digest of the last item it followed. The
newest-first listings (alerts, checks, events, runs of pipelines) grow at the top while a
client pages through them: the next page starts after that item wherever it moved (up to a
page's worth of inserts or deletes), so nothing is sent twice or skipped. Every listing of
the platform server answers this one shape, built by :func:`page`.
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


def _item_digest(item: Any) -> str:
    raw = orjson.dumps(
        item, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY,
        default=str,
    )  # fmt: skip
    return hashlib.sha256(raw).hexdigest()[:16]


def _read(token: str, query: Any) -> tuple[int, str | None]:
    """(offset, the last item's digest or None) of a token; InvalidInput for a token that is
    not one of ours or belongs to another query."""
    try:
        raw = orjson.loads(base64.urlsafe_b64decode(token.encode() + b"=" * (-len(token) % 4)))
        offset, digest, after = raw["o"], str(raw["q"]), raw.get("a")
    except (ValueError, TypeError, KeyError, AttributeError, orjson.JSONDecodeError):
        raise InvalidInput("page_token: not a token this server gave out.") from None
    # the token is not signed: one made up by hand may hold anything
    if type(offset) is not int or not 0 <= offset <= MAX_OFFSET:
        raise InvalidInput("page_token: not a token this server gave out.")
    if after is not None and not isinstance(after, str):
        raise InvalidInput("page_token: not a token this server gave out.")
    if digest != _digest(query):
        raise InvalidInput("page_token: it belongs to another query (same filters and order).")
    return offset, after


def decode(token: str | None, query: Any = None) -> int:
    """The offset a token stands for (0 without one); InvalidInput for a token that is not
    one of ours or belongs to another query."""
    return _read(token, query)[0] if token else 0


def encode(offset: int, query: Any = None, after: str | None = None) -> str:
    """The token of the page that starts at ``offset``, after the item of digest ``after``."""
    fields: dict[str, Any] = {"o": offset, "q": _digest(query)}
    if after is not None:
        fields["a"] = after
    return base64.urlsafe_b64encode(orjson.dumps(fields)).decode().rstrip("=")


def page(
    fetch: Callable[[int, int], Sequence[Any]],
    size: int,
    token: str | None,
    query: Any = None,
) -> dict[str, Any]:
    """One page: ``fetch(offset, limit)`` is asked for one item more than ``size`` to know
    whether another page follows. ``query`` is what the listing was filtered and ordered by."""
    offset, after = _read(token, query) if token else (0, None)
    if after is None:
        items = list(fetch(offset, size + 1))
    else:
        offset, items = _after(fetch, size, offset, after)
    more = len(items) > size
    items = items[:size]
    return {
        "items": items,
        "next_page_token": encode(offset + size, query, _item_digest(items[-1])) if more else None,
    }


def _after(
    fetch: Callable[[int, int], Sequence[Any]], size: int, offset: int, after: str
) -> tuple[int, list[Any]]:
    """(where the page starts, its items and one more): after the item of digest ``after``,
    looked for within ``size`` places of where it was (the nearest match), else at
    ``offset`` (the item changed, or moved further)."""
    low = max(0, offset - size)
    window = list(fetch(low, offset - low + 2 * size + 2))
    expected = offset - 1 - low
    found = [i for i, item in enumerate(window) if _item_digest(item) == after]
    if not found:
        return offset, window[offset - low : offset - low + size + 1]
    at = min(found, key=lambda i: abs(i - expected))
    return low + at + 1, window[at + 1 : at + 2 + size]


def page_of(
    items: Sequence[Any], size: int, token: str | None, query: Any = None
) -> dict[str, Any]:
    """A page of a list already in memory (small listings: deployments, monitors)."""
    return page(lambda offset, limit: items[offset : offset + limit], size, token, query)

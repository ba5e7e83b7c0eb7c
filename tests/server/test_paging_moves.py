"""Paging a newest-first listing while it grows at the top or loses items: the next page
starts after the last item sent, wherever it moved, so nothing is sent twice or skipped."""

from __future__ import annotations

from typing import Any

from shipyard.server._paging import page


def _listing(items: list[dict[str, Any]]) -> Any:
    return lambda offset, limit: items[offset : offset + limit]


def _walk(items: list[dict[str, Any]], size: int, change: Any) -> list[int]:
    """Every id seen paging through ``items`` (newest first), ``change(items)`` applied
    between pages."""
    seen: list[int] = []
    token = None
    while True:
        answer = page(_listing(items), size, token, "events")
        seen += [item["id"] for item in answer["items"]]
        token = answer["next_page_token"]
        if token is None:
            return seen
        change(items)


def test_inserts_at_the_top_between_pages_are_neither_repeated_nor_skipped() -> None:
    items = [{"id": i, "kind": "moved"} for i in range(100, 0, -1)]
    newest = [101]

    def insert(found: list[dict[str, Any]]) -> None:
        for _ in range(3):
            newest[0] += 1
            found.insert(0, {"id": newest[0], "kind": "moved"})

    seen = _walk(items, 10, insert)
    assert seen == list(range(100, 0, -1))  # the new items are on page one, for a new walk


def test_deletes_above_the_page_do_not_skip_items() -> None:
    items = [{"id": i} for i in range(50, 0, -1)]

    def delete(found: list[dict[str, Any]]) -> None:
        del found[0]  # the newest item goes, after it was sent

    assert _walk(items, 5, delete) == list(range(50, 0, -1))


def test_identical_items_and_a_vanished_anchor_fall_back_to_the_offset() -> None:
    items = [{"id": 1}] * 7  # indistinguishable items: the nearest match is taken
    assert _walk(items, 3, lambda found: None) == [1] * 7
    items = [{"id": i} for i in range(20, 0, -1)]

    def replace_last_sent(found: list[dict[str, Any]]) -> None:
        found[:] = [dict(item, id=item["id"] * 100) for item in found]  # every item changed

    assert _walk(items, 10, replace_last_sent) == [*range(20, 10, -1), *range(1000, 0, -100)]

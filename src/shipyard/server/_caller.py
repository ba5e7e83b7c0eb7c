"""Who made a request to the platform API, as the app's key check left it."""

from __future__ import annotations

from fastapi import Request

__all__ = ["key_name"]


def key_name(request: Request) -> str | None:
    """``key:NAME`` for the API key a request came with (recorded as who acted), or None
    without auth."""
    key = getattr(request.state, "api_key", None)
    return f"key:{key.name}" if key is not None else None

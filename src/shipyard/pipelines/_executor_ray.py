"""Steps as Ray tasks (being written)."""

from __future__ import annotations

from typing import Any

from shipyard.errors import InvalidInput


class RayExecutor:
    """Placeholder until the Ray executor lands; refuses to run."""

    def __init__(self, workers: int | None, address: str | None, env: dict[str, str]) -> None:
        raise InvalidInput("the ray executor is not available yet.")

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(name)

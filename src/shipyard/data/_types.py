"""Values the datasets API returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Dataset:
    """A named dataset and a summary of its versions."""

    id: str
    name: str
    created_at: float
    description: str | None
    policy: str
    versions: int = 0
    latest: int | None = None


@dataclass(frozen=True)
class VersionInfo:
    """The stored record of one immutable dataset version."""

    id: str
    dataset_id: str
    name: str
    version: int
    content_hash: str
    digest: str
    rows: int
    columns: int
    size: int
    schema_version: int | None
    profile_digest: str | None
    validation: dict[str, Any] | None
    created_at: float
    run_id: str | None
    transform_id: str | None
    transform_params: dict[str, Any] | None
    description: str | None
    aliases: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    parents: tuple[str, ...] = ()  # ids of the versions it was made from

    @property
    def ref(self) -> str:
        """``name@version``."""
        return f"{self.name}@{self.version}"

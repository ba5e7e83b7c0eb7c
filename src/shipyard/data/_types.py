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

    @property
    def checks(self) -> str:
        """What its validation found: ``passed`` (or never checked); ``warnings``: only
        values outside the schema's observed ranges, categories, nulls or patterns (drift a
        new month is expected to show: still the default); ``failed``: a missing or
        unexpected column, a wrong type or a user check (flagged); ``accepted``: failed,
        then accepted with ``accept``."""
        return checks_state(self.validation)

    @property
    def flagged(self) -> bool:
        """It failed its checks and nobody accepted it: a bare ``name`` does not resolve to
        it (``name@3`` and ``name@latest`` still do)."""
        return self.checks == "failed"


#: Schema checks on values: a new month may move them (drift); they warn, never flag.
VALUE_CHECKS = frozenset({"nullable", "min", "max", "categories", "unique", "regex"})


def checks_state(validation: dict[str, Any] | None) -> str:
    """The checks state a stored validation report records (see ``VersionInfo.checks``)."""
    if validation is None or validation.get("ok", True):
        return "passed"
    failures = validation.get("failures") or []
    if all(f.get("check") in VALUE_CHECKS for f in failures):
        return "warnings"
    return "accepted" if validation.get("accepted") else "failed"

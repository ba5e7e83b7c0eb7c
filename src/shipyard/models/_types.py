"""Values the registry returns: immutable snapshots."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shipyard.models._signature import Signature

__all__ = ["STAGES", "Export", "Model", "ModelEvent", "ModelVersion"]

STAGES = ("none", "staging", "production", "archived")


@dataclass(frozen=True)
class Model:
    """A named model and a summary of its versions."""

    id: str
    name: str
    created_at: float
    description: str | None
    versions: int = 0
    latest: int | None = None
    production: int | None = None
    aliases: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Export:
    """Another stored form of a version (``onnx``, ``onnx-int8``) and the checks it passed."""

    format: str
    digest: str
    size: int
    meta: dict[str, Any]
    report: dict[str, Any]
    created_at: float


@dataclass(frozen=True)
class ModelVersion:
    """One registered version: artifact, flavor, signature, environment, lineage, state."""

    id: str
    model_id: str
    name: str
    version: int
    flavor: str
    digest: str
    size: int
    flavor_meta: dict[str, Any]
    signature: Signature | None
    environment: dict[str, Any]
    sample_digest: str | None
    metrics: dict[str, float]
    run_id: str | None
    source_commit: str | None
    stage: str
    description: str | None
    created_at: float
    created_by: str | None
    aliases: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    datasets: tuple[str, ...] = ()  # "name@version" of the dataset versions it was trained on
    exports: dict[str, Export] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        """``name@version``."""
        return f"{self.name}@{self.version}"


@dataclass(frozen=True)
class ModelEvent:
    """One recorded move: who did what to which version, when and why."""

    id: int
    model: str
    version: int | None
    kind: str  # registered | alias | alias-removed | stage | rollback | exported | deleted
    before: str | None
    after: str | None
    actor: str | None
    reason: str | None
    at: float

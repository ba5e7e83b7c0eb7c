"""Values the registry returns: immutable snapshots."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shipyard.models._signature import Signature

__all__ = ["EVIDENCE_KINDS", "STAGES", "Evidence", "Export", "Model", "ModelEvent", "ModelVersion"]

STAGES = ("none", "staging", "production", "archived")

EVIDENCE_KINDS = (
    "explanation", "fairness", "mitigation", "evaluation", "card", "approval", "override",
)  # fmt: skip
"""What governance records about a version (``models.record_evidence``)."""


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


@dataclass(frozen=True)
class Evidence:
    """One record governance keeps about a version: an explanation, a fairness report, a
    mitigation, an evaluation, the card's user-written sections, an approval or a gate
    override. ``data`` is the record's JSON object."""

    id: int
    model: str
    version: int
    kind: str
    data: dict[str, Any]
    created_at: float
    created_by: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "model": self.model,
            "version": self.version,
            "kind": self.kind,
            "data": self.data,
            "created_at": self.created_at,
            "created_by": self.created_by,
        }

"""The model registry's interface: the primitives every backend (SQL today, HTTP next) offers."""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shipyard._refs import Ref
from shipyard.models._types import Evidence, Model, ModelEvent, ModelVersion

if TYPE_CHECKING:
    from shipyard.models._policies import Policy, PolicyVersion
    from shipyard.models._policy_rows import Move
    from shipyard.models._signature import Signature

__all__ = ["ModelBackend", "NewModelVersion"]


@dataclass(frozen=True)
class NewModelVersion:
    """What :meth:`ModelBackend.add_version` records."""

    flavor: str
    digest: str
    size: int
    flavor_meta: Mapping[str, Any]
    signature: Signature | None
    environment: Mapping[str, Any]
    sample_digest: str | None
    metrics: Mapping[str, float]
    run_id: str | None
    source_commit: str | None
    created_by: str | None
    description: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    datasets: Sequence[str] = ()  # dataset version ids
    aliases: Sequence[str] = ()
    stage: str = "none"
    reason: str | None = None


class ModelBackend(abc.ABC):
    """Models, their numbered versions, aliases, stages, exports and history.

    Thread-safe; returned objects are immutable snapshots. Every move (registration, alias
    set or removed, stage change, rollback, export, delete) is atomic and recorded as an
    event with its actor and reason; exactly one version is in production at a time.
    Numbers are never reused, even after a delete. Unknown names, versions, aliases and
    stages raise :class:`~shipyard.errors.NotFound`; refused aliases and stages
    :class:`~shipyard.errors.InvalidInput`; moves that would break a rule
    :class:`~shipyard.errors.Conflict`.
    """

    # -- registration and reading --------------------------------------------------------

    @abc.abstractmethod
    def add_version(self, name: str, new: NewModelVersion) -> ModelVersion:
        """Record a version (and the model on its first version), numbered under a lock."""

    @abc.abstractmethod
    def get(self, version_id: str) -> ModelVersion:
        """A version by id."""

    @abc.abstractmethod
    def resolve(self, ref: Ref) -> ModelVersion:
        """The version a reference names: a number, ``latest``, an alias or a stage."""

    @abc.abstractmethod
    def resolve_id(self, ref: Ref) -> str:
        """The id of the version a reference names (the hot path of loads: keep it cheap)."""

    @abc.abstractmethod
    def versions(self, name: str) -> list[ModelVersion]:
        """Every version of a model, newest first."""

    @abc.abstractmethod
    def trained_on(self, dataset_version_id: str) -> list[ModelVersion]:
        """Versions trained on a dataset version, by model name then number."""

    @abc.abstractmethod
    def list_models(self) -> list[Model]:
        """Every model with its version count, latest and production versions and aliases."""

    @abc.abstractmethod
    def events(self, name: str, limit: int = 200) -> list[ModelEvent]:
        """The model's recorded moves, newest first."""

    # -- moves ---------------------------------------------------------------------------

    @abc.abstractmethod
    def set_alias(
        self, ref: Ref, alias: str, actor: str | None, reason: str | None
    ) -> ModelVersion:
        """Point ``alias`` at the version ``ref`` names (moving it if it pointed elsewhere)."""

    @abc.abstractmethod
    def remove_alias(self, name: str, alias: str, actor: str | None, reason: str | None) -> None:
        """Delete an alias; a missing one is a :class:`NotFound` listing the known ones."""

    @abc.abstractmethod
    def set_stage(
        self, ref: Ref, stage: str, actor: str | None, reason: str | None
    ) -> ModelVersion:
        """Move a version to a stage; promoting to production archives the previous one."""

    @abc.abstractmethod
    def rollback(self, name: str, actor: str | None, reason: str | None) -> tuple[int | None, int]:
        """Put the previous production version back in production; (from, to) numbers."""

    @abc.abstractmethod
    def delete_version(
        self, ref: Ref, actor: str | None, reason: str | None, force: bool
    ) -> ModelVersion:
        """Delete a version; one in production or with aliases only with ``force``."""

    @abc.abstractmethod
    def delete_model(self, name: str) -> int:
        """Delete a model with all its versions and history; returns how many versions."""

    @abc.abstractmethod
    def add_export(
        self,
        version_id: str,
        fmt: str,
        digest: str,
        size: int,
        meta: Mapping[str, Any],
        report: Mapping[str, Any],
        actor: str | None,
    ) -> ModelVersion:
        """Store another form of a version (replacing an earlier one of that format)."""

    # -- evidence ----------------------------------------------------------------------------

    @abc.abstractmethod
    def add_evidence(
        self, ref: Ref, kind: str, data: Mapping[str, Any], actor: str | None
    ) -> Evidence:
        """Append a governance record about a version (with its audit-log entry)."""

    @abc.abstractmethod
    def evidence(self, ref: Ref, kind: str | None = None) -> list[Evidence]:
        """A version's governance records, newest first (of one kind when given)."""

    # -- policies and gated moves ----------------------------------------------------------

    @abc.abstractmethod
    def set_policy(
        self, name: str, policy: Policy, source: str | None, actor: str | None
    ) -> PolicyVersion:
        """Store the model's next policy version (with its audit entry)."""

    @abc.abstractmethod
    def policies(self, name: str, version: int | None = None) -> list[PolicyVersion]:
        """The model's policy versions, newest first (only ``version`` when given)."""

    @abc.abstractmethod
    def move(self, ref: Ref, move: Move) -> ModelVersion:
        """Point an alias at, or move to a stage, the version ``ref`` names; refused
        (Conflict) when the gates' policy or the target's holder changed since they ran,
        with the override record appended in the same transaction when given."""

"""The dataset store's interface: the primitives every backend (SQL today, HTTP next) offers."""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shipyard._refs import Ref
from shipyard.data._types import Dataset, VersionInfo
from shipyard.errors import NotFound

__all__ = ["POLICIES", "DatasetBackend", "NewVersion", "SchemaChanged"]

POLICIES = ("warn", "reject")


@dataclass(frozen=True)
class NewVersion:
    """What :meth:`DatasetBackend.add_version` records for a new version."""

    policy: str
    expected_schema: int | None
    content_hash: str
    digest: str
    rows: int
    columns: int
    size: int
    profile_digest: str | None
    validation: Mapping[str, Any] | None
    new_schema: Mapping[str, Any] | None
    run_id: str | None
    parents: Sequence[str] = ()
    transform_id: str | None = None
    transform_params: Mapping[str, Any] | None = None
    description: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    aliases: Sequence[str] = ()


class SchemaChanged(Exception):
    """Another writer changed the dataset's schema while this version was being validated."""


class DatasetBackend(abc.ABC):
    """Datasets, their versions, schemas, aliases, tags, lineage and transforms.

    Thread-safe; returned objects are immutable snapshots. Unknown names, versions and
    aliases raise :class:`~shipyard.errors.NotFound`; refused aliases and policies
    :class:`~shipyard.errors.InvalidInput`; lost races :class:`~shipyard.errors.Conflict`.
    Versions are numbered 1, 2, ... per dataset, never reused, never deleted.
    """

    # -- datasets and schemas ------------------------------------------------------------

    @abc.abstractmethod
    def dataset_or_none(self, name: str) -> Dataset | None:
        """The dataset called ``name``, or None."""

    @abc.abstractmethod
    def list_datasets(self) -> list[Dataset]:
        """Every dataset with its number of versions and latest version, by name."""

    @abc.abstractmethod
    def set_policy(self, name: str, policy: str) -> None:
        """Reject invalid new versions (``"reject"``), or accept them with warnings."""

    @abc.abstractmethod
    def schema(
        self, dataset_id: str, version: int | None = None
    ) -> tuple[int, dict[str, Any]] | None:
        """(schema version, schema JSON), the newest unless ``version`` is given."""

    @abc.abstractmethod
    def put_schema(self, dataset_id: str, schema: Mapping[str, Any]) -> int:
        """Store a new schema version (an edit); returns its number."""

    # -- versions ------------------------------------------------------------------------

    @abc.abstractmethod
    def add_version(self, name: str, new: NewVersion) -> VersionInfo:
        """Record a version (and the dataset on its first version) atomically.

        Numbers are assigned under the dataset's lock. Raises :class:`SchemaChanged` when the
        schema moved past ``new.expected_schema``; identical content registered concurrently
        returns the version that won, with this call's aliases and tags applied.
        """

    @abc.abstractmethod
    def by_content(self, dataset_id: str, content_hash: str) -> VersionInfo | None:
        """The version of this dataset with exactly this content, if any."""

    @abc.abstractmethod
    def unknown_versions(self, version_ids: Sequence[str]) -> list[str]:
        """The ids among ``version_ids`` that are not dataset versions."""

    @abc.abstractmethod
    def get(self, version_id: str) -> VersionInfo:
        """A version by id."""

    @abc.abstractmethod
    def resolve(self, ref: Ref) -> VersionInfo:
        """The version a reference names: a number, ``latest`` or an alias."""

    @abc.abstractmethod
    def versions(self, name: str) -> list[VersionInfo]:
        """Every version of a dataset, newest first."""

    @abc.abstractmethod
    def resolve_default(self, name: str) -> VersionInfo:
        """What a bare name resolves to: the newest version that is not flagged (it passed
        its checks, had none, or was accepted).

        Raises:
            NotFound: no such dataset, no versions, or every version is flagged (the
                message names the newest and how to use or accept it).
        """

    @abc.abstractmethod
    def accept(self, version_id: str) -> None:
        """Mark a version that failed its checks as accepted (idempotent)."""

    # -- aliases and tags ----------------------------------------------------------------

    @abc.abstractmethod
    def label(self, version_id: str, aliases: Sequence[str], tags: Mapping[str, str]) -> None:
        """Point aliases at a version and set tags on it (same keys replaced), atomically."""

    @abc.abstractmethod
    def set_alias(self, dataset_id: str, alias: str, version_id: str) -> None:
        """Point ``alias`` at a version (moving it if it pointed elsewhere)."""

    @abc.abstractmethod
    def remove_alias(self, dataset_id: str, alias: str) -> None:
        """Delete an alias; a missing one is a :class:`NotFound` listing the known ones."""

    # -- lineage and transforms ----------------------------------------------------------

    @abc.abstractmethod
    def record_input(self, run_id: str, version_id: str) -> None:
        """Remember that a run read a version (idempotent, also across threads)."""

    @abc.abstractmethod
    def children(self, version_id: str) -> list[str]:
        """Ids of versions made from this one."""

    @abc.abstractmethod
    def readers(self, version_id: str) -> list[dict[str, Any]]:
        """Runs that read this version: id, name, status."""

    @abc.abstractmethod
    def run_inputs(self, run_id: str) -> list[VersionInfo]:
        """Dataset versions a run read."""

    @abc.abstractmethod
    def transform(self, name: str, kind: str, code: str, code_hash: str) -> str:
        """The id of this transform at this code (recorded on first sight)."""

    @abc.abstractmethod
    def transform_code(self, transform_id: str) -> dict[str, Any]:
        """Name, kind and code of a transform."""

    @abc.abstractmethod
    def cached_output(self, transform_id: str, input_key: str) -> VersionInfo | None:
        """The version this transform already made from these inputs and params."""

    @abc.abstractmethod
    def cache_output(self, transform_id: str, input_key: str, version_id: str) -> None:
        """Remember the output of a transform run (the first one stored wins)."""

    # -- conveniences on the primitives --------------------------------------------------

    def dataset(self, name: str) -> Dataset:
        """The dataset called ``name`` (datasets are created with their first version)."""
        found = self.dataset_or_none(name)
        if found is None:
            raise NotFound(f"No dataset named {name!r}. Try: shipyard data list")
        return found

    def set_tags(self, version_id: str, tags: Mapping[str, str]) -> None:
        """Set tags on a version (replacing values of the same keys)."""
        self.label(version_id, (), tags)

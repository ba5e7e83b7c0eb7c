"""Dataset records as the platform server's JSON, and back: one format for both sides.

The server (``shipyard.server._datasets``) answers with these shapes and the HTTP backend
(``data._http``) rebuilds the same frozen dataclasses from them. Times travel as ISO 8601
(``shipyard._time``); everything else as it is stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from shipyard._time import epoch, iso
from shipyard.data._backend import NewVersion
from shipyard.data._types import Dataset, VersionInfo

__all__ = [
    "SCHEMA_CHANGED",
    "dataset_from_json",
    "dataset_json",
    "new_version_from_json",
    "new_version_json",
    "version_from_json",
    "version_json",
]

#: How a 409 answer to a new version starts when the schema moved meanwhile; the HTTP
#: backend raises :class:`~shipyard.data._backend.SchemaChanged` for it, as SQL does.
SCHEMA_CHANGED = "schema changed:"


def dataset_json(d: Dataset) -> dict[str, Any]:
    """A dataset and the summary of its versions."""
    return {**asdict(d), "created_at": iso(d.created_at)}


def dataset_from_json(m: Mapping[str, Any]) -> Dataset:
    return Dataset(
        id=m["id"],
        name=m["name"],
        created_at=epoch(m["created_at"]) or 0.0,
        description=m.get("description"),
        policy=m["policy"],
        versions=int(m.get("versions") or 0),
        latest=m.get("latest"),
    )


def version_json(v: VersionInfo) -> dict[str, Any]:
    """A version's record, with its reference and checks state (``ref``, ``checks``,
    ``flagged``) for readers that do not rebuild the object."""
    fields = {f: getattr(v, f) for f in VersionInfo.__dataclass_fields__}
    return {
        **fields,
        "ref": v.ref,
        "checks": v.checks,
        "flagged": v.flagged,
        "created_at": iso(v.created_at),
        "aliases": list(v.aliases),
        "parents": list(v.parents),
    }


def version_from_json(m: Mapping[str, Any]) -> VersionInfo:
    values: dict[str, Any] = {f: m.get(f) for f in VersionInfo.__dataclass_fields__}
    values["created_at"] = epoch(m["created_at"]) or 0.0
    values["aliases"] = tuple(m.get("aliases") or ())
    values["parents"] = tuple(m.get("parents") or ())
    values["tags"] = dict(m.get("tags") or {})
    return VersionInfo(**values)


def new_version_json(new: NewVersion) -> dict[str, Any]:
    """What :meth:`DatasetBackend.add_version` sends."""
    return {
        **asdict(new),
        "parents": list(new.parents),
        "aliases": list(new.aliases),
        "tags": dict(new.tags),
    }


def new_version_from_json(m: Mapping[str, Any]) -> NewVersion:
    values: dict[str, Any] = {f: m.get(f) for f in NewVersion.__dataclass_fields__}
    values["parents"] = tuple(m.get("parents") or ())
    values["aliases"] = tuple(m.get("aliases") or ())
    values["tags"] = dict(m.get("tags") or {})
    return NewVersion(**values)

"""The dataset store over HTTP: remote mode's :class:`DatasetBackend`.

Each primitive is one call to the platform server's datasets API
(``shipyard.server._datasets``), which runs the SQL store's same primitive; answers are
rebuilt into the same frozen dataclasses (``data._wire``) and errors come back as the
:class:`~shipyard.errors.ShipyardError` the server raised, so the SDK above behaves the
same locally and remotely. Dataset files are not this class's business: they are blobs of
the artifact store (``store.default_artifacts()``, itself remote in remote mode).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from shipyard._refs import Ref
from shipyard._time import epoch
from shipyard.data._backend import DatasetBackend, NewVersion, SchemaChanged
from shipyard.data._types import Dataset, VersionInfo
from shipyard.data._wire import (
    SCHEMA_CHANGED,
    dataset_from_json,
    new_version_json,
    version_from_json,
)
from shipyard.errors import Conflict, NotFound
from shipyard.store import RemoteClient

__all__ = ["HttpDatasetBackend"]

PAGE = 1000  # items per request when reading a whole listing


def _seg(value: str) -> str:
    """A path segment: names, aliases and ids quoted (``/`` included)."""
    return quote(value, safe="")


class HttpDatasetBackend(DatasetBackend):
    """Datasets on a platform server (``/api/datasets``, ``/api/dataset-versions``,
    ``/api/transforms``). Thread-safe (the client pools connections).

    The interface names datasets by id in a few primitives and the API by name: ids and
    names never change, so the names of the ids this backend has seen are remembered.
    """

    def __init__(self, client: RemoteClient) -> None:
        self.client = client
        self._names: dict[str, str] = {}  # dataset id -> name
        self._lock = threading.Lock()

    # -- helpers -------------------------------------------------------------------------

    def _dataset(self, m: Mapping[str, Any]) -> Dataset:
        found = dataset_from_json(m)
        self._names[found.id] = found.name
        return found

    def _version(self, m: Mapping[str, Any]) -> VersionInfo:
        found = version_from_json(m)
        self._names[found.dataset_id] = found.name
        return found

    def _name(self, dataset_id: str) -> str:
        """The name of a dataset id (asked of the server once if never seen)."""
        name = self._names.get(dataset_id)
        if name is None:
            with self._lock:
                for d in self.list_datasets():  # remembers every id
                    if d.id == dataset_id:
                        return d.name
            raise NotFound(f"No dataset with id {dataset_id!r}. Try: shipyard data list")
        return name

    def _path(self, dataset_id: str, *rest: str) -> str:
        return "/".join(["/api/datasets", _seg(self._name(dataset_id)), *rest])

    # -- datasets and schemas ------------------------------------------------------------

    def dataset_or_none(self, name: str) -> Dataset | None:
        try:
            return self._dataset(self.client.get(f"/api/datasets/{_seg(name)}"))
        except NotFound:
            return None

    def list_datasets(self) -> list[Dataset]:
        return [self._dataset(m) for m in self.client.pages("/api/datasets", page_size=PAGE)]

    def set_policy(self, name: str, policy: str) -> None:
        self.client.put(f"/api/datasets/{_seg(name)}/policy", {"policy": policy})

    def schema(
        self, dataset_id: str, version: int | None = None
    ) -> tuple[int, dict[str, Any]] | None:
        try:
            found = self.client.get(self._path(dataset_id, "schema"), version=version or None)
        except NotFound:
            return None
        return int(found["version"]), dict(found["schema"])

    def put_schema(self, dataset_id: str, schema: Mapping[str, Any]) -> int:
        made = self.client.post(self._path(dataset_id, "schemas"), {"schema": dict(schema)})
        return int(made["version"])

    # -- versions ------------------------------------------------------------------------

    def add_version(self, name: str, new: NewVersion) -> VersionInfo:
        try:
            made = self.client.post(f"/api/datasets/{_seg(name)}/versions", new_version_json(new))
        except Conflict as exc:
            if str(exc).startswith(SCHEMA_CHANGED):
                raise SchemaChanged(name) from None
            raise
        return self._version(made)

    def by_content(self, dataset_id: str, content_hash: str) -> VersionInfo | None:
        page = self.client.get(
            self._path(dataset_id, "versions"), content_hash=content_hash, page_size=1
        )
        items = page["items"]
        return self._version(items[0]) if items else None

    def unknown_versions(self, version_ids: Sequence[str]) -> list[str]:
        unknown = []
        for version_id in version_ids:
            try:
                self.get(version_id)
            except NotFound:
                unknown.append(version_id)
        return unknown

    def get(self, version_id: str) -> VersionInfo:
        return self._version(self.client.get(f"/api/dataset-versions/{_seg(version_id)}"))

    def resolve(self, ref: Ref) -> VersionInfo:
        selector = str(ref.version) if ref.version is not None else ref.alias or "latest"
        path = f"/api/datasets/{_seg(ref.name)}/versions/{_seg(selector)}"
        return self._version(self.client.get(path))

    def versions(self, name: str) -> list[VersionInfo]:
        path = f"/api/datasets/{_seg(name)}/versions"
        return [self._version(m) for m in self.client.pages(path, page_size=PAGE)]

    def resolve_default(self, name: str) -> VersionInfo:
        return self._version(self.client.get(f"/api/datasets/{_seg(name)}/default"))

    def accept(self, version_id: str) -> None:
        self.client.post(f"/api/dataset-versions/{_seg(version_id)}/accept")

    # -- aliases and tags ----------------------------------------------------------------

    def label(self, version_id: str, aliases: Sequence[str], tags: Mapping[str, str]) -> None:
        if not aliases and not tags:
            return
        self.client.post(
            f"/api/dataset-versions/{_seg(version_id)}/labels",
            {"aliases": list(aliases), "tags": dict(tags)},
        )

    def set_alias(self, dataset_id: str, alias: str, version_id: str) -> None:
        self.client.post(self._path(dataset_id, "aliases", _seg(alias)), {"version_id": version_id})

    def remove_alias(self, dataset_id: str, alias: str) -> None:
        self.client.delete(self._path(dataset_id, "aliases", _seg(alias)))

    # -- lineage and transforms ----------------------------------------------------------

    def record_input(self, run_id: str, version_id: str) -> None:
        self.client.post(f"/api/dataset-versions/{_seg(version_id)}/readers", {"run_id": run_id})

    def children(self, version_id: str) -> list[str]:
        path = f"/api/dataset-versions/{_seg(version_id)}/children"
        return [str(m["id"]) for m in self.client.pages(path, page_size=PAGE)]

    def readers(self, version_id: str) -> list[dict[str, Any]]:
        path = f"/api/dataset-versions/{_seg(version_id)}/readers"
        return [dict(m) for m in self.client.pages(path, page_size=PAGE)]

    def run_inputs(self, run_id: str) -> list[VersionInfo]:
        found = self.client.pages("/api/dataset-versions", read_by=run_id, page_size=PAGE)
        return [self._version(m) for m in found]

    def transform(self, name: str, kind: str, code: str, code_hash: str) -> str:
        made = self.client.post(
            "/api/transforms", {"name": name, "kind": kind, "code": code, "code_hash": code_hash}
        )
        return str(made["id"])

    def transform_code(self, transform_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.client.get(f"/api/transforms/{_seg(transform_id)}")
        return {**found, "created_at": epoch(found["created_at"])}

    def cached_output(self, transform_id: str, input_key: str) -> VersionInfo | None:
        path = f"/api/transforms/{_seg(transform_id)}/outputs/{_seg(input_key)}"
        found = self.client.get(path)["version"]
        return None if found is None else self._version(found)

    def cache_output(self, transform_id: str, input_key: str, version_id: str) -> None:
        path = f"/api/transforms/{_seg(transform_id)}/outputs/{_seg(input_key)}"
        self.client.put(path, {"version_id": version_id})

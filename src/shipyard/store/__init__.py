"""Metadata store (SQLAlchemy + Alembic), content-addressed artifact store, and the
versioned-registry core that datasets and models build on."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from shipyard.config import get_settings, on_reset
from shipyard.store._artifacts import ArtifactStore
from shipyard.store._audit import AuditEntry, acting
from shipyard.store._audit import append as append_audit
from shipyard.store._audit import entries as audit_entries
from shipyard.store._audit import head as audit_head
from shipyard.store._audit_verify import AuditBreak, AuditReport
from shipyard.store._audit_verify import verify as verify_audit_chain
from shipyard.store._blobs import Blob, BlobStore
from shipyard.store._db import Database
from shipyard.store._gc import Collection, Garbage, collect_garbage
from shipyard.store._migrate import HEAD_REVISION, SchemaState, current_revision, upgrade
from shipyard.store._schema import Base
from shipyard.store._versioned import (
    Edges,
    RegistrySpec,
    VersionedRegistry,
    check_alias,
    watch_versions,
)

__all__ = [
    "HEAD_REVISION",
    "ArtifactStore",
    "AuditBreak",
    "AuditEntry",
    "AuditReport",
    "Base",
    "Blob",
    "BlobStore",
    "Collection",
    "Database",
    "Edges",
    "Garbage",
    "HttpArtifactStore",
    "RegistrySpec",
    "RemoteClient",
    "SchemaState",
    "VersionedRegistry",
    "acting",
    "append_audit",
    "audit_entries",
    "audit_head",
    "check_alias",
    "collect_garbage",
    "current_revision",
    "default_artifacts",
    "default_database",
    "remote_client",
    "upgrade",
    "verify_audit_chain",
    "watch_versions",
]

if TYPE_CHECKING:
    from shipyard.store._http import RemoteClient, remote_client
    from shipyard.store._http_artifacts import HttpArtifactStore

_lock = threading.Lock()
_database: Database | None = None
_artifacts: BlobStore | None = None


def default_database() -> Database:
    """The metadata store named by the settings (``SHIPYARD_DB_URL`` or ``SHIPYARD_HOME``)."""
    global _database
    with _lock:
        if _database is None:
            _database = Database(get_settings().db_url)
        return _database


def default_artifacts() -> BlobStore:
    """The artifact store named by the settings: the platform server's in remote mode
    (``SHIPYARD_URL``: :class:`HttpArtifactStore`, downloads cached in ``SHIPYARD_HOME``),
    else ``SHIPYARD_ARTIFACTS_URL``'s (:class:`ArtifactStore`)."""
    global _artifacts
    with _lock:
        if _artifacts is None:
            settings = get_settings()
            cache = settings.home / "cache"
            if settings.remote:
                from shipyard.store._http import remote_client
                from shipyard.store._http_artifacts import HttpArtifactStore

                _artifacts = HttpArtifactStore(remote_client(), cache_dir=cache)
            else:
                _artifacts = ArtifactStore(
                    settings.artifacts_url, cache_dir=settings.home / "cache"
                )
        return _artifacts


def _forget() -> None:
    global _database, _artifacts
    with _lock:
        if _database is not None:
            _database.dispose()
        _database = None
        _artifacts = None


on_reset(_forget)


def __getattr__(name: str) -> object:
    """Remote mode's client, imported on first use (httpx stays out of local start-up)."""
    if name in ("RemoteClient", "remote_client"):
        from shipyard.store import _http

        return getattr(_http, name)
    if name == "HttpArtifactStore":
        from shipyard.store._http_artifacts import HttpArtifactStore

        return HttpArtifactStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

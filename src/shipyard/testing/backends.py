"""Helpers for the store contracts (:mod:`shipyard.testing.stores`): a database on each
backend, threads started together, and sample records for each registry."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text

from shipyard.errors import InvalidInput
from shipyard.store import Database, VersionedRegistry

__all__ = [
    "BACKENDS",
    "RegistryCase",
    "load_tables",
    "new_dataset_version",
    "new_model_version",
    "open_database",
    "registry_cases",
    "run_threads",
]


def load_tables() -> Any:
    """Import every capability's ``_tables`` module (capabilities export lazily, so importing
    a package no longer does) and return the metadata they declare: what the migrations
    must create."""
    import importlib
    import importlib.util
    import pkgutil

    import shipyard
    from shipyard.store import Base

    for package in pkgutil.iter_modules(shipyard.__path__):
        if package.ispkg and importlib.util.find_spec(f"shipyard.{package.name}._tables"):
            importlib.import_module(f"shipyard.{package.name}._tables")
    return Base.metadata


#: The metadata-store backends every store is checked against.
BACKENDS = ("memory", "sqlite", "postgres")


@contextmanager
def open_database(
    backend: str, folder: Path, postgres_url: str | None = None
) -> Iterator[Database]:
    """An empty, migrated database on ``backend``, disposed afterwards.

    ``sqlite`` is a file in ``folder``; ``postgres`` is ``postgres_url`` with every table
    emptied first (one database serves a whole test session); ``memory`` is ``memory://``.
    """
    if backend == "memory":
        db = Database("memory://")
    elif backend == "sqlite":
        db = Database(f"sqlite:///{folder / 'contract.db'}")
    elif backend == "postgres":
        if postgres_url is None:
            raise InvalidInput("the postgres backend needs postgres_url.")
        db = Database(postgres_url)
        _truncate(db)
    else:
        raise InvalidInput(f"backend must be one of {BACKENDS}, got {backend!r}.")
    try:
        yield db
    finally:
        db.dispose()


def _truncate(db: Database) -> None:
    with db.write() as conn:
        tables = list(
            conn.scalars(
                text(
                    "select tablename from pg_tables where schemaname = 'public' "
                    "and tablename <> 'alembic_version'"
                )
            )
        )
        if tables:
            conn.execute(text(f"TRUNCATE {', '.join(tables)} CASCADE"))


def run_threads(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` for ``i`` in ``range(count)`` on as many threads started together;
    their results in order (the first exception is re-raised)."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def target(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


@dataclass(frozen=True)
class RegistryCase:
    """A registry to check, with the payload its tables need for an entity and a version."""

    name: str
    registry: VersionedRegistry
    entity_values: Mapping[str, Any]
    version_values: Callable[[int], Mapping[str, Any]]

    def register(self, db: Database, name: str, i: int = 0) -> tuple[str, int]:
        """Add a version to ``name`` (created when missing); (version id, number)."""
        with db.write() as conn:
            entity_id = self.registry.lock_or_create(conn, name, self.entity_values)
            return self.registry.add_version(conn, entity_id, self.version_values(i))

    def entity_id(self, db: Database, name: str) -> str:
        with db.read() as conn:
            return self.registry.entity_id(conn, name)


def _dataset_version(i: int) -> dict[str, Any]:
    return {
        "content_hash": f"{i:064x}",
        "digest": "0" * 64,
        "rows": 1,
        "columns": 1,
        "size": 1,
        "created_at": time.time(),
    }


def _model_version(i: int) -> dict[str, Any]:
    return {
        "flavor": "sklearn",
        "digest": "0" * 64,
        "size": 1,
        "flavor_meta": "{}",
        "environment": "{}",
        "stage": "none",
        "created_at": time.time(),
    }


def _pipeline_version(i: int) -> dict[str, Any]:
    return {
        "code_hash": f"{i:064x}",
        "entry": "module:function",
        "source_file": None,
        "graph": "[]",
        "params": "{}",
        "created_at": time.time(),
        "created_by": None,
    }


def registry_cases() -> list[RegistryCase]:
    """Every registry Shipyard ships (datasets, models, pipelines), ready for the core
    contract."""
    from shipyard.data._store import REGISTRY as DATASETS
    from shipyard.models._queries import REGISTRY as MODELS
    from shipyard.pipelines._store import REGISTRY as PIPELINES

    return [
        RegistryCase(
            "datasets", DATASETS, {"description": None, "policy": "warn"}, _dataset_version
        ),
        RegistryCase("models", MODELS, {"description": None}, _model_version),
        RegistryCase(
            "pipelines",
            PIPELINES,
            {"description": None, "next_version": 1},
            _pipeline_version,
        ),
    ]


def new_dataset_version(i: int, **changes: Any) -> Any:
    """A :class:`NewVersion` record with content ``i`` (no schema unless given)."""
    from shipyard.data._backend import NewVersion

    values: dict[str, Any] = {
        "policy": "warn",
        "expected_schema": None,
        "content_hash": f"{i:064x}",
        "digest": f"{i:064x}",
        "rows": 10,
        "columns": 2,
        "size": 100,
        "profile_digest": None,
        "validation": None,
        "new_schema": None,
        "run_id": None,
    }
    values.update(changes)
    return NewVersion(**values)


def new_model_version(**changes: Any) -> Any:
    """A :class:`NewModelVersion` record of a small sklearn model."""
    from shipyard.models._backend import NewModelVersion

    values: dict[str, Any] = {
        "flavor": "sklearn",
        "digest": "0" * 64,
        "size": 1,
        "flavor_meta": {},
        "signature": None,
        "environment": {},
        "sample_digest": None,
        "metrics": {},
        "run_id": None,
        "source_commit": None,
        "created_by": "ann",
    }
    values.update(changes)
    return NewModelVersion(**values)

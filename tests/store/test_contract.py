"""The store contracts (``shipyard.testing.stores``) on every backend: memory, SQLite and
PostgreSQL (skipped when absent; a failure under SHIPYARD_REQUIRE_SERVICES=1)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.data import DatasetStore
from shipyard.models import ModelStore
from shipyard.store import Database
from shipyard.testing.backends import BACKENDS, RegistryCase, open_database, registry_cases
from shipyard.testing.stores import (
    DatasetStoreContract,
    ModelStoreContract,
    RegistryCoreContract,
    TrackingStoreContract,
)
from shipyard.tracking import TrackingStore


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    with open_database(request.param, tmp_path, url) as database:
        yield database


@pytest.fixture(params=registry_cases(), ids=lambda case: case.name)
def case(request: pytest.FixtureRequest) -> RegistryCase:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def dataset_store(db: Database) -> DatasetStore:
    return DatasetStore(db)


@pytest.fixture
def model_store(db: Database) -> ModelStore:
    return ModelStore(db)


@pytest.fixture
def tracking_store(db: Database) -> TrackingStore:
    return TrackingStore(db)


class TestRegistryCore(RegistryCoreContract):
    pass


class TestDatasetStore(DatasetStoreContract):
    pass


class TestModelStore(ModelStoreContract):
    pass


class TestTrackingStore(TrackingStoreContract):
    pass

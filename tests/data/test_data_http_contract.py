"""The dataset store contract over HTTP: a real platform server (in this process, on
127.0.0.1, over a temporary SQLite store) and the HTTP backend remote mode uses, pointed at
it. It must pass exactly as the SQL store does (``tests/store/test_contract.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.data._http import HttpDatasetBackend
from shipyard.server import create_app
from shipyard.serving import background
from shipyard.store import RemoteClient
from shipyard.testing.stores import DatasetStoreContract


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One server per module; each test gets a fresh store below it (``home``)."""
    with background(create_app()) as url:
        yield url


@pytest.fixture
def dataset_store(server_url: str, home: Path) -> Iterator[HttpDatasetBackend]:
    client = RemoteClient(server_url)
    try:
        yield HttpDatasetBackend(client)
    finally:
        client.close()


class TestHttpDatasetStore(DatasetStoreContract):
    pass

"""The tracking store contract (``shipyard.testing.stores``) over HTTP: a real platform
server in this process (``shipyard.serving.background``) over a temp SQLite store, and
:class:`~shipyard.tracking._http.HttpTrackingBackend` pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.server import create_app
from shipyard.serving import background
from shipyard.store import RemoteClient
from shipyard.testing.stores import TrackingStoreContract
from shipyard.tracking._http import HttpTrackingBackend


@pytest.fixture
def tracking_store(home: Path) -> Iterator[HttpTrackingBackend]:
    with background(create_app()) as url:
        client = RemoteClient(url)
        try:
            yield HttpTrackingBackend(client)
        finally:
            client.close()


class TestHttpTrackingStore(TrackingStoreContract):
    pass

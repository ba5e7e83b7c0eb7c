"""Fixtures of the governance tests: one local store per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.config import reset_settings
from shipyard.governance._explain import clear_cache


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One local store (SQLite, local artifacts) for the module's registered models."""
    root = tmp_path_factory.mktemp("governance") / ".shipyard"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SHIPYARD_HOME", str(root))
        for var in (
            "SHIPYARD_DB_URL",
            "SHIPYARD_ARTIFACTS_URL",
            "SHIPYARD_CONFIG",
            "SHIPYARD_URL",
            "SHIPYARD_TOKEN",
        ):
            patch.delenv(var, raising=False)
        reset_settings()
        clear_cache()
        yield root
    reset_settings()

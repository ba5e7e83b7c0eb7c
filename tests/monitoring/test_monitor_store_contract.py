"""The monitor store passes its contract battery (shipyard.testing) on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from shipyard.monitoring._monitor_store import SqlMonitorStore
from shipyard.store import default_database
from shipyard.testing.monitor_store import CHECKS


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_monitor_store_contract(backend: str, check: Callable[[Any], None]) -> None:
    check(SqlMonitorStore(default_database()))

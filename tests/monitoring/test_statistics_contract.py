"""Every drift statistic of the table passes the contract battery (shipyard.testing)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from shipyard.testing.statistics import CHECKS, STATISTICS


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("entry", STATISTICS, ids=lambda s: s.name)
def test_statistic_contract(entry: Any, check: Callable[[Any], None]) -> None:
    check(entry)

"""Every alert channel of the table passes the contract battery (shipyard.testing)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from shipyard.testing.channels import CHANNELS, CHECKS


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("entry", list(CHANNELS.values()), ids=lambda c: c.scheme)
def test_channel_contract(entry: Any, check: Callable[[Any], None], home: Any) -> None:
    check(entry)

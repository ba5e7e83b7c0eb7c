"""Every entry of the AutoML family table keeps the family contract
(``shipyard.testing.families``), for each task it claims: a new family is checked as it lands."""

from __future__ import annotations

import pytest

from shipyard.automl import ESTIMATORS, FAMILIES
from shipyard.automl._families import FAMILY_TABLE, installed
from shipyard.testing import families


def test_the_public_names_come_from_the_table() -> None:
    assert tuple(FAMILY_TABLE) == ESTIMATORS
    searched = (name for name, f in FAMILY_TABLE.items() if f.searched and installed(f))
    assert tuple(searched) == FAMILIES  # CatBoost's only when it is installed


@pytest.mark.parametrize(("family", "task"), families.cases(), ids=families.case_id)
def test_each_family_builds_searches_starts_and_stops(family, task) -> None:
    families.check_family(family, task)

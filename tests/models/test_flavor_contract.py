"""Every entry of the flavor table keeps the flavor contract (``shipyard.testing.flavors``):
the battery runs over each flavor's own examples, so a new flavor is checked as it lands."""

from __future__ import annotations

import pytest

from shipyard.models._flavors import FLAVORS
from shipyard.testing import flavors

CASES = flavors.cases()


def test_every_flavor_brings_examples() -> None:
    names = [example.name for _, example in CASES]
    assert len(names) == len(set(names)), "example names must be unique"
    without = {name for name, flavor in FLAVORS.items() if not flavor.examples()}
    assert without <= {"torch"}, f"flavors without examples: {without}"  # torch: an extra


@pytest.mark.parametrize("flavor", list(FLAVORS.values()), ids=flavors.case_id)
def test_the_entry_is_well_formed(flavor) -> None:
    flavors.check_entry(flavor)


@pytest.mark.parametrize(("flavor", "example"), CASES, ids=flavors.case_id)
def test_each_flavor_loads_back_with_the_same_predictions(backend, flavor, example) -> None:
    v = flavors.check_round_trip(flavor, example)
    flavors.check_deterministic_save(flavor, example, v)


@pytest.mark.parametrize(("flavor", "example"), CASES, ids=flavors.case_id)
def test_each_flavor_exports_to_onnx_or_says_why_not(home, flavor, example) -> None:
    v = flavors.check_round_trip(flavor, example)
    flavors.check_onnx(flavor, example, v)

"""Every rollout policy in the table passes the contract battery (shipyard.testing.policies):
a policy added to ``serving.policies`` is checked here without a new line."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from shipyard.serving import POLICIES
from shipyard.serving.policies import RolloutPolicy
from shipyard.testing.policies import CHECKS


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("entry", list(POLICIES.values()), ids=list(POLICIES))
def test_every_policy_passes_the_contract(
    entry: RolloutPolicy, check: Callable[[RolloutPolicy], None]
) -> None:
    check(entry)


def test_the_table_lists_the_policies_in_their_order() -> None:
    shipped = ["fixed", "canary", "blue_green", "shadow", "bandit"]
    assert [name for name in POLICIES if name in shipped] == shipped
    positions = [(policy.position, name) for name, policy in POLICIES.items()]
    assert positions == sorted(positions)


def test_a_policy_without_a_promotion_target_asks_for_one() -> None:
    from shipyard.errors import InvalidInput

    with pytest.raises(InvalidInput, match="Name the route"):
        POLICIES["fixed"].promote({"kind": "fixed", "split": {"a": 50, "b": 50}}, ["a", "b"], None)

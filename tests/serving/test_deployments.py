"""Deployments in the store (SQLite and PostgreSQL), policies, routing and the canary judge."""

from __future__ import annotations

from collections import Counter

import pytest
from sklearn.linear_model import LogisticRegression

import shipyard as sy
from shipyard.data import make_loans
from shipyard.errors import Conflict, InvalidInput, NotFound
from shipyard.serving import deployments
from shipyard.serving._router import Router, RouteStats
from shipyard.serving.policies import check_policy
from shipyard.serving.policies.canary import judge

FEATURES = ["age", "income", "credit_score"]


@pytest.fixture
def fraud(backend: str) -> str:
    """Model ``fraud`` with versions 1 and 2 on the test's backend."""
    frame = make_loans(300, seed=0)
    X, y = frame[FEATURES], frame["default"]
    for c in (0.1, 1.0):
        sy.models.register("fraud", LogisticRegression(C=c, max_iter=300).fit(X, y), X=X, y=y)
    return backend


def test_create_show_and_change_a_deployment(fraud: str) -> None:
    made = deployments.create(
        "checkout", {"a": "fraud@1", "b": "fraud@2"}, split={"a": 90, "b": 10}, reason="test"
    )
    assert made.split == {"a": 90.0, "b": 10.0} and made.revision == 1
    assert made.policy == {"kind": "fixed", "split": {"a": 90.0, "b": 10.0}, "sticky": None}
    assert [d.name for d in deployments.list_deployments()] == ["checkout"]
    moved = deployments.set_policy("checkout", "blue_green", live="b")
    assert moved.split == {"a": 0.0, "b": 100.0} and moved.revision == 2
    assert deployments.revision("checkout") == (moved.id, 2)
    switched = deployments.promote("checkout")  # blue-green: to the other colour
    assert switched.split == {"a": 100.0, "b": 0.0} and switched.policy["live"] == "a"
    back = deployments.rollback("checkout")
    assert back.split == {"a": 0.0, "b": 100.0}
    further = deployments.rollback("checkout")  # before the policy change: the A/B split
    assert further.split == {"a": 90.0, "b": 10.0} and further.policy["kind"] == "fixed"
    with pytest.raises(Conflict, match="no change left"):
        deployments.rollback("checkout")
    routed = deployments.set_route("checkout", "b", "fraud@1")
    assert routed.route("b").model == "fraud@1" and routed.split["b"] == 10.0
    kinds = [e.kind for e in deployments.history("checkout")]
    assert kinds == [
        "route", "rolled-back", "rolled-back", "promoted", "policy", "created"
    ]  # fmt: skip
    assert deployments.history("checkout")[-1].reason == "test"
    deployments.delete("checkout")
    with pytest.raises(NotFound):
        deployments.get("checkout")


def test_bad_deployments_are_refused_by_name_and_nothing_is_stored(fraud: str) -> None:
    cases = [
        ({"a": "fraud@9"}, {}, "routes\\['a'\\]"),
        ({"a": "fraud@1", "b": "fraud@2"}, {"split": {"a": 50, "b": 40}}, "add up to 100"),
        ({"a": "fraud@1", "b": "fraud@2"}, {"split": {"a": 50, "c": 50}}, "lacks"),
        ({"a": "fraud@1"}, {"policy": "canary"}, "exactly two"),
        ({"a": "fraud@1", "b": "fraud@2"}, {"policy": "canary", "steps": [50, 5]}, "steps"),
        ({"a": "fraud@1", "b": "fraud@2"}, {"policy": "bandit", "epsilon": 2}, "epsilon"),
        ({"a": "fraud@1", "b": "fraud@2"}, {"policy": "blue_green", "live": "c"}, "live"),
        ({"a": "fraud@1", "b": "fraud@2"}, {"policy": "shadow", "split": {}}, "split"),
        ({"a": "fraud@1"}, {"policy": "round_robin"}, "policy must be one of"),
        ({"bad name": "fraud@1"}, {}, "Route name"),
    ]
    for routes, params, message in cases:
        with pytest.raises(InvalidInput, match=message):
            deployments.create("d", routes, **params)
    assert deployments.list_deployments() == []
    deployments.create("d", {"a": "fraud@1"})
    with pytest.raises(Conflict, match="exists"):
        deployments.create("d", {"a": "fraud@2"})
    with pytest.raises(InvalidInput, match="split"):
        deployments.set_policy("d", "fixed", split={"a": 20})
    assert deployments.get("d").revision == 1  # the refused change left it as it was


def test_a_decision_applies_only_to_the_revision_it_saw(fraud: str) -> None:
    made = deployments.create("c", {"old": "fraud@1", "new": "fraud@2"}, policy="canary")
    assert made.split == {"old": 95.0, "new": 5.0}
    policy = {**made.policy, "step": 1}
    applied = deployments.record_decision(
        "c", made.revision, policy, {"old": 75.0, "new": 25.0}, "canary-step", {"why": "ok"}
    )
    assert applied is not None and applied.split["new"] == 25.0
    stale = deployments.record_decision(
        "c", made.revision, policy, {"old": 0.0, "new": 100.0}, "canary-step", {}
    )
    assert stale is None and deployments.get("c").split["new"] == 25.0
    assert deployments.history("c")[0].detail["evidence"] == {"why": "ok"}


def _router(policy: dict, weights: dict, stats: dict | None = None) -> Router:
    slots = {r: object() for r in weights}
    return Router("d", slots, {r: r for r in weights}, weights, policy, 1, stats or {}, seed=7)  # type: ignore[arg-type]


def test_a_fixed_split_routes_in_proportion_and_sticky_keys_stay_put() -> None:
    policy = check_policy("fixed", ["a", "b"], {"split": {"a": 80, "b": 20}, "sticky": "user"})
    router = _router(policy, policy["split"])
    counts = Counter(router.choose() for _ in range(20_000))
    assert abs(counts["b"] / 20_000 - 0.2) < 0.015
    for key in ("alice", "bob", "carol", "dave"):
        assert len({router.choose(key) for _ in range(50)}) == 1
    keyed = Counter(router.choose(f"user-{i}") for i in range(20_000))
    assert abs(keyed["b"] / 20_000 - 0.2) < 0.015  # keys spread by the same shares


def test_thompson_sampling_favours_the_route_that_earns_rewards() -> None:
    stats = {"a": RouteStats(), "b": RouteStats()}
    policy = check_policy("bandit", ["a", "b"], {})
    router = _router(policy, {"a": 50, "b": 50}, stats)
    rates = {"a": 0.2, "b": 0.6}
    import random

    rng = random.Random(1)
    chosen = []
    for _ in range(2_000):
        route = router.choose()
        chosen.append(route)
        stats[route].rewarded += 1
        stats[route].rewards += float(rng.random() < rates[route])
    assert Counter(chosen[-500:])["b"] > 450


def test_epsilon_greedy_explores_then_exploits() -> None:
    stats = {"a": RouteStats(rewarded=100, rewards=70), "b": RouteStats(rewarded=100, rewards=30)}
    policy = check_policy("bandit", ["a", "b"], {"algorithm": "epsilon_greedy", "epsilon": 0.2})
    router = _router(policy, {"a": 50, "b": 50}, stats)
    counts = Counter(router.choose() for _ in range(10_000))
    assert abs(counts["b"] / 10_000 - 0.1) < 0.02  # half of the 20% exploration


def _stats(requests: int, errors: int = 0, latency: float = 0.001, labelled: int = 0,
           correct: float = 0.0) -> RouteStats:  # fmt: skip
    stats = RouteStats(requests=requests, errors=errors, labelled=labelled, correct=correct)
    stats.model_time.add(latency, max(1, requests))
    return stats


def test_the_canary_judge_advances_promotes_and_rolls_back() -> None:
    policy = check_policy("canary", ["old", "new"], {"step_requests": 100})
    assert judge(policy, _stats(2000), _stats(50)) is None  # not enough requests yet
    step = judge(policy, _stats(2000), _stats(100))
    assert step is not None and step.kind == "canary-step"
    assert step.weights == {"old": 75.0, "new": 25.0} and step.policy["step"] == 1
    last = judge({**policy, "step": 2}, _stats(2000), _stats(100))
    assert last is not None and last.kind == "canary-promoted"
    assert last.weights == {"old": 0.0, "new": 100.0} and last.policy["status"] == "promoted"
    early = judge(policy, _stats(2000), _stats(10, errors=2))  # > 1% of a step already
    assert early is not None and early.kind == "canary-rolled-back"
    assert early.weights == {"old": 100.0, "new": 0.0} and "errors" in early.evidence["why"]
    slow = judge(policy, _stats(2000, latency=0.001), _stats(100, latency=0.01))
    assert slow is not None and slow.kind == "canary-rolled-back" and "p99" in slow.evidence["why"]
    worse = judge(
        policy,
        _stats(2000, labelled=100, correct=90),
        _stats(100, labelled=60, correct=48),
    )
    assert worse is not None and "accuracy" in worse.evidence["why"]
    assert judge({**policy, "status": "rolled_back"}, _stats(9), _stats(999)) is None

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
from shipyard.serving.policies import check_policy, policy_of
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
    assert made.policy == {
        "kind": "fixed", "split": {"a": 90.0, "b": 10.0}, "sticky": None,
        "metric": "accuracy", "alpha": 0.05, "stop_when_significant": False,
    }  # fmt: skip
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
    early = judge(policy, _stats(2000), _stats(10, errors=5))  # 5 of 15 failed: clearly
    assert early is not None and early.kind == "canary-rolled-back"
    assert early.weights == {"old": 100.0, "new": 0.0} and "error rate" in early.evidence["why"]
    slow = judge(policy, _stats(2000, latency=0.001), _stats(100, latency=0.01))
    assert slow is not None and slow.kind == "canary-rolled-back"
    assert "slower than 2 x baseline p99" in slow.evidence["why"]
    worse = judge(
        policy, _stats(2000, labelled=200, correct=180), _stats(100, labelled=100, correct=61)
    )
    assert worse is not None and worse.kind == "canary-rolled-back"
    why = worse.evidence["why"]
    assert why.startswith("accuracy 0.61 vs 0.90: drop 0.29 > 0.02 (p=") and ")" in why
    accuracy = worse.evidence["checks"]["accuracy"]
    assert accuracy["significant"] and accuracy["p_value"] < worse.evidence["level"]
    assert accuracy["interval"][0] > 0.02 and accuracy["estimate"] == 0.29
    assert judge({**policy, "status": "rolled_back"}, _stats(9), _stats(999)) is None


def test_the_canary_judge_tolerates_what_is_within_its_limits() -> None:
    policy = check_policy("canary", ["old", "new"], {})  # 200 requests a step, 1% errors
    at_limit = judge(policy, _stats(2000), _stats(198, errors=2))
    assert at_limit is not None and at_limit.kind == "canary-step"
    checks = at_limit.evidence["checks"]
    assert checks["errors"]["estimate"] == 0.01 and not checks["errors"]["significant"]
    assert checks["errors"]["interval"][0] < 0.01 < checks["errors"]["interval"][1]
    assert "waiting" in checks["accuracy"] and checks["accuracy"]["p_value"] is None
    noisy = judge(
        policy, _stats(2000, labelled=60, correct=54), _stats(200, labelled=55, correct=46)
    )  # 0.84 against 0.90 on so few labels: not significant, the step goes on
    assert noisy is not None and noisy.kind == "canary-step"
    tolerant = check_policy("canary", ["old", "new"], {"max_latency_ratio": 20.0})
    assert judge(tolerant, _stats(2000, latency=0.001), _stats(50, latency=0.01)) is None


def test_a_candidate_failing_every_request_is_stopped_within_the_error_budget() -> None:
    for step_requests, max_error_rate, alpha in [
        (200, 0.01, 0.05), (200, 0.01, 0.01), (500, 0.01, 0.05), (200, 0.02, 0.1),
        (1000, 0.05, 0.01), (300, 0.01, 0.05),
    ]:  # fmt: skip
        policy = check_policy(
            "canary",
            ["old", "new"],
            {"step_requests": step_requests, "max_error_rate": max_error_rate, "alpha": alpha},
        )
        budget = int(max_error_rate * step_requests)
        failures = next(
            k for k in range(1, budget + 2) if judge(policy, _stats(500), _stats(0, errors=k))
        )
        assert failures <= budget, (step_requests, max_error_rate, alpha, failures)
    default = check_policy("canary", ["old", "new"], {})
    assert judge(default, _stats(500), _stats(0, errors=1)) is None
    assert judge(default, _stats(500), _stats(0, errors=2)) is not None  # 0.01 x 200


def test_require_labels_holds_a_step_until_both_routes_have_them() -> None:
    policy = check_policy("canary", ["old", "new"], {"require_labels": True, "min_labels": 30})
    assert policy["require_labels"] is True
    assert judge(policy, _stats(2000, labelled=500, correct=450), _stats(400)) is None
    later = judge(
        policy, _stats(2000, labelled=500, correct=450), _stats(400, labelled=30, correct=27)
    )
    assert later is not None and later.kind == "canary-step"
    for bad, field in [({"alpha": 1.5}, "alpha"), ({"require_labels": "yes"}, "require_labels")]:
        with pytest.raises(InvalidInput, match=rf"^{field} must"):
            check_policy("canary", ["old", "new"], bad)


def _labelled(n: int, correct: int) -> RouteStats:
    return _stats(n, labelled=n, correct=float(correct))


def test_ab_statistics_and_a_significant_winner_takes_all(fraud: str) -> None:
    made = deployments.create(
        "ab", {"a": "fraud@1", "b": "fraud@2"}, split={"a": 50, "b": 50},
        stop_when_significant=True, sticky="user",
    )  # fmt: skip
    rollout = policy_of(made.policy)
    even = {"a": _labelled(400, 360), "b": _labelled(400, 356)}
    table = rollout.statistics(made.policy, even)
    assert table["metric"] == "accuracy" and table["baseline"] == "a"
    a, b = table["routes"]
    assert (a["route"], a["n"], a["estimate"]) == ("a", 400, 0.9)
    assert a["interval"][0] < 0.9 < a["interval"][1] and not b["significant"]
    assert b["difference"] == -0.01 and b["difference_interval"][0] < -0.01 < b["p_value"]
    assert rollout.judge(made.policy, even) is None and table["winner"] is None
    better = {"a": _labelled(400, 300), "b": _labelled(400, 360)}
    decision = rollout.judge(made.policy, better)
    assert decision is not None and decision.kind == "ab-concluded"
    assert decision.weights == {"a": 0.0, "b": 100.0} and decision.policy["sticky"] == "user"
    assert decision.evidence["why"].startswith("b wins on accuracy: a 0.75, b 0.9 (p=")
    applied = deployments.record_decision(
        "ab", made.revision, decision.policy, decision.weights, decision.kind,
        decision.evidence,
    )  # fmt: skip
    assert applied is not None and applied.split == {"a": 0.0, "b": 100.0}
    assert rollout.judge(applied.policy, better) is None  # one live route: nothing to test
    assert rollout.restart(made.policy, applied.policy) == ("a", "b")  # evidence starts over
    back = deployments.rollback("ab")
    assert back.split == {"a": 50.0, "b": 50.0} and back.policy["stop_when_significant"]
    latency = rollout.statistics({**made.policy, "metric": "latency"}, better)
    assert latency["routes"][0]["estimate"] > 0 and latency["higher_is_better"] is False
    with pytest.raises(InvalidInput, match=r"^metric must be one of"):
        deployments.create("x", {"a": "fraud@1"}, metric="speed")

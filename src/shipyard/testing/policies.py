"""The contract of a rollout policy: the checks every entry of ``serving.POLICIES`` passes.

``check_rollout_policy(entry)`` runs them all; each ``check_*`` function is one check,
named in ``CHECKS`` so a test can parametrize over (entry, check). A new policy (one module
in ``shipyard.serving.policies``) is checked by the same test: it declares its name, help
and parameters; its defaults check and survive JSON; it refuses an unknown parameter; it
starts from a split of 100%; it answers every request from one of its routes and never
shadows the route that answered; its judge, restart and promote hooks return what the
server and the store expect; its statistics are JSON with a row per route. Each check
raises AssertionError naming what failed.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from shipyard.errors import InvalidInput
from shipyard.serving.policies import (
    POLICIES,
    Decision,
    Param,
    RolloutPolicy,
    RouteStats,
    check_policy,
)

__all__ = [
    "CHECKS",
    "POLICIES",
    "check_choose_answers_from_a_route",
    "check_defaults",
    "check_fields",
    "check_initial_weights",
    "check_judge",
    "check_promote",
    "check_rollout_policy",
    "check_statistics",
    "check_unknown_parameter_refused",
]

CLI_TYPES = (str, int, float, bool, list)


class FakeChooser:
    """What a policy picks routes with (``RouteChooser``), without models: a seeded random
    generator, statistics per route and a weighted choice by a split."""

    def __init__(
        self, weights: Mapping[str, float], stats: dict[str, RouteStats], seed: int = 0
    ) -> None:
        self.weights = dict(weights)
        self.stats = stats
        self.random = random.Random(seed)

    @property
    def routes(self) -> list[str]:
        return list(self.weights)

    def weighted(self, key: str | None) -> str:
        live = [r for r, w in self.weights.items() if w > 0] or self.routes
        if key is not None:
            return live[hash(key) % len(live)]
        return self.random.choices(live, [max(self.weights[r], 1e-9) for r in live])[0]


def stored_example(entry: RolloutPolicy) -> tuple[list[str], dict[str, Any]]:
    """Routes the entry accepts with its defaults (two, else three, else one) and the
    policy it stores for them."""
    problems = []
    for routes in (["blue", "green"], ["a", "b", "c"], ["only"]):
        try:
            return routes, entry.check(routes, {})
        except InvalidInput as exc:
            problems.append(str(exc))
    raise AssertionError(f"{entry.name}: no routes pass check with defaults: {problems}")


def check_fields(entry: RolloutPolicy) -> None:
    """Name, help text and parameters are declared, and the entry is in the table."""
    assert isinstance(entry, RolloutPolicy), f"{entry!r} lacks RolloutPolicy's members"
    assert entry.name.isidentifier(), f"name {entry.name!r}"
    # an entry checked before it joins the table (a plugin's) passes; a taken name does not
    assert POLICIES.get(entry.name, entry) is entry, f"{entry.name}: another policy has it"
    assert entry.title and entry.summary, f"{entry.name}: title and summary are the help"
    names = [p.name for p in entry.params]
    assert len(names) == len(set(names)), f"{entry.name}: parameters repeat: {names}"
    for param in entry.params:
        assert isinstance(param, Param), f"{entry.name}: {param!r} is not a Param"
        assert param.name.isidentifier() and param.help, f"{entry.name}: {param.name!r}"
        assert param.cli_type in CLI_TYPES, f"{entry.name}.{param.name}: {param.cli_type}"
        assert param.option == "--" + param.name.replace("_", "-")


def check_defaults(entry: RolloutPolicy) -> None:
    """Defaults check; the stored form names the kind, survives JSON, and giving each
    default explicitly stores the same policy."""
    routes, stored = stored_example(entry)
    assert stored.get("kind") == entry.name, f"{entry.name}: stored kind {stored.get('kind')}"
    assert json.loads(json.dumps(stored)) == stored, f"{entry.name}: not JSON: {stored}"
    assert check_policy(entry.name, routes, {}) == stored
    explicit = {p.name: p.default for p in entry.params if p.default is not None}
    assert entry.check(routes, explicit) == stored, f"{entry.name}: defaults given differ"
    assert entry.check(routes, dict.fromkeys(p.name for p in entry.params)) == stored, (
        f"{entry.name}: None should mean 'not given'"
    )


def check_unknown_parameter_refused(entry: RolloutPolicy) -> None:
    routes, _ = stored_example(entry)
    try:
        entry.check(routes, {"no_such_parameter": 1})
    except InvalidInput as exc:
        assert "no_such_parameter" in str(exc), f"{entry.name}: {exc}"
    else:
        raise AssertionError(f"{entry.name}: an unknown parameter was accepted")


def check_initial_weights(entry: RolloutPolicy) -> None:
    """The split starts as percentages over the routes, adding up to 100."""
    routes, stored = stored_example(entry)
    weights = entry.initial_weights(stored, routes)
    assert set(weights) <= set(routes), f"{entry.name}: {weights} names other routes"
    assert all(0 <= w <= 100 for w in weights.values()), f"{entry.name}: {weights}"
    assert abs(sum(weights.values()) - 100) < 1e-3, f"{entry.name}: {weights} != 100%"


def check_choose_answers_from_a_route(entry: RolloutPolicy) -> None:
    """Every request is answered by a route (with or without a sticky key, with or
    without rewards so far), and the route that answers never gets a shadow copy."""
    routes, stored = stored_example(entry)
    sticky = entry.sticky(stored)
    assert sticky is None or isinstance(sticky, str), f"{entry.name}: sticky {sticky!r}"
    shadows = entry.shadows(stored, routes)
    assert set(shadows) <= set(routes), f"{entry.name}: shadows {shadows}"
    weights = entry.initial_weights(stored, routes)
    rng = random.Random(1)
    for trial in range(3):
        stats = {r: RouteStats() for r in routes}
        if trial:
            for s in stats.values():
                s.rewarded = rng.randint(0, 50)
                s.rewards = float(rng.randint(0, s.rewarded))
        chooser = FakeChooser({r: weights.get(r, 0.0) for r in routes}, stats, seed=trial)
        for i in range(50):
            key = f"user-{i}" if trial == 2 else None
            chosen = entry.choose(stored, chooser, key)
            assert chosen in routes, f"{entry.name}: chose {chosen!r} of {routes}"
            assert chosen not in shadows, f"{entry.name}: {chosen} answers and is shadowed"


def check_judge(entry: RolloutPolicy) -> None:
    """With no traffic yet, nothing to decide or a Decision the store can apply; an
    unchanged policy resets no statistics."""
    routes, stored = stored_example(entry)
    stats = {r: RouteStats() for r in routes}
    decision = entry.judge(stored, stats)
    if decision is not None:
        _check_decision(entry, decision, routes)
    assert entry.restart(stored, stored) == (), f"{entry.name}: restarts on no change"


def _check_decision(entry: RolloutPolicy, decision: Decision, routes: Sequence[str]) -> None:
    assert decision.policy.get("kind") == entry.name, f"{entry.name}: {decision.policy}"
    assert abs(sum(decision.weights.values()) - 100) < 1e-3, f"{entry.name}: {decision}"
    assert set(decision.reset) <= set(routes), f"{entry.name}: resets {decision.reset}"
    json.dumps(decision.policy)
    json.dumps(decision.evidence)


def check_promote(entry: RolloutPolicy) -> None:
    """Promoting a named route gives that route, keeps the kind and stays JSON; without a
    route, the policy names one of its routes or asks for one (InvalidInput)."""
    routes, stored = stored_example(entry)
    for route in routes:
        policy, chosen = entry.promote(stored, routes, route)
        assert chosen == route, f"{entry.name}: promoted {chosen} for {route}"
        assert policy.get("kind") == entry.name, f"{entry.name}: {policy}"
        assert json.loads(json.dumps(policy)) == policy
        # the promoted route answers everything: it never gets a shadow copy of its own
        # requests (a policy whose stored parameters drive routing updates them on promote)
        assert route not in entry.shadows(policy, routes), f"{entry.name}: {policy}"
    try:
        _policy, chosen = entry.promote(stored, routes, None)
    except InvalidInput:
        return
    assert chosen in routes, f"{entry.name}: promoted {chosen!r} of {routes}"


def check_statistics(entry: RolloutPolicy) -> None:
    """The A/B statistics are JSON naming a metric, with one row per route (no traffic yet,
    and some traffic), each with ``n``, ``estimate`` and ``interval``; p-values in [0, 1]."""
    routes, stored = stored_example(entry)
    rng = random.Random(2)
    for trial in range(2):
        stats = {r: RouteStats() for r in routes}
        for s in stats.values() if trial else ():
            s.requests, s.errors = rng.randint(40, 90), rng.randint(0, 5)
            s.labelled = rng.randint(30, 40)
            s.correct = float(rng.randint(0, s.labelled))
            s.rewarded, s.rewards, s.rewards_sq = 35, 20.0, 20.0
            s.model_time.add(0.001 * rng.randint(1, 9), s.requests)
        found = entry.statistics(stored, stats)
        assert json.loads(json.dumps(found)) == found, f"{entry.name}: not JSON: {found}"
        assert isinstance(found.get("metric"), str), f"{entry.name}: {found}"
        rows = found["routes"]
        assert {row["route"] for row in rows} <= set(routes) and rows, f"{entry.name}: {rows}"
        for row in rows:
            assert {"n", "estimate", "interval"} <= set(row), f"{entry.name}: {row}"
            p = row.get("p_value")
            assert p is None or 0 <= p <= 1, f"{entry.name}: p-value {p}"
        assert found.get("winner") in (None, *routes), f"{entry.name}: {found.get('winner')}"


CHECKS: tuple[Callable[[RolloutPolicy], None], ...] = (
    check_fields,
    check_defaults,
    check_unknown_parameter_refused,
    check_initial_weights,
    check_choose_answers_from_a_route,
    check_judge,
    check_promote,
    check_statistics,
)


def check_rollout_policy(entry: RolloutPolicy) -> None:
    """Run every check of the contract on ``entry``."""
    for check in CHECKS:
        check(entry)

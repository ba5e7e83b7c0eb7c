"""The rollout-policy contract: what a policy declares and the hooks the server calls.

A policy is stored on its deployment as JSON: ``kind`` (the policy's name), its
parameters, and the state it moves through (a canary's step). Everything that depends on the
kind asks the policy: the deployment store (:meth:`RolloutPolicy.check`,
:meth:`~RolloutPolicy.initial_weights`, :meth:`~RolloutPolicy.promote`), the router
(:meth:`~RolloutPolicy.choose`, :meth:`~RolloutPolicy.shadows`,
:meth:`~RolloutPolicy.sticky`), the server's watcher (:meth:`~RolloutPolicy.judge`,
:meth:`~RolloutPolicy.restart`), the CLI (:attr:`~RolloutPolicy.params`) and whoever
shows an experiment's numbers (:meth:`~RolloutPolicy.statistics`).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from shipyard.errors import InvalidInput
from shipyard.serving._stats import RouteStats

__all__ = [
    "BasePolicy",
    "Decision",
    "Param",
    "RolloutPolicy",
    "RouteChooser",
    "is_number",
    "route_named",
]


@dataclass(frozen=True)
class Param:
    """One parameter of a policy: its default, help text and how the CLI reads it.

    ``default`` None means the policy decides from the routes (e.g. the first route).
    ``cli_type`` is the type of the CLI option (``list`` for a repeatable ``KEY=VALUE``);
    ``parse`` turns the option's value into the parameter's (raising InvalidInput)."""

    name: str
    help: str
    default: Any = None
    cli_type: type = str
    parse: Callable[[Any], Any] | None = None

    @property
    def option(self) -> str:
        """The CLI option: ``--step-requests`` for ``step_requests``."""
        return "--" + self.name.replace("_", "-")


@dataclass(frozen=True)
class Decision:
    """A policy's judgement on its statistics: the policy and split to store, the event
    kind, its evidence, and the routes whose statistics start over once it is applied."""

    kind: str  # e.g. "canary-step", "canary-promoted" or "canary-rolled-back"
    policy: dict[str, Any]
    weights: dict[str, float]
    evidence: dict[str, Any]
    reset: tuple[str, ...] = field(default=())


class RouteChooser(Protocol):
    """What a policy picks a route with: the router's routes, statistics and randomness."""

    random: random.Random  # the router's own generator (seeded in tests)

    @property
    def routes(self) -> list[str]:
        """Every route, in the deployment's order (weights aside)."""
        ...

    @property
    def stats(self) -> dict[str, RouteStats]: ...

    def weighted(self, key: str | None) -> str:
        """A route by the stored split: by ``key``'s hash when given, else at random."""
        ...


@runtime_checkable
class RolloutPolicy(Protocol):
    """A traffic policy of a deployment (an entry of ``POLICIES``).

    Pure and stateless: every method takes the stored policy (a dict) and returns new
    values; none does I/O. ``check`` raises InvalidInput naming the parameter at fault;
    ``promote`` raises InvalidInput when the route to promote cannot be chosen."""

    name: str  # the stored ``kind``
    title: str  # for help text: "Canary"
    summary: str  # one line: what the policy does
    position: int  # where it is listed among the policies
    params: tuple[Param, ...]

    def check(self, routes: Sequence[str], given: Mapping[str, Any]) -> dict[str, Any]:
        """The stored form (``kind``, parameters with defaults, initial state)."""
        ...

    def initial_weights(self, policy: Mapping[str, Any], routes: Sequence[str]) -> dict[str, float]:
        """Each route's share (percent) when the policy starts."""
        ...

    def choose(self, policy: Mapping[str, Any], router: RouteChooser, key: str | None) -> str:
        """The route that answers a request (``key``: its sticky value, if any)."""
        ...

    def sticky(self, policy: Mapping[str, Any]) -> str | None:
        """The request field or header whose value pins a route, if any."""
        ...

    def shadows(self, policy: Mapping[str, Any], routes: Sequence[str]) -> list[str]:
        """The routes that get a copy of every request (answers never returned)."""
        ...

    def judge(self, policy: Mapping[str, Any], stats: Mapping[str, RouteStats]) -> Decision | None:
        """What the statistics call for now (a canary's step), or None."""
        ...

    def restart(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[str, ...]:
        """Routes whose statistics start over when the stored policy went from old to new."""
        ...

    def statistics(
        self, policy: Mapping[str, Any], stats: Mapping[str, RouteStats]
    ) -> dict[str, Any]:
        """The A/B statistics of the routes (JSON): the metric, each route's ``n``,
        ``estimate`` and ``interval``, each route against the first (``difference``,
        ``difference_interval``, always-valid ``p_value``, ``significant``) and the
        ``winner`` (see ``policies._compare.compare``)."""
        ...

    def epoch(self, policy: Mapping[str, Any]) -> str:
        """The evidence period the stored policy is in (a canary's step): statistics pooled
        across workers and replicas are kept per period, so evidence belongs to the period
        it was gathered in. Two policies with the same epoch judge the same evidence."""
        ...

    def promote(
        self, policy: Mapping[str, Any], routes: Sequence[str], route: str | None
    ) -> tuple[dict[str, Any], str]:
        """The policy after ``route`` (None: the policy's own choice) takes all traffic,
        and that route."""
        ...


class BasePolicy:
    """Defaults for a policy: a weighted choice by the stored split, no shadows, no sticky
    key, nothing to judge, and promotion of a named route only."""

    name = ""
    title = ""
    summary = ""
    position = 100
    params: tuple[Param, ...] = ()

    def allowed(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """``given`` without None values, refusing names the policy does not take."""
        present = {k: v for k, v in given.items() if v is not None}
        names = {p.name for p in self.params}
        unknown = sorted(set(present) - names)
        if unknown:
            raise InvalidInput(
                f"{', '.join(unknown)}: not a parameter of the {self.name} policy "
                f"(it takes {', '.join(sorted(names))})."
            )
        return present

    def check(self, routes: Sequence[str], given: Mapping[str, Any]) -> dict[str, Any]:
        self.allowed(given)
        return {"kind": self.name}

    def initial_weights(self, policy: Mapping[str, Any], routes: Sequence[str]) -> dict[str, float]:
        return {r: round(100.0 / len(routes), 6) for r in routes}

    def choose(self, policy: Mapping[str, Any], router: RouteChooser, key: str | None) -> str:
        return router.weighted(None)

    def sticky(self, policy: Mapping[str, Any]) -> str | None:
        return None

    def shadows(self, policy: Mapping[str, Any], routes: Sequence[str]) -> list[str]:
        return []

    def judge(self, policy: Mapping[str, Any], stats: Mapping[str, RouteStats]) -> Decision | None:
        return None

    def restart(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[str, ...]:
        return ()

    def statistics(
        self, policy: Mapping[str, Any], stats: Mapping[str, RouteStats]
    ) -> dict[str, Any]:
        """The stored ``metric`` (default accuracy) at the stored ``alpha`` (default 0.05)
        over the routes in the order of ``stats``."""
        from shipyard.serving.policies._compare import compare  # numpy, SciPy: when judged

        metric = str(policy.get("metric") or "accuracy")
        return compare(stats, list(stats), metric, float(policy.get("alpha") or 0.05))

    def epoch(self, policy: Mapping[str, Any]) -> str:
        return ""

    def promote(
        self, policy: Mapping[str, Any], routes: Sequence[str], route: str | None
    ) -> tuple[dict[str, Any], str]:
        if route is None:
            raise InvalidInput(f"Name the route to promote (routes: {', '.join(routes)}).")
        return dict(policy), route


def route_named(name: Any, routes: Sequence[str], field: str) -> str:
    """``name`` if it is one of ``routes``; InvalidInput naming ``field`` otherwise."""
    if name not in routes:
        raise InvalidInput(
            f"{field} must be one of the routes ({', '.join(routes)}); got {name!r}."
        )
    return str(name)


def is_number(value: Any) -> bool:
    """A finite int or float (not a bool)."""
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )

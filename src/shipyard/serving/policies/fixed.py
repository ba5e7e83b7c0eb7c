"""``fixed``: A/B by percentage (``split``); with ``sticky`` (a request field or header
name) a key always lands on the same route."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shipyard.errors import InvalidInput
from shipyard.serving.policies._base import BasePolicy, Param, RouteChooser, is_number

__all__ = ["POLICY", "FixedPolicy"]


def _parse_split(values: list[str]) -> dict[str, float]:
    """``["a=90", "b=10"]`` (the CLI's repeated ``--split``) as ``{"a": 90.0, "b": 10.0}``."""
    out: dict[str, float] = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key or not rest:
            raise InvalidInput(f"--split must look like NAME=VALUE; got {value!r}.")
        try:
            out[key] = float(rest)
        except ValueError as exc:
            raise InvalidInput(f"--split percentages must be numbers: {exc}.") from exc
    return out


def _split(split: Any, routes: Sequence[str]) -> dict[str, float]:
    if split is None:
        share = 100.0 / len(routes)
        return {r: round(share, 6) for r in routes}
    if not isinstance(split, Mapping):
        raise InvalidInput('split must map routes to percentages, e.g. {"a": 90, "b": 10}.')
    unknown = sorted(set(split) - set(routes))
    if unknown:
        raise InvalidInput(f"split names routes the deployment lacks: {unknown}.")
    out = {}
    for route in routes:
        value = split.get(route, 0)
        if not is_number(value) or not 0 <= value <= 100:
            raise InvalidInput(f"split[{route!r}] must be a percentage in [0, 100]; got {value!r}.")
        out[route] = float(value)
    total = sum(out.values())
    if abs(total - 100) > 1e-6:
        raise InvalidInput(f"split must add up to 100; it adds up to {total:g}.")
    return out


class FixedPolicy(BasePolicy):
    """A fixed split by percentage (A/B), optionally sticky."""

    name = "fixed"
    title = "Fixed"
    summary = "A/B split"
    position = 0
    params = (
        Param("split", "route share, ROUTE=PERCENT (repeat)", None, list, _parse_split),
        Param("sticky", "request field or header that pins a route"),
    )

    def check(self, routes: Sequence[str], given: Mapping[str, Any]) -> dict[str, Any]:
        present = self.allowed(given)
        policy: dict[str, Any] = {"kind": self.name, "split": _split(present.get("split"), routes)}
        sticky = present.get("sticky")
        if sticky is not None and (not isinstance(sticky, str) or not sticky):
            raise InvalidInput("sticky must be the name of a request field or header.")
        policy["sticky"] = sticky
        return policy

    def initial_weights(self, policy: Mapping[str, Any], routes: Sequence[str]) -> dict[str, float]:
        return dict(policy["split"])

    def choose(self, policy: Mapping[str, Any], router: RouteChooser, key: str | None) -> str:
        return router.weighted(key if policy.get("sticky") else None)

    def sticky(self, policy: Mapping[str, Any]) -> str | None:
        value = policy.get("sticky")
        return str(value) if value else None

    def promote(
        self, policy: Mapping[str, Any], routes: Sequence[str], route: str | None
    ) -> tuple[dict[str, Any], str]:
        new, chosen = super().promote(policy, routes, route)
        new["split"] = {r: 100.0 if r == chosen else 0.0 for r in routes}
        return new, chosen


POLICY = FixedPolicy()

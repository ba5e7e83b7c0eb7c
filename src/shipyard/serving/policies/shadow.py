"""``shadow``: the ``primary`` route answers; every other route gets a copy of each request,
logged and compared, never returned."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shipyard.errors import InvalidInput
from shipyard.serving.policies._base import BasePolicy, Param, RouteChooser, route_named

__all__ = ["POLICY", "ShadowPolicy"]


class ShadowPolicy(BasePolicy):
    """One route answers, the others are mirrored."""

    name = "shadow"
    title = "Shadow"
    summary = "the primary answers, the other routes get copies"
    position = 3
    params = (Param("primary", "the route whose answers return (default: the first)"),)

    def check(self, routes: Sequence[str], given: Mapping[str, Any]) -> dict[str, Any]:
        present = self.allowed(given)
        if len(routes) < 2:
            raise InvalidInput("routes: shadow needs a primary and at least one shadow route.")
        primary = route_named(present.get("primary", routes[0]), routes, "primary")
        return {"kind": self.name, "primary": primary}

    def initial_weights(self, policy: Mapping[str, Any], routes: Sequence[str]) -> dict[str, float]:
        return {r: 100.0 if r == policy["primary"] else 0.0 for r in routes}

    def choose(self, policy: Mapping[str, Any], router: RouteChooser, key: str | None) -> str:
        return str(policy["primary"])

    def shadows(self, policy: Mapping[str, Any], routes: Sequence[str]) -> list[str]:
        return [r for r in routes if r != policy["primary"]]

    def promote(
        self, policy: Mapping[str, Any], routes: Sequence[str], route: str | None
    ) -> tuple[dict[str, Any], str]:
        new, chosen = super().promote(policy, routes, route)
        new["primary"] = chosen
        return new, chosen


POLICY = ShadowPolicy()

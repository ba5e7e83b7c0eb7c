"""``blue_green``: one ``live`` route takes everything; promote switches to the other,
rollback switches back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shipyard.errors import InvalidInput
from shipyard.serving.policies._base import BasePolicy, Param, route_named

__all__ = ["POLICY", "BlueGreenPolicy"]


class BlueGreenPolicy(BasePolicy):
    """Two routes, one live: a switch, not a split."""

    name = "blue_green"
    title = "Blue-green"
    summary = "one of two routes takes all traffic; promote switches"
    position = 2
    params = (Param("live", "the route taking traffic (default: the first)"),)

    def check(self, routes: Sequence[str], given: Mapping[str, Any]) -> dict[str, Any]:
        present = self.allowed(given)
        if len(routes) != 2:
            raise InvalidInput(f"routes: blue-green needs exactly two routes, got {len(routes)}.")
        live = route_named(present.get("live", routes[0]), routes, "live")
        return {"kind": self.name, "live": live}

    def initial_weights(self, policy: Mapping[str, Any], routes: Sequence[str]) -> dict[str, float]:
        return {r: 100.0 if r == policy["live"] else 0.0 for r in routes}

    def promote(
        self, policy: Mapping[str, Any], routes: Sequence[str], route: str | None
    ) -> tuple[dict[str, Any], str]:
        chosen = route if route is not None else next(r for r in routes if r != policy["live"])
        return {**policy, "live": chosen}, chosen


POLICY = BlueGreenPolicy()

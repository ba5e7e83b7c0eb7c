"""Rollout policies: one table, ``POLICIES``, of every traffic policy a deployment can use.

Each public module of this package defines one policy as ``POLICY`` (an object satisfying
:class:`RolloutPolicy`, usually a :class:`BasePolicy` subclass); the table is built from
them, ordered by their ``position``. The deployment store, the router, the server's judge
and the CLI's options all read a policy's own definition, so adding a policy is one module
here (``serving/policies/<name>.py``) plus its tests; the contract battery
``shipyard.testing.policies`` checks every entry.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from shipyard.errors import InvalidInput
from shipyard.serving._stats import RouteStats
from shipyard.serving.policies._base import (
    BasePolicy,
    Decision,
    Param,
    RolloutPolicy,
    RouteChooser,
)

__all__ = [
    "POLICIES",
    "BasePolicy",
    "Decision",
    "Param",
    "RolloutPolicy",
    "RouteChooser",
    "RouteStats",
    "check_policy",
    "initial_weights",
    "policy_of",
]


def _discover() -> Mapping[str, RolloutPolicy]:
    found: list[RolloutPolicy] = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        entry = getattr(module, "POLICY", None)
        if entry is not None:
            found.append(entry)
    found.sort(key=lambda p: (p.position, p.name))
    return MappingProxyType({p.name: p for p in found})


POLICIES: Mapping[str, RolloutPolicy] = _discover()
"""Every rollout policy by name (``fixed``, ``canary``, ``blue_green``, ``shadow``,
``bandit``), in the order they are listed to users."""


def policy_of(policy: Mapping[str, Any]) -> RolloutPolicy:
    """The table entry of a stored policy (``{"kind": ...}``; no kind: ``fixed``)."""
    kind = policy.get("kind", "fixed")
    try:
        return POLICIES[kind]
    except KeyError:
        raise InvalidInput(f"policy must be one of {', '.join(POLICIES)}; got {kind!r}.") from None


def check_policy(kind: str, routes: Sequence[str], params: Mapping[str, Any]) -> dict[str, Any]:
    """The stored form of a policy, or InvalidInput naming the parameter at fault."""
    if not isinstance(kind, str) or kind not in POLICIES:
        raise InvalidInput(f"policy must be one of {', '.join(POLICIES)}; got {kind!r}.")
    if not routes:
        raise InvalidInput("routes: a deployment needs at least one route.")
    return POLICIES[kind].check(list(routes), params)


def initial_weights(policy: Mapping[str, Any], routes: Sequence[str]) -> dict[str, float]:
    """Each route's share (percent) when the policy starts."""
    return policy_of(policy).initial_weights(policy, list(routes))

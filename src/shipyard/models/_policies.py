"""Promotion policies: which aliases and stages a model protects, and the gates a version
passes before it may take one.

A policy is written in Python (``sy.models.Policy(min_metric={"auc": 0.8}, approval=
"editor")``), as a dict, or as a small YAML file::

    protect: [champion, production]     # default: production and champion
    gates:
      min_metric: {auc: 0.80}           # the version's recorded metrics (or its evaluation)
      max_metric: {rmse: 3.5}
      max_drop: {metric: auc, by: 0.02, data: loans@3, target: default}
      max_disparity: {demographic_parity_difference: 0.10}
      explanation: true                 # an explanation is recorded
      data_validated: true              # its training datasets passed their checks
      card_complete: true               # intended use and limitations written
      approval: editor                  # approved by an editor or an admin

Every field is checked when the policy is built: a bad one is a one-line
:class:`~shipyard.errors.InvalidInput` naming it (``policy.gates.max_drop.by: ...``).
Policies are stored versioned with the model (the newest is in force), each change in the
audit log.
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard.errors import InvalidInput

__all__ = ["DROP_METRICS", "GATES", "ROLES", "MaxDrop", "Policy", "PolicyVersion", "as_policy"]

ROLES = ("viewer", "editor", "admin")
#: The gates a policy may declare, in the order they are checked.
GATES = (
    "min_metric", "max_metric", "max_drop", "max_disparity", "explanation", "data_validated",
    "card_complete", "approval",
)  # fmt: skip
#: Metrics ``max_drop`` can score a model on, and whether higher is better.
DROP_METRICS = {
    "accuracy": True, "auc": True, "f1": True, "log_loss": False, "rmse": False,
    "mae": False, "r2": True,
}  # fmt: skip
_FLAGS = ("explanation", "data_validated", "card_complete")


MAX_YAML = 64 * 1024
"""The longest policy file (characters): a policy is a few lines."""


def _fail(where: str, expected: str, got: object) -> InvalidInput:
    shown = reprlib.repr(got)  # bounded: a YAML alias bomb shares one huge value many times
    return InvalidInput(f"{where}: expected {expected}, got {shown[:80]}.")


def _number(where: str, value: object, *, low: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(where, "a finite number", value)
    if low is not None and value < low:
        raise _fail(where, f"a number >= {low:g}", value)
    return float(value)


def _text(where: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(where, "a non-empty string", value)
    return value.strip()


def _limits(where: str, value: object) -> dict[str, float]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _fail(where, "a mapping of metric name to number", value)
    return {_text(f"{where} key", k): _number(f"{where}.{k}", v) for k, v in value.items()}


@dataclass(frozen=True)
class MaxDrop:
    """The gate "at most ``by`` worse than the current holder on ``metric``", both models
    scored on the same dataset version (``data``, label column ``target``)."""

    metric: str
    by: float
    data: str
    target: str

    def __post_init__(self) -> None:
        where = "policy.gates.max_drop"
        if self.metric not in DROP_METRICS:
            raise _fail(f"{where}.metric", f"one of {', '.join(DROP_METRICS)}", self.metric)
        object.__setattr__(self, "by", _number(f"{where}.by", self.by, low=0.0))
        data = _text(f"{where}.data", self.data)
        if "@" not in data:
            raise _fail(f"{where}.data", "a dataset version reference such as loans@3", data)
        object.__setattr__(self, "data", data)
        object.__setattr__(self, "target", _text(f"{where}.target", self.target))

    @classmethod
    def of(cls, value: object) -> MaxDrop | None:
        if value is None or isinstance(value, MaxDrop):
            return value
        where = "policy.gates.max_drop"
        if not isinstance(value, Mapping):
            raise _fail(where, "a mapping with metric, by, data and target", value)
        unknown = set(value) - {"metric", "by", "data", "target"}
        if unknown:
            raise _fail(where, "only metric, by, data and target", sorted(map(str, unknown)))
        missing = [k for k in ("metric", "by", "data", "target") if k not in value]
        if missing:
            raise InvalidInput(f"{where}.{missing[0]}: required, missing.")
        return cls(value["metric"], value["by"], value["data"], value["target"])

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "by": self.by, "data": self.data, "target": self.target}


@dataclass(frozen=True)
class Policy:
    """A model's promotion policy: the aliases and stages it protects and the gates a
    version must pass to take one of them (see the module's documentation)."""

    protect: tuple[str, ...] = ("production", "champion")
    min_metric: Mapping[str, float] = field(default_factory=dict)
    max_metric: Mapping[str, float] = field(default_factory=dict)
    max_drop: MaxDrop | Mapping[str, Any] | None = None
    max_disparity: Mapping[str, float] = field(default_factory=dict)
    explanation: bool = False
    data_validated: bool = False
    card_complete: bool = False
    approval: str | None = None

    def __post_init__(self) -> None:
        protect = self.protect
        if isinstance(protect, str) or not isinstance(protect, list | tuple):
            raise _fail("policy.protect", "a list of aliases and stages", protect)
        cleaned = tuple(dict.fromkeys(_text("policy.protect", p) for p in protect))
        if not cleaned:
            raise _fail("policy.protect", "at least one alias or stage", list(protect))
        set_ = object.__setattr__
        set_(self, "protect", cleaned)
        for name in ("min_metric", "max_metric", "max_disparity"):
            set_(self, name, _limits(f"policy.gates.{name}", getattr(self, name)))
        set_(self, "max_drop", MaxDrop.of(self.max_drop))
        for name in _FLAGS:
            if not isinstance(getattr(self, name), bool):
                raise _fail(f"policy.gates.{name}", "true or false", getattr(self, name))
        if self.approval is not None and self.approval not in ROLES:
            raise _fail("policy.gates.approval", f"one of {', '.join(ROLES)}", self.approval)

    @property
    def gates(self) -> tuple[str, ...]:
        """The gates this policy declares, in checking order."""
        return tuple(g for g in GATES if getattr(self, g) not in (None, False, {}))

    def protects(self, target: str | None) -> bool:
        """Whether moving a version to ``target`` (an alias or stage) is gated."""
        return target is not None and target in self.protect

    def to_dict(self) -> dict[str, Any]:
        """The policy as stored (and as its YAML file would say it)."""
        gates: dict[str, Any] = {}
        for name in self.gates:
            value = getattr(self, name)
            gates[name] = value.to_dict() if isinstance(value, MaxDrop) else (
                dict(value) if isinstance(value, Mapping) else value
            )  # fmt: skip
        return {"protect": list(self.protect), "gates": gates}

    def to_yaml(self) -> str:
        import yaml

        return str(yaml.safe_dump(self.to_dict(), sort_keys=False))

    @classmethod
    def from_dict(cls, data: object) -> Policy:
        """A policy from its stored or YAML form (``protect`` and ``gates``)."""
        if not isinstance(data, Mapping):
            raise _fail("policy", "a mapping with protect and gates", data)
        unknown = set(data) - {"protect", "gates"}
        if unknown:
            raise _fail("policy", "only the keys protect and gates", sorted(map(str, unknown)))
        gates = data.get("gates") or {}
        if not isinstance(gates, Mapping):
            raise _fail("policy.gates", "a mapping of gate name to setting", gates)
        strange = set(gates) - set(GATES)
        if strange:
            raise _fail("policy.gates", f"gates among {', '.join(GATES)}", sorted(strange))
        protect = data.get("protect", cls.protect)
        return cls(protect=protect, **{str(k): v for k, v in gates.items()})

    @classmethod
    def from_yaml(cls, text: str) -> Policy:
        """A policy from YAML text; malformed YAML is a one-line error with its position."""
        import yaml

        if not isinstance(text, str):
            raise _fail("policy", "YAML text", type(text).__name__)
        if len(text) > MAX_YAML:
            raise InvalidInput(f"policy: {len(text):,} characters of YAML; at most {MAX_YAML:,}.")
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
            problem = getattr(exc, "problem", None) or type(exc).__name__
            raise InvalidInput(f"policy: not valid YAML{where}: {problem}.") from None
        return cls.from_dict(data)


@dataclass(frozen=True)
class PolicyVersion:
    """One stored version of a model's policy (the newest is in force)."""

    model: str
    version: int
    policy: Policy
    source: str | None
    created_at: float
    created_by: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "policy": self.policy.to_dict(),
            "source": self.source,
            "created_at": self.created_at,
            "created_by": self.created_by,
        }


def as_policy(value: Policy | Mapping[str, Any] | str | Path) -> tuple[Policy, str | None]:
    """(the policy, its YAML source when given as YAML) from a :class:`Policy`, a dict,
    YAML text or a ``.yaml``/``.yml`` file's path."""
    if isinstance(value, Policy):
        return value, None
    if isinstance(value, Mapping):
        return Policy.from_dict(value), None
    if isinstance(value, Path) or (
        isinstance(value, str) and "\n" not in value and value.endswith((".yaml", ".yml"))
    ):
        path = Path(value)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInput(f"policy: cannot read {str(path)!r} ({exc.strerror}).") from None
        return Policy.from_yaml(text), text
    if isinstance(value, str):
        return Policy.from_yaml(value), value
    raise _fail("policy", "a Policy, a dict, YAML text or a .yaml file", type(value).__name__)

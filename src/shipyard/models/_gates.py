"""The promotion gates: one function per gate, and the report of a version's check.

Each gate reads what the registry holds about the version (its metrics, its evidence, its
training datasets) and answers one or more :class:`GateResult` (name, passed, detail). A
gate never skips silently: missing evidence is a failed gate that says what is missing.
``max_drop`` is the one heavy gate: it scores the version and the target's current holder
on the same dataset version (reusing an earlier "evaluation" record of the same data).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from shipyard.errors import Conflict
from shipyard.models._gates_eval import evaluate, recorded_value
from shipyard.models._policies import DROP_METRICS, ROLES, MaxDrop, Policy
from shipyard.models._types import Evidence, ModelVersion

__all__ = [
    "GATE_TABLE", "GateReport", "GateResult", "GatesFailed", "Inputs", "run_gates", "score_gates",
]  # fmt: skip


class GateResult(NamedTuple):
    """One gate's verdict: its name (``min_metric.auc``), whether it passed, and why."""

    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class GateReport:
    """What checking a version against its model's policy found.

    ``protected``: moving it to ``to`` is gated (False without a policy, or when the policy
    does not protect ``to``: the gates are then reported, not enforced).
    """

    ref: str
    to: str | None
    policy_version: int | None
    protected: bool
    results: tuple[GateResult, ...] = ()
    holder: str | None = None  # "churn@5": who holds ``to`` now
    holder_id: str | None = field(default=None, repr=False)

    @property
    def passed(self) -> bool:
        """Every gate passed."""
        return all(r.passed for r in self.results)

    @property
    def failed(self) -> list[GateResult]:
        return [r for r in self.results if not r.passed]

    def summary(self) -> str:
        """One line: the verdict and each failed gate."""
        if self.policy_version is None:
            return f"{self.ref}: no policy, nothing to check."
        where = f" for {self.to}" if self.to else ""
        if self.passed:
            return f"{self.ref}{where}: all {len(self.results)} gates passed."
        failed = "; ".join(f"{r.name}: {r.detail}" for r in self.failed)
        count = f"{len(self.failed)} of {len(self.results)}"
        return f"{self.ref}{where}: {count} gates failed: {failed}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "to": self.to,
            "policy_version": self.policy_version,
            "protected": self.protected,
            "passed": self.passed,
            "results": [r._asdict() for r in self.results],
            "holder": self.holder,
            "holder_id": self.holder_id,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GateReport:
        results = tuple(
            GateResult(str(r["name"]), bool(r["passed"]), str(r["detail"]))
            for r in data.get("results", ())
        )
        return cls(
            data["ref"],
            data.get("to"),
            data.get("policy_version"),
            bool(data.get("protected")),
            results,
            data.get("holder"),
            data.get("holder_id"),
        )


class GatesFailed(Conflict):
    """A move to a protected alias or stage refused: the gates that failed, one line.
    ``report`` holds every gate's verdict. Override with ``force=True`` and a reason."""

    def __init__(self, report: GateReport, message: str | None = None) -> None:
        self.report = report
        super().__init__(
            message
            or f"{report.summary()} (policy version {report.policy_version}). Fix them, or "
            "override with force=True and a reason (shipyard: --force --reason TEXT)."
        )


@dataclass(frozen=True)
class Inputs:
    """What a gate reads: the version, the policy, the target, its holder, the evidence."""

    version: ModelVersion
    policy: Policy
    to: str | None
    holder: ModelVersion | None
    evidence: Sequence[Evidence]
    record: Callable[[ModelVersion, Mapping[str, Any]], None] | None
    """Stores a new "evaluation"; None: a read-only check (``max_drop`` scores nothing)."""

    def newest(self, kind: str) -> Evidence | None:
        return next((e for e in self.evidence if e.kind == kind), None)


def _metric_value(inputs: Inputs, name: str) -> float | None:
    if name in inputs.version.metrics:
        return float(inputs.version.metrics[name])
    for item in inputs.evidence:
        entry = item.data.get("metrics", {}).get(name) if item.kind == "evaluation" else None
        if isinstance(entry, dict) and isinstance(entry.get("value"), int | float):
            return float(entry["value"])
    return None


def _limits(inputs: Inputs, gate: str, at_least: bool) -> list[GateResult]:
    out = []
    for name, limit in getattr(inputs.policy, gate).items():
        value = _metric_value(inputs, name)
        if value is None:
            out.append(GateResult(f"{gate}.{name}", False, f"no {name} recorded"))
            continue
        ok = value >= limit if at_least else value <= limit
        sign = (">=" if at_least else "<=") if ok else ("<" if at_least else ">")
        out.append(GateResult(f"{gate}.{name}", ok, f"{value:.4g} {sign} {limit:g}"))
    return out


def _scored(inputs: Inputs, version: ModelVersion, found: Sequence[Evidence]) -> float | None:
    drop = inputs.policy.max_drop
    assert drop is not None and not isinstance(drop, Mapping)
    from shipyard import data as datasets

    data = datasets.resolve(drop.data).ref
    value = recorded_value(found, data, drop.target, drop.metric)
    if value is None and inputs.record is not None:
        record = evaluate(version, data, drop.target, drop.metric)
        inputs.record(version, record)
        value = float(record["metrics"][drop.metric]["value"])
    return value


def _max_drop(inputs: Inputs) -> list[GateResult]:
    from shipyard.models._api import evidence

    drop = inputs.policy.max_drop
    assert drop is not None and not isinstance(drop, Mapping)
    mine = _scored(inputs, inputs.version, inputs.evidence)
    holder = inputs.holder
    if mine is not None and (holder is None or holder.id == inputs.version.id):
        who = "nobody holds it" if holder is None else "it holds it already"
        return [GateResult("max_drop", True, f"{drop.metric} {mine:.4g}; {who}")]
    theirs = None if holder is None else _scored(inputs, holder, evidence(holder.ref, "evaluation"))
    if mine is None or theirs is None or holder is None:
        unscored = inputs.version.ref if mine is None else str(holder and holder.ref)
        why = f"{unscored} not scored on {drop.data} yet (a read-only check scores nothing)"
        return [GateResult("max_drop", False, why)]
    higher = DROP_METRICS[drop.metric]
    lost = (theirs - mine) if higher else (mine - theirs)
    detail = (
        f"{drop.metric} {mine:.4g} against {holder.ref}'s {theirs:.4g} on {drop.data}: "
        f"{'a drop' if lost > 0 else 'a gain'} of {abs(lost):.4g} "
        f"({'within' if lost <= drop.by else 'beyond'} {drop.by:g})"
    )
    return [GateResult("max_drop", lost <= drop.by, detail)]


def _max_disparity(inputs: Inputs) -> list[GateResult]:
    found = inputs.newest("fairness")
    out = []
    for name, limit in inputs.policy.max_disparity.items():
        gate = f"max_disparity.{name}"
        value = None if found is None else (found.data.get("disparities") or {}).get(name)
        if found is None:
            out.append(GateResult(gate, False, "no fairness report recorded"))
        elif not isinstance(value, int | float):
            out.append(GateResult(gate, False, f"the fairness report has no {name}"))
        else:
            ok = value <= limit
            out.append(GateResult(gate, ok, f"{value:.4g} {'<=' if ok else '>'} {limit:g}"))
    return out


def _explanation(inputs: Inputs) -> list[GateResult]:
    found = inputs.newest("explanation")
    if found is None:
        return [GateResult("explanation", False, "no explanation recorded")]
    method, rows = found.data.get("method", "?"), found.data.get("rows", "?")
    return [GateResult("explanation", True, f"{method} on {rows} rows")]


def _data_validated(inputs: Inputs) -> list[GateResult]:
    from shipyard import data as datasets

    refs = inputs.version.datasets
    if not refs:
        return [GateResult("data_validated", False, "no training dataset recorded")]
    states = {ref: datasets.resolve(ref).checks for ref in refs}
    bad = [f"{ref} {state}" for ref, state in states.items() if state == "failed"]
    if bad:
        return [GateResult("data_validated", False, f"checks failed: {', '.join(bad)}")]
    said = ", ".join(f"{ref} {state}" for ref, state in states.items())
    return [GateResult("data_validated", True, said)]


def _card_complete(inputs: Inputs) -> list[GateResult]:
    found = inputs.newest("card")
    data = found.data if found is not None else {}
    missing = [k for k in ("intended_use", "limitations") if not str(data.get(k) or "").strip()]
    if missing:
        return [GateResult("card_complete", False, f"missing {' and '.join(missing)}")]
    return [GateResult("card_complete", True, "intended use and limitations written")]


def _approval(inputs: Inputs) -> list[GateResult]:
    need = inputs.policy.approval
    assert need is not None
    for item in inputs.evidence:
        if item.kind != "approval" or item.created_at < inputs.version.created_at:
            continue
        role, target = item.data.get("role"), item.data.get("for")
        high_enough = role in ROLES and ROLES.index(role) >= ROLES.index(need)
        if high_enough and target in (None, inputs.to):
            return [GateResult("approval", True, f"approved by {item.created_by} ({role})")]
    return [GateResult("approval", False, f"no approval by {need} or higher")]


GATE_TABLE: dict[str, Callable[[Inputs], list[GateResult]]] = {
    "min_metric": lambda i: _limits(i, "min_metric", True),
    "max_metric": lambda i: _limits(i, "max_metric", False),
    "max_drop": _max_drop,
    "max_disparity": _max_disparity,
    "explanation": _explanation,
    "data_validated": _data_validated,
    "card_complete": _card_complete,
    "approval": _approval,
}
"""Gate name -> the function that checks it (one entry per gate a policy may declare)."""


def run_gates(inputs: Inputs) -> tuple[GateResult, ...]:
    """Every gate the policy declares, in order."""
    out: list[GateResult] = []
    for name in inputs.policy.gates:
        out.extend(GATE_TABLE[name](inputs))
    return tuple(out)


def score_gates(
    policy: Policy, candidate: Mapping[str, float], incumbent: Mapping[str, float]
) -> tuple[GateResult, ...]:
    """The metric gates on given scores (``auc`` and ``holdout_auc`` match each other)."""

    def value(scores: Mapping[str, float], name: str) -> float | None:
        for key in (name, f"holdout_{name}", name.removeprefix("holdout_")):
            if key in scores:
                return float(scores[key])
        return None

    out: list[GateResult] = []
    for gate, at_least in (("min_metric", True), ("max_metric", False)):
        for name, limit in getattr(policy, gate).items():
            mine = value(candidate, name)
            if mine is None:
                out.append(GateResult(f"{gate}.{name}", False, f"no {name} scored"))
                continue
            ok = mine >= limit if at_least else mine <= limit
            sign = (">=" if at_least else "<=") if ok else ("<" if at_least else ">")
            out.append(GateResult(f"{gate}.{name}", ok, f"{mine:.4g} {sign} {limit:g}"))
    drop = policy.max_drop
    if isinstance(drop, MaxDrop):
        mine, theirs = value(candidate, drop.metric), value(incumbent, drop.metric)
        if mine is None or theirs is None:
            out.append(GateResult("max_drop", False, f"{drop.metric} not scored on both"))
        else:
            lost = (theirs - mine) if DROP_METRICS[drop.metric] else (mine - theirs)
            detail = f"{drop.metric} {mine:.4g} against {theirs:.4g}: a change of {-lost:+.4g}"
            out.append(GateResult("max_drop", lost <= drop.by, f"{detail} (at most -{drop.by:g})"))
    return tuple(out)

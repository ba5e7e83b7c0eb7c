"""Gated moves: policies, gate checks, approvals, and ``promote`` / ``set_alias`` that
refuse a protected target until the version passes its model's policy.

A move to an alias or stage the policy protects runs the gates first (the heavy part:
scoring for ``max_drop``), outside any transaction; the move's transaction then refuses if
the policy or the target's holder changed meanwhile. Failed gates raise
:class:`GatesFailed` (HTTP 409) naming each; ``force=True`` with a reason overrides them,
recording an "override" and an audit entry (through a server: the admin role). In remote
mode the server checks the gates (the client sends ``force`` and ``reason``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shipyard._refs import Ref, check_name, parse_ref
from shipyard.config import current_user
from shipyard.errors import Conflict, Forbidden, InvalidInput, NotFound
from shipyard.models._api import _store
from shipyard.models._backend import ModelBackend
from shipyard.models._gates import GateReport, GatesFailed, Inputs, run_gates, score_gates
from shipyard.models._http import HttpModelBackend
from shipyard.models._policies import ROLES, Policy, PolicyVersion, as_policy
from shipyard.models._policy_rows import Move
from shipyard.models._store import ModelStore, check_alias, check_stage
from shipyard.models._types import STAGES, Evidence, ModelVersion

__all__ = [
    "approve",
    "check",
    "check_scores",
    "check_with",
    "gated_move",
    "gated_rollback",
    "policies",
    "policy",
    "promote",
    "record_approval",
    "rollback",
    "set_alias",
    "set_policy",
]


# -- policies -------------------------------------------------------------------------------


def set_policy(name: str, policy: Policy | Mapping[str, Any] | str | Path) -> PolicyVersion:
    """Store ``policy`` (a :class:`Policy`, a dict, YAML text or a ``.yaml`` file) as the
    model's next policy version; it is in force from now on.

    Raises:
        InvalidInput: a malformed policy (the message names the field).
        NotFound: no such model.
    """
    check_name("Model", name)
    parsed, source = as_policy(policy)
    return _store().set_policy(name, parsed, source, current_user())


def policy(name: str, version: int | None = None) -> PolicyVersion | None:
    """The policy in force (or its version ``version``); None when the model has none."""
    check_name("Model", name)
    if version is not None and (
        isinstance(version, bool) or not isinstance(version, int) or not 1 <= version < 2**31
    ):
        raise InvalidInput(
            f"version: expected a policy version number (1 to 2,147,483,647), got {version!r}."
        )
    found = _store().policies(name, version)
    if version is not None and not found:
        raise NotFound(f"Model {name!r} has no policy version {version}.")
    return found[0] if found else None


def policies(name: str) -> list[PolicyVersion]:
    """Every policy version of a model, newest first."""
    check_name("Model", name)
    return _store().policies(name)


# -- checks -----------------------------------------------------------------------------------


def _exact(version: ModelVersion) -> Ref:
    return parse_ref("Model", version.ref)


def _holder(backend: ModelBackend, name: str, kind: str, to: str | None) -> ModelVersion | None:
    if to is None or (kind == "stage" and to != "production"):
        return None
    try:
        return backend.resolve(parse_ref("Model", f"{name}@{to}"))
    except NotFound:
        return None


def check_with(
    backend: ModelBackend,
    ref: Ref,
    to: str | None,
    kind: str | None = None,
    against: str | None = None,
    score: bool = True,
) -> GateReport:
    """The gate report of the version ``ref`` names for a move to ``to`` on a local
    backend (what the server runs for a remote client); ``against``: the version
    ``max_drop`` compares with instead of the target's holder; ``score=False``: read-only
    (``max_drop`` uses recorded evaluations only, failing when one is missing)."""
    version = backend.resolve(ref)
    found = backend.policies(ref.name)
    if not found:
        return GateReport(version.ref, to, None, False)
    current = found[0]
    kind = kind or ("stage" if to in STAGES else "alias")
    if against is not None:
        holder: ModelVersion | None = backend.resolve(parse_ref("Model", against))
    else:
        holder = _holder(backend, ref.name, kind, to)
    actor = current_user()

    def record(v: ModelVersion, data: Mapping[str, Any]) -> None:
        backend.add_evidence(_exact(v), "evaluation", data, actor)

    found_evidence = backend.evidence(_exact(version))
    inputs = Inputs(version, current.policy, to, holder, found_evidence, record if score else None)
    return GateReport(
        version.ref,
        to,
        current.version,
        current.policy.protects(to),
        run_gates(inputs),
        None if holder is None else holder.ref,
        None if holder is None else holder.id,
    )


def check(
    ref: str, to: str | None = None, *, against: str | None = None, score: bool = True
) -> GateReport:
    """Check the version ``ref`` names against its model's policy, for a move to ``to``
    (an alias or stage; None: every gate, as for any protected target). Moves nothing;
    ``max_drop`` records the "evaluation" it scores, against the version holding ``to``
    (or ``against``, e.g. the version a deployment serves now). ``score=False``: writes
    nothing (``max_drop`` reads recorded evaluations only; the model card's view)."""
    if not isinstance(score, bool):
        raise InvalidInput(f"score: expected true or false, got {score!r}.")
    parsed = parse_ref("Model", ref)
    backend = _store()
    if isinstance(backend, HttpModelBackend):
        return GateReport.from_dict(backend.check(parsed, to, against, score))
    return check_with(backend, parsed, to, against=against, score=score)


def check_scores(
    name: str, candidate: Mapping[str, float], incumbent: Mapping[str, float] | None = None
) -> GateReport:
    """The policy's metric gates on scores computed elsewhere, before a version exists
    (the retraining pipeline's holdout): ``min_metric`` and ``max_metric`` on
    ``candidate`` (a policy metric ``auc`` also matches ``holdout_auc``), ``max_drop`` on
    its metric against ``incumbent``'s. The other gates wait for the version."""
    found = policy(name)
    if found is None:
        return GateReport(f"{name} (candidate)", None, None, False)
    return GateReport(
        f"{name} (candidate)",
        None,
        found.version,
        True,
        score_gates(found.policy, candidate, incumbent or {}),
    )


# -- moves ----------------------------------------------------------------------------------


def gated_move(
    ref: Ref,
    kind: str,
    to: str,
    *,
    actor: str | None,
    reason: str | None,
    force: bool,
    role: str | None = None,
) -> ModelVersion:
    """Move the version ``ref`` names to alias or stage ``to`` if the policy lets it (or
    ``force`` with a reason overrides it; ``role``: the caller's, when a server asks)."""
    if not isinstance(force, bool):
        raise InvalidInput(f"force: expected true or false, got {force!r}.")
    if force and not (isinstance(reason, str) and reason.strip()):
        raise InvalidInput("reason: overriding the gates (force) needs a reason; none given.")
    check_alias(to) if kind == "alias" else check_stage(to)
    backend = _store()
    if isinstance(backend, HttpModelBackend):
        try:
            return backend.move(ref, Move(kind, to, actor, reason, force=force))
        except Conflict as exc:  # the server's GatesFailed: its report, for the caller
            if " gates failed: " not in str(exc):
                raise
            report = GateReport.from_dict(backend.check(ref, to))
            raise GatesFailed(report, str(exc)) from None
    found = backend.policies(ref.name)
    if not found or not found[0].policy.protects(to):
        number = found[0].version if found else None
        return backend.move(ref, Move(kind, to, actor, reason, checked=True, policy_version=number))
    report = check_with(backend, ref, to, kind)
    override = None
    if not report.passed:
        if not force:
            raise GatesFailed(report)
        if role is not None and role != "admin":
            raise Forbidden(f"force: overriding failed gates needs the admin role; you are {role}.")
        failed = [r.name for r in report.failed]
        override = {"to": to, "failed": failed, "reason": reason,
                    "policy_version": report.policy_version}  # fmt: skip
    move = Move(kind, to, actor, reason, force, True, report.policy_version, report.holder_id,
                guard_holder=True, override=override)  # fmt: skip
    return backend.move(parse_ref("Model", report.ref), move)


def gated_rollback(
    backend: ModelBackend, name: str, actor: str | None, reason: str | None
) -> tuple[int | None, int]:
    """Roll production back (see ``ModelStore.rollback``) if the version it puts back
    passes the policy in force when that protects ``production`` (else GatesFailed: an
    admin may override with ``promote --force --reason``); (from, to) numbers."""
    if not isinstance(backend, ModelStore):  # a server: it checks the gates itself
        return backend.rollback(name, actor, reason)
    target, target_id = backend.rollback_target(name)
    found = backend.policies(name)
    number = found[0].version if found else None
    if found and found[0].policy.protects("production"):
        report = check_with(backend, parse_ref("Model", f"{name}@{target}"), "production", "stage")
        if not report.passed:
            raise GatesFailed(
                report,
                f"Rollback: {report.summary()} (policy version {number}); "
                f"nothing moved. Fix them, or override: shipyard models promote {report.ref} "
                "--to production --force --reason TEXT.",
            )
    guard = Move("stage", "production", actor, reason, checked=True, policy_version=number,
                 holder=target_id)  # fmt: skip
    return backend.rollback(name, actor, reason, guard)


def rollback(name: str, *, reason: str | None = None) -> ModelVersion:
    """Put the previous production version back in production, in one step. A
    ``production`` stage the model's policy protects needs the version put back to pass
    the policy in force.

    Raises:
        Conflict: there is no earlier production version.
        GatesFailed: the version put back fails the policy's gates.
    """
    check_name("Model", name)
    _, target = gated_rollback(_store(), name, current_user(), reason)
    return _store().resolve(parse_ref("Model", f"{name}@{target}"))


def promote(
    ref: str, to: str = "production", *, reason: str | None = None, force: bool = False
) -> ModelVersion:
    """Move a version to a stage: ``staging``, ``production`` (the previous production
    version is archived in the same transaction), ``archived`` or ``none``.

    A stage the model's policy protects needs the policy's gates passed.

    Raises:
        GatesFailed: a gate failed (the message lists each); ``force=True`` with a
            ``reason`` overrides them, recording who and why.
        InvalidInput: ``force`` without a reason, or an unknown stage.
    """
    return gated_move(
        parse_ref("Model", ref), "stage", to, actor=current_user(), reason=reason, force=force
    )


def set_alias(
    ref: str, alias: str, *, reason: str | None = None, force: bool = False
) -> ModelVersion:
    """Point ``alias`` at the version ``ref`` names (``set_alias("churn@7", "champion")``).

    An alias the model's policy protects needs the policy's gates passed (see
    :func:`promote` for ``force`` and ``reason``).
    """
    return gated_move(
        parse_ref("Model", ref), "alias", alias, actor=current_user(), reason=reason, force=force
    )


# -- approvals ------------------------------------------------------------------------------


def record_approval(
    backend: ModelBackend,
    ref: Ref,
    role: str,
    comment: str | None,
    for_: str | None,
    actor: str | None,
) -> Evidence:
    """Record an "approval" by ``actor`` holding ``role`` (checked first)."""
    if role not in ROLES:
        raise InvalidInput(f"role: expected one of {', '.join(ROLES)}, got {role!r}.")
    if comment is not None and not isinstance(comment, str):
        raise InvalidInput(f"comment: expected text, got {type(comment).__name__}.")
    if for_ is not None and for_ not in STAGES:
        check_alias(for_)
    data = {"role": role, "comment": comment, "for": for_}
    return backend.add_evidence(ref, "approval", data, actor)


def approve(ref: str, *, comment: str | None = None, for_: str | None = None) -> Evidence:
    """Approve the version ``ref`` names (for alias or stage ``for_`` only, when given):
    the ``approval`` gate counts it when the approver's role is high enough. Locally the
    approver is the current user with the admin role (whoever holds the store may do
    anything); through a server, the signed-in user with their role."""
    parsed = parse_ref("Model", ref)
    backend = _store()
    if isinstance(backend, HttpModelBackend):
        if for_ is not None and for_ not in STAGES:
            check_alias(for_)
        return backend.approve(parsed, comment, for_, current_user())
    return record_approval(backend, parsed, "admin", comment, for_, current_user())

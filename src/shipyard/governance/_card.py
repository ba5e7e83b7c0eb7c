"""Model cards: everything known about one model version, gathered from the registry, the
tracking store, the datasets and the governance evidence, as Markdown or a self-contained
HTML page.

The card's user-written sections (intended use, limitations, ethical considerations, owners)
are recorded with :func:`set_card` as ``card`` evidence; each record holds every section (a
new one merges with the previous), so the newest record is the card's text. The rest is
read, never stored: a card is always as current as what it describes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from shipyard import data as datasets
from shipyard import models, tracking
from shipyard.errors import InvalidInput, ShipyardError
from shipyard.models import Evidence, ModelVersion

__all__ = ["CARD_FIELDS", "MAX_TEXT", "ModelCard", "card", "set_card"]

CARD_FIELDS = ("intended_use", "limitations", "ethical_considerations", "owners")
"""The user-written sections of a card, as :func:`set_card` takes them."""
REQUIRED = ("intended_use", "limitations")  # what the gate "card_complete" asks for
MAX_TEXT = 20_000  # characters of one section
TOP_FEATURES = 10
PROFILE_COLUMNS = 40  # columns of a dataset's profile summarised on a card
SENSITIVE_TAG = "sensitive"  # tag on a dataset or model version: comma-separated columns


@dataclass(frozen=True)
class ModelCard:
    """A model version's card. Every section is plain JSON data (``to_dict``); sections
    with nothing recorded are empty (``None``, ``[]`` or ``{}``), and :attr:`missing` names
    what a complete card still lacks.

    Example:
        >>> c = sy.governance.card("churn@7")  # doctest: +SKIP
        >>> print(c.markdown())                 # doctest: +SKIP
    """

    model: str
    version: int
    stage: str
    aliases: tuple[str, ...]
    description: str | None
    created_at: float
    created_by: str | None
    flavor: str
    intended_use: str | None = None
    limitations: str | None = None
    ethical_considerations: str | None = None
    owners: str | None = None
    data: list[dict[str, Any]] = field(default_factory=list)
    sensitive: list[str] = field(default_factory=list)
    training: dict[str, Any] = field(default_factory=dict)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    fairness: dict[str, Any] | None = None
    mitigation: dict[str, Any] | None = None
    explanation: dict[str, Any] | None = None
    gates: dict[str, Any] = field(default_factory=dict)
    approvals: list[dict[str, Any]] = field(default_factory=list)
    overrides: list[dict[str, Any]] = field(default_factory=list)
    lineage: dict[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        """``name@version``."""
        return f"{self.model}@{self.version}"

    @property
    def missing(self) -> list[str]:
        """The required user-written sections still empty (``intended_use``,
        ``limitations``): what the ``card_complete`` gate checks."""
        return [name for name in REQUIRED if not (getattr(self, name) or "").strip()]

    @property
    def complete(self) -> bool:
        """Whether intended use and limitations are written."""
        return not self.missing

    def to_dict(self) -> dict[str, Any]:
        """The card as JSON data (with ``ref``, ``complete`` and ``missing``)."""
        found = asdict(self)
        found["aliases"] = list(self.aliases)
        return {"ref": self.ref, "complete": self.complete, "missing": self.missing, **found}

    def markdown(self) -> str:
        """The card as Markdown."""
        from shipyard.governance._card_text import markdown

        return markdown(self)

    def html(self, *, fragment: bool = False) -> str:
        """The card as one self-contained HTML page (inline style and SVG charts, no
        script, nothing fetched): it opens offline, from a file or an e-mail.
        ``fragment``: only the sections, in a ``<div class="model-card">`` (for embedding
        in a page that styles it, as the web UI does). Every text is escaped."""
        from shipyard.governance._card_html import body, html

        return f'<div class="model-card">{body(self)}</div>' if fragment else html(self)


def card(ref: str, *, to: str | None = None, check: bool = True) -> ModelCard:
    """The card of the version ``ref`` names (``"churn@7"``, ``"churn@champion"``).

    Args:
        ref: a model version reference.
        to: report the promotion gates of a move of this version to this alias or stage;
            None: every gate of the model's policy.
        check: False leaves the gates out (checking may score models on a dataset).

    Raises:
        NotFound: no such model or version.
    """
    version = models.get(ref)
    records = models.evidence(version.ref)
    newest: dict[str, Evidence] = {}
    for record in records:  # newest first
        newest.setdefault(record.kind, record)
    text = _sections(newest.get("card"))
    run = _run(version.run_id)
    data = _data(version, run)
    fairness = _data_of(newest.get("fairness"))
    return ModelCard(
        model=version.name,
        version=version.version,
        stage=version.stage,
        aliases=tuple(version.aliases),
        description=version.description,
        created_at=version.created_at,
        created_by=version.created_by,
        flavor=version.flavor,
        **text,
        data=data,
        sensitive=_sensitive(version, data, fairness),
        training=_training(version, run),
        metrics=_metrics(version, newest.get("evaluation")),
        fairness=fairness,
        mitigation=_data_of(newest.get("mitigation")),
        explanation=_explanation(newest.get("explanation")),
        gates=_gates(version, to) if check else {"to": to, "checked": False},
        approvals=[_record(e) for e in records if e.kind == "approval"],
        overrides=[_record(e) for e in records if e.kind == "override"],
        lineage=_lineage(version, run, data, newest.get("mitigation")),
    )


def set_card(
    ref: str,
    *,
    intended_use: str | None = None,
    limitations: str | None = None,
    ethical_considerations: str | None = None,
    owners: str | None = None,
) -> Evidence:
    """Write sections of the card of the version ``ref`` names; the sections not given
    keep their text, an empty string clears one. Recorded as ``card`` evidence (with an
    audit entry).

    Raises:
        InvalidInput: no section given, or one that is not text or is longer than
            :data:`MAX_TEXT` characters.
        NotFound: no such version.
    """
    given = {
        "intended_use": intended_use,
        "limitations": limitations,
        "ethical_considerations": ethical_considerations,
        "owners": owners,
    }
    changes = {name: _text(name, value) for name, value in given.items() if value is not None}
    if not changes:
        raise InvalidInput(
            "card: expected at least one of intended_use, limitations, "
            "ethical_considerations, owners."
        )
    version = models.get(ref)
    previous = models.evidence(version.ref, "card")
    merged = _sections(previous[0] if previous else None)
    merged.update(changes)
    body: dict[str, Any] = {
        "intended_use": merged["intended_use"] or "",
        "limitations": merged["limitations"] or "",
        "ethical_considerations": merged["ethical_considerations"] or None,
        "owners": merged["owners"] or None,
    }
    return models.record_evidence(version.ref, "card", body)


def _text(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{name}: expected text, got {type(value).__name__}.")
    text = value.strip()
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"{name}: {len(text):,} characters; at most {MAX_TEXT:,}.")
    return text


def _sections(record: Evidence | None) -> dict[str, str | None]:
    found = record.data if record is not None else {}
    return {
        name: (str(found[name]).strip() or None) if found.get(name) is not None else None
        for name in CARD_FIELDS
    }


def _data_of(record: Evidence | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {**record.data, "recorded_at": record.created_at, "recorded_by": record.created_by}


def _record(record: Evidence) -> dict[str, Any]:
    return {**record.data, "recorded_at": record.created_at, "recorded_by": record.created_by}


def _run(run_id: str | None) -> Any:
    if not run_id:
        return None
    with contextlib.suppress(ShipyardError):
        return tracking.get_run(run_id)
    return None


# -- data -------------------------------------------------------------------------------


def _data(version: ModelVersion, run: Any) -> list[dict[str, Any]]:
    """The dataset versions the model was trained on (and its run read): size, checks,
    tags and a summary of every column's profile."""
    refs = list(version.datasets)
    if run is not None:
        with contextlib.suppress(ShipyardError):
            refs += [d.ref for d in datasets.run_inputs(run.info.id) if d.ref not in refs]
    found = []
    for ref in refs:
        try:
            dataset = datasets.get(ref)
        except ShipyardError:
            found.append({"ref": ref, "missing": True})
            continue
        found.append(
            {
                "ref": dataset.ref,
                "rows": dataset.rows,
                "columns": dataset.columns,
                "checks": dataset.checks,
                "tags": dict(dataset.tags),
                "description": dataset.description,
                "profile": _profile(dataset),
            }
        )
    return found


def _profile(dataset: Any) -> list[dict[str, Any]]:
    """One line per column (the first :data:`PROFILE_COLUMNS`): kind, missing share,
    distinct values, and mean and range, or the most frequent values."""
    try:
        profile = dataset.profile()
    except (ShipyardError, OSError):
        return []
    rows = max(int(profile.rows), 1)
    summary = []
    for column in profile.columns[:PROFILE_COLUMNS]:
        line: dict[str, Any] = {
            "name": column.name,
            "kind": column.kind,
            "missing": column.missing / rows,
            "distinct": column.distinct,
        }
        if column.kind == "numeric":
            line.update(mean=column.mean, min=column.min, max=column.max)
        elif column.top:
            line["top"] = [str(value) for value, _ in column.top[:3]]
        summary.append(line)
    return summary


def _sensitive(
    version: ModelVersion, data: Sequence[Mapping[str, Any]], fairness: Mapping[str, Any] | None
) -> list[str]:
    """The sensitive attributes declared on the version, its datasets or the fairness
    report, in that order, each once."""
    found: list[str] = []
    tags = [version.tags.get(SENSITIVE_TAG)] + [d.get("tags", {}).get(SENSITIVE_TAG) for d in data]
    declared = [c.strip() for t in tags if t for c in str(t).split(",")]
    for name in [*declared, *((fairness or {}).get("sensitive") or [])]:
        if name and str(name) not in found:
            found.append(str(name))
    return found


# -- training, metrics, explanation, gates, lineage -------------------------------------


def _training(version: ModelVersion, run: Any) -> dict[str, Any]:
    signature = version.signature
    found: dict[str, Any] = {
        "flavor": version.flavor,
        "task": signature.task if signature else None,
        "target": signature.target if signature else None,
        "inputs": [c.name for c in signature.inputs] if signature else [],
        "code_version": version.source_commit,
        "python": version.environment.get("python"),
        "packages": dict(version.environment.get("packages") or {}),
        "run": None,
        "params": {},
    }
    if run is not None:
        info = run.info
        found["run"] = {
            "id": info.id,
            "name": info.name,
            "experiment": run.experiment,
            "status": info.status,
            "started": info.start_time,
            "duration": info.duration,
            "entry_point": info.entry_point,
            "dirty": info.source_dirty,
        }
        found["params"] = dict(run.params)
        found["code_version"] = found["code_version"] or info.source_commit
    return found


def _metrics(version: ModelVersion, evaluation: Evidence | None) -> list[dict[str, Any]]:
    """The evaluation's metrics with their confidence intervals (when one was recorded),
    then the metrics recorded at registration."""
    rows: list[dict[str, Any]] = []
    if evaluation is not None:
        on = evaluation.data.get("data")
        for name, found in sorted((evaluation.data.get("metrics") or {}).items()):
            found = found if isinstance(found, Mapping) else {"value": found}
            rows.append(
                {
                    "name": name,
                    "value": found.get("value"),
                    "low": found.get("low"),
                    "high": found.get("high"),
                    "data": on,
                    "rows": evaluation.data.get("rows"),
                    "source": "evaluation",
                }
            )
    for name, value in sorted(version.metrics.items()):
        rows.append(
            {"name": name, "value": value, "low": None, "high": None, "data": None}
            | {"rows": None, "source": "registration"}
        )
    return rows


def _explanation(record: Evidence | None) -> dict[str, Any] | None:
    """The newest explanation with its features ranked by mean |SHAP| (``top``)."""
    found = _data_of(record)
    if found is None:
        return None
    shap = found.get("mean_abs_shap") or {}
    ranked = sorted(shap.items(), key=lambda item: -abs(float(item[1] or 0.0)))
    found["top"] = [{"feature": f, "mean_abs_shap": v} for f, v in ranked[:TOP_FEATURES]]
    return found


def _gates(version: ModelVersion, to: str | None) -> dict[str, Any]:
    """The policy's gates for moving the version to ``to`` (every gate when None): each
    with whether it passed, and the policy's version (None: the model has no policy)."""
    try:
        report = models.check(version.ref, to=to, score=False)  # a card view writes nothing
    except ShipyardError as error:
        return {"to": to, "checked": False, "note": str(error)}
    results = [{"name": r.name, "passed": r.passed, "detail": r.detail} for r in report.results]
    found: dict[str, Any] = {"to": to, "checked": True, "passed": report.passed, "results": results}
    found["policy_version"] = report.policy_version
    found["protected"] = report.protected
    if report.policy_version is None:
        found["note"] = "the model has no policy"
    return found


def _lineage(
    version: ModelVersion,
    run: Any,
    data: Sequence[Mapping[str, Any]],
    mitigation: Evidence | None,
) -> dict[str, Any]:
    events = []
    with contextlib.suppress(ShipyardError):
        events = [
            {
                "at": e.at,
                "kind": e.kind,
                "before": e.before,
                "after": e.after,
                "actor": e.actor,
                "reason": e.reason,
            }
            for e in reversed(models.history(version.name))
            if e.version == version.version
        ]
    return {
        "datasets": [d["ref"] for d in data],
        "run": run.info.id if run is not None else version.run_id,
        "parent_run": run.info.parent_id if run is not None else None,
        "derived_from": (mitigation.data.get("from") if mitigation is not None else None),
        "events": events,
    }

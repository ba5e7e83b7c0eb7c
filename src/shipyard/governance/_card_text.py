"""A model card as a list of blocks (headings, paragraphs, facts, tables, bar charts), and
those blocks as Markdown. ``_card_html`` renders the same blocks as an HTML page, so both
forms always say the same things in the same order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shipyard.governance._card_blocks import (
    Bars,
    Block,
    Facts,
    Heading,
    Para,
    Table,
    interval,
    num,
    when,
)

# A card is typed ``ModelCard`` in spirit: ``_card`` imports this module, so the type is not
# imported back (modules of one package never import each other both ways).
ModelCard = Any

__all__ = ["blocks", "group_label", "markdown"]

GROUP_METRICS = ("selection_rate", "true_positive_rate", "false_positive_rate", "accuracy", "error")


def _user(text: str | None, name: str, ref: str, option: str) -> Para:
    if text:
        return Para(text, user=True)
    return Para(f'Not written yet: shipyard models card-set {ref} --{option} "..."', muted=True)


def blocks(card: ModelCard) -> list[Block]:
    """The card's sections in order."""
    ref = card.ref
    found: list[Block] = [Heading(f"Model card: {ref}", 1)]
    if card.description:
        found.append(Para(card.description, user=True))
    status = "complete" if card.complete else "incomplete: " + ", ".join(card.missing) + " missing"
    found.append(
        Facts(
            (
                ("Model", card.model),
                ("Version", str(card.version)),
                ("Stage", card.stage),
                ("Aliases", ", ".join("@" + a for a in card.aliases) or "–"),
                ("Flavor", card.flavor),
                (
                    "Registered",
                    when(card.created_at) + (f" by {card.created_by}" if card.created_by else ""),
                ),
                ("Card", status),
            )
        )
    )
    found += [
        Heading("Intended use", anchor="intended-use"),
        _user(card.intended_use, "intended_use", ref, "intended-use"),
    ]
    found += _data(card)
    found += _training(card)
    found += _metrics(card)
    found += _fairness(card)
    found += _explanation(card)
    found += [
        Heading("Limitations", anchor="limitations"),
        _user(card.limitations, "limitations", ref, "limitations"),
        Heading("Ethical considerations", anchor="ethical-considerations"),
        _user(card.ethical_considerations, "ethical_considerations", ref, "ethical-considerations"),
        Heading("Owners", anchor="owners"),
        _user(card.owners, "owners", ref, "owners"),
    ]
    found += _gates(card)
    found += _lineage(card)
    return found


def _data(card: ModelCard) -> list[Block]:
    found: list[Block] = [Heading("Data", anchor="data")]
    if card.sensitive:
        found.append(Facts((("Sensitive attributes", ", ".join(card.sensitive)),)))
    if not card.data:
        return [*found, Para("No dataset versions recorded with this version.", muted=True)]
    for dataset in card.data:
        found.append(Heading(dataset["ref"], 3))
        if dataset.get("missing"):
            found.append(Para("This dataset version was deleted.", muted=True))
            continue
        found.append(
            Facts(
                (
                    ("Rows", num(dataset["rows"])),
                    ("Columns", num(dataset["columns"])),
                    ("Checks", str(dataset["checks"])),
                )
            )
        )
        profile = dataset.get("profile") or []
        if profile:
            rows = tuple(
                (c["name"], c["kind"], f"{c['missing']:.1%}", num(c.get("distinct")), _summary(c))
                for c in profile
            )
            found.append(Table(("Column", "Kind", "Missing", "Distinct", "Summary"), rows))
    return found


def _summary(column: Mapping[str, Any]) -> str:
    if column.get("kind") == "numeric":
        return (
            f"mean {num(column.get('mean'))}, {num(column.get('min'))} to {num(column.get('max'))}"
        )
    return ", ".join(column.get("top") or [])


def _training(card: ModelCard) -> list[Block]:
    t = card.training
    run = t.get("run")
    pairs = [
        ("Task", str(t.get("task") or "–")),
        ("Target", str(t.get("target") or "–")),
        ("Inputs", f"{len(t.get('inputs') or [])} columns"),
        (
            "Code version",
            str(t.get("code_version") or "–")
            + (" (uncommitted changes)" if run and run.get("dirty") else ""),
        ),
        ("Python", str(t.get("python") or "–")),
    ]
    if run:
        pairs.append(
            (
                "Run",
                f"{run['name'] or run['id']} ({run['id'][:8]}, experiment {run['experiment']}, "
                f"{run['status']})",
            )
        )
        if run.get("entry_point"):
            pairs.append(("Entry point", str(run["entry_point"])))
    packages = t.get("packages") or {}
    if packages:
        pairs.append(("Packages", ", ".join(f"{p} {v}" for p, v in sorted(packages.items()))))
    found: list[Block] = [Heading("Training", anchor="training"), Facts(tuple(pairs))]
    params = t.get("params") or {}
    if params:
        found.append(
            Table(("Parameter", "Value"), tuple((k, str(v)) for k, v in sorted(params.items())))
        )
    elif not run:
        found.append(Para("Registered without a run: no parameters recorded.", muted=True))
    return found


def _metrics(card: ModelCard) -> list[Block]:
    found: list[Block] = [Heading("Metrics", anchor="metrics")]
    if not card.metrics:
        return [*found, Para("No metrics recorded.", muted=True)]
    rows = tuple(
        (
            m["name"],
            num(m["value"]),
            interval(m["low"], m["high"]),
            str(m["data"] or "–"),
            m["source"],
        )
        for m in card.metrics
    )
    found.append(Table(("Metric", "Value", "Confidence interval", "Data", "Source"), rows))
    evaluated = [m for m in card.metrics if m["source"] == "evaluation" and m["value"] is not None]
    if evaluated:
        found.append(
            Bars(
                "Evaluation metrics with confidence intervals",
                tuple(m["name"] for m in evaluated),
                tuple(float(m["value"]) for m in evaluated),
                tuple(
                    (float(m["low"]), float(m["high"]))
                    if m["low"] is not None and m["high"] is not None
                    else None
                    for m in evaluated
                ),
            )
        )
    return found


def group_label(group: Mapping[str, Any]) -> str:
    """``region=north, sex=f``."""
    return ", ".join(f"{k}={v}" for k, v in group.items())


def _fairness(card: ModelCard) -> list[Block]:
    found: list[Block] = [Heading("Fairness", anchor="fairness")]
    report = card.fairness
    if not report:
        return [
            *found,
            Para(
                "No fairness report recorded: shipyard models fairness "
                + card.ref
                + " --data ... --target ...",
                muted=True,
            ),
        ]
    found.append(
        Facts(
            (
                ("Data", str(report.get("data") or "–")),
                ("Target", str(report.get("target") or "–")),
                ("Sensitive attributes", ", ".join(report.get("sensitive") or []) or "–"),
                ("Rows", num(report.get("rows"))),
                ("Confidence", num(report.get("confidence"))),
                ("Smallest group reported", num(report.get("min_group_size"))),
            )
        )
    )
    groups = report.get("groups") or []
    keys = [k for k in GROUP_METRICS if any(k in (g.get("metrics") or {}) for g in groups)]
    if groups:
        rows = []
        for g in groups:
            cells = [
                group_label(g.get("group") or {}),
                num(g.get("count")) + (" (small)" if g.get("small") else ""),
            ]
            for k in keys:
                m = (g.get("metrics") or {}).get(k) or {}
                cells.append(f"{num(m.get('value'))} {interval(m.get('low'), m.get('high'))}")
            rows.append(tuple(cells))
        headers = ("Group", "Count", *(k.replace("_", " ") for k in keys))
        found.append(
            Table(headers, tuple(rows), tuple("warn" if g.get("small") else "" for g in groups))
        )
        if "selection_rate" in keys or "error" in keys:
            key = "selection_rate" if "selection_rate" in keys else "error"
            shown = [
                g
                for g in groups
                if ((g.get("metrics") or {}).get(key) or {}).get("value") is not None
            ]
            found.append(
                Bars(
                    key.replace("_", " ").capitalize() + " per group",
                    tuple(group_label(g["group"]) for g in shown),
                    tuple(float(g["metrics"][key]["value"]) for g in shown),
                    tuple(_range(g["metrics"][key]) for g in shown),
                )
            )
    disparities = report.get("disparities") or {}
    if disparities:
        found.append(
            Table(
                ("Disparity", "Value"),
                tuple((k.replace("_", " "), num(v)) for k, v in disparities.items()),
            )
        )
    for note in report.get("notes") or []:
        found.append(Para(str(note), muted=True))
    if card.mitigation:
        found += _mitigation(card.mitigation)
    return found


def _range(metric: Mapping[str, Any]) -> tuple[float, float] | None:
    low, high = metric.get("low"), metric.get("high")
    return None if low is None or high is None else (float(low), float(high))


def _mitigation(m: Mapping[str, Any]) -> list[Block]:
    before, after = m.get("before") or {}, m.get("after") or {}
    rows = tuple(
        (k.replace("_", " "), num(before.get(k)), num(after.get(k)))
        for k in sorted(set(before) | set(after))
    )
    return [
        Heading("Mitigation", 3),
        Para(
            f"Made from {m.get('from') or '–'} by {m.get('method') or '–'} under the "
            f"{str(m.get('constraint') or '–').replace('_', ' ')} constraint, "
            f"on {m.get('data') or '–'}."
        ),
        Table(("Measure", "Before", "After"), rows),
    ]


def _explanation(card: ModelCard) -> list[Block]:
    found: list[Block] = [Heading("Explanations", anchor="explanations")]
    e = card.explanation
    if not e:
        return [
            *found,
            Para("No explanation recorded: shipyard models explain " + card.ref, muted=True),
        ]
    found.append(
        Facts(
            (
                ("Method", str(e.get("method") or "–")),
                ("Output explained", str(e.get("output") or "–")),
                ("Data", f"{e.get('data') or '–'} ({num(e.get('rows'))} rows)"),
                ("Base value", _base(e.get("base_value"))),
            )
        )
    )
    if e.get("note"):
        found.append(Para(str(e["note"]), muted=True))
    permutation = e.get("permutation") or {}
    top = e.get("top") or []
    if top:
        rows = tuple(
            (t["feature"], num(t["mean_abs_shap"]), _perm(permutation.get(t["feature"])))
            for t in top
        )
        heading = (
            f"Permutation importance ({e.get('scoring')})"
            if e.get("scoring")
            else "Permutation importance"
        )
        found.append(Table(("Feature", "Mean |SHAP|", heading), rows))
        found.append(
            Bars(
                "Mean |SHAP| per feature",
                tuple(t["feature"] for t in top),
                tuple(float(t["mean_abs_shap"] or 0) for t in top),
            )
        )
    return found


def _base(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(num(v) for v in value)
    return num(value)


def _perm(found: Mapping[str, Any] | None) -> str:
    if not found:
        return "–"
    return f"{num(found.get('mean'))} ± {num(found.get('std'))}"


def _gates(card: ModelCard) -> list[Block]:
    gates = card.gates
    to = gates.get("to")
    found: list[Block] = [Heading("Gates" + (f" (for {to})" if to else ""), anchor="gates")]
    if not gates.get("checked") or gates.get("note"):
        said = "Not checked" if not gates.get("checked") else "Nothing to check"
        found.append(Para(said + (f": {gates['note']}." if gates.get("note") else "."), muted=True))
    else:
        verdict = "All gates pass" if gates.get("passed") else "Some gates fail"
        if gates.get("policy_version") is not None:
            verdict += f" (policy version {gates['policy_version']}"
            if to and gates.get("protected") is False:
                verdict += f"; {to} is not protected: reported, not enforced"
            verdict += ")"
        found.append(Para(verdict + "."))
        results = gates.get("results") or []
        if results:
            rows = tuple(
                (r["name"], "passed" if r["passed"] else "failed", str(r["detail"]))
                for r in results
            )
            found.append(
                Table(
                    ("Gate", "Result", "Detail"),
                    rows,
                    tuple("ok" if r["passed"] else "bad" for r in results),
                )
            )
    if card.approvals:
        approved = tuple(
            (
                str(a.get("recorded_by") or "–"),
                str(a.get("role") or "–"),
                str(a.get("for") or "any"),
                when(a.get("recorded_at")),
                str(a.get("comment") or ""),
            )
            for a in card.approvals
        )
        found += [
            Heading("Approvals", 3),
            Table(("By", "Role", "For", "When", "Comment"), approved),
        ]
    if card.overrides:
        overridden = tuple(
            (
                str(o.get("recorded_by") or "–"),
                str(o.get("to") or "–"),
                ", ".join(o.get("failed") or []),
                when(o.get("recorded_at")),
                str(o.get("reason") or ""),
            )
            for o in card.overrides
        )
        found += [
            Heading("Overrides", 3),
            Table(
                ("By", "To", "Failed gates", "When", "Reason"),
                overridden,
                tuple("warn" for _ in overridden),
            ),
        ]
    return found


def _lineage(card: ModelCard) -> list[Block]:
    lineage = card.lineage
    pairs = [
        ("Datasets", ", ".join(lineage.get("datasets") or []) or "–"),
        ("Run", str(lineage.get("run") or "–")),
    ]
    if lineage.get("parent_run"):
        pairs.append(("Parent run", str(lineage["parent_run"])))
    if lineage.get("derived_from"):
        pairs.append(("Derived from", str(lineage["derived_from"])))
    found: list[Block] = [Heading("Lineage", anchor="lineage"), Facts(tuple(pairs))]
    events = lineage.get("events") or []
    if events:
        rows = tuple(
            (
                when(e["at"]),
                e["kind"],
                _move(e),
                str(e.get("actor") or "–"),
                str(e.get("reason") or ""),
            )
            for e in events
        )
        found.append(Table(("When", "Event", "Change", "By", "Reason"), rows))
    return found


def _move(event: Mapping[str, Any]) -> str:
    before, after = event.get("before"), event.get("after")
    if before and after:
        return f"{before} → {after}"
    return str(after or before or "")


# -- Markdown ---------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(_cell(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def markdown(card: ModelCard) -> str:
    """The card as Markdown (bar charts are left out: their numbers are in the tables)."""
    parts: list[str] = []
    for block in blocks(card):
        if isinstance(block, Heading):
            parts.append("#" * block.level + " " + block.text)
        elif isinstance(block, Para):
            parts.append(block.text if block.user or not block.muted else f"_{block.text}_")
        elif isinstance(block, Facts):
            parts.append("\n".join(f"- **{k}**: {v}" for k, v in block.pairs))
        elif isinstance(block, Table):
            parts.append(_md_table(block.headers, block.rows))
    return "\n\n".join(parts) + "\n"

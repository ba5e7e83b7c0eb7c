"""``shipyard models fairness`` and ``shipyard models mitigate``: group metrics and
disparities of a version on a dataset version, and a fairness-constrained candidate."""

from __future__ import annotations

from typing import Any

import typer

from shipyard.cli._common import (
    MAX_SEED,
    console,
    float_option,
    handle_errors,
    int_option,
    number,
    print_json,
    table,
)

__all__ = ["fairness_cmd", "mitigate_cmd"]

REF = typer.Argument(..., help="The model version: churn@7, churn@champion.")
DATA = typer.Option(..., "--data", "-d", help="The dataset version (loans@3).")
TARGET = typer.Option(..., "--target", "-t", help="The column with the true labels.")
SENSITIVE = typer.Option(
    None,
    "--sensitive",
    "-s",
    help="A sensitive column (repeat for intersections); default: the declared 'sensitive' tag.",
)
JSON = typer.Option(False, "--json", help="Print JSON for scripts.")


@handle_errors
def fairness_cmd(
    ref: str = REF,
    data: str = DATA,
    target: str = TARGET,
    sensitive: list[str] = SENSITIVE,
    confidence: float = float_option(
        0.95, "--confidence", low=0.0, high=1.0, above=True, help="Interval level (0-1)."
    ),
    min_group_size: int = int_option(
        30, "--min-group-size", help="Groups with fewer rows are marked small (still shown)."
    ),
    boot: int = int_option(
        100, "--boot", low=0, help="Bootstrap resamples for the intervals (0: none)."
    ),
    seed: int = int_option(0, "--seed", low=0, high=MAX_SEED, help="Bootstrap random state."),
    no_record: bool = typer.Option(
        False, "--no-record", help="Do not record the report as the version's evidence."
    ),
    as_json: bool = JSON,
) -> None:
    """Group metrics with confidence intervals and disparities (through Fairlearn), recorded
    as the version's fairness evidence."""
    from shipyard import governance

    report = governance.fairness(
        ref,
        data,
        target=target,
        sensitive=sensitive or None,
        confidence=confidence,
        min_group_size=min_group_size,
        boot=boot,
        seed=seed,
        record=not no_record,
    )
    if as_json:
        print_json(report.to_dict())
        return
    names = report.metrics
    rows = [
        [g.label, g.count, "yes" if g.small else "", *(_cell(g.metrics[n]) for n in names)]
        for g in report.groups
    ]
    title = (
        f"Fairness of {report.model} on {report.data} by {', '.join(report.sensitive)} "
        f"({report.rows:,} rows, {report.confidence:.0%} intervals)"
    )
    console.print(table(title, ["group", "rows", "small", *names], rows, 1))
    for name, value in report.disparities.items():
        console.print(f"  {name:<32} {number(value, 4) if value is not None else 'undefined'}")
    for note in report.notes:
        console.print(f"  note: {note}", soft_wrap=True)


@handle_errors
def mitigate_cmd(
    ref: str = REF,
    data: str = DATA,
    target: str = TARGET,
    sensitive: list[str] = SENSITIVE,
    method: str = typer.Option(
        "threshold_optimizer",
        "--method",
        help="threshold_optimizer (keeps the model) or exponentiated_gradient (refits it).",
    ),
    constraint: str = typer.Option(
        "demographic_parity", "--constraint", help="demographic_parity or equalized_odds."
    ),
    evaluate_on: str = typer.Option(
        None, "--evaluate-on", help="A held-out dataset version to measure on (default: --data)."
    ),
    seed: int = int_option(0, "--seed", low=0, high=MAX_SEED, help="Prediction random state."),
    as_json: bool = JSON,
) -> None:
    """Register a fairness-constrained candidate version (never promoted) and record its
    accuracy/disparity trade-off."""
    from shipyard import governance, models

    new = governance.mitigate(
        ref,
        data,
        target=target,
        sensitive=sensitive or None,
        method=method,
        constraint=constraint,
        evaluate_on=evaluate_on,
        seed=seed,
    )
    record = models.evidence(new.ref, "mitigation")[0].data
    if as_json:
        print_json({"ref": new.ref, **record})
        return
    before, after = record["before"], record["after"]
    rows = [[k, _num(before.get(k)), _num(after.get(k))] for k in after]
    console.print(
        table(f"Registered {new.ref} ({method}, {constraint})", ["", "before", "after"], rows, 1)
    )


def _cell(metric: Any) -> str:
    if metric.value is None:
        return "-"
    if metric.low is None or metric.high is None:
        return number(metric.value, 3)
    return f"{number(metric.value, 3)} [{number(metric.low, 3)}, {number(metric.high, 3)}]"


def _num(value: float | None) -> str:
    return "-" if value is None else number(value, 4)

"""``shipyard automl``: search model families within a time budget, with live progress."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import typer
from rich.live import Live
from rich.text import Text

from shipyard._refs import check_name
from shipyard.automl import FAMILIES
from shipyard.cli._common import (
    MAX_SEED,
    console,
    file_option,
    float_option,
    handle_errors,
    int_option,
    number,
    print_json,
    table,
)

FAMILY_HELP = f"Model families to search: {', '.join(FAMILIES)}."
HTML = file_option("--html", help="Write the leaderboard chart and table to this HTML file.")


@handle_errors
def automl_cmd(
    dataset: str = typer.Option(..., "--dataset", "-d", help="Dataset version, e.g. loans@3."),
    target: str = typer.Option(..., "--target", "-t", help="Column to predict."),
    time_budget: float = float_option(
        60.0, "--time-budget", low=0, above=True, help="Seconds for the search."
    ),
    trials: int = int_option(None, "--trials", help="Stop after this many trials."),
    metric: str = typer.Option(None, "--metric", help="auc, accuracy, f1, log_loss, rmse..."),
    family: list[str] = typer.Option(None, "--family", help=FAMILY_HELP),
    folds: int = int_option(3, "--folds", low=2, high=1_000, help="Cross-validation folds."),
    sampler: str = typer.Option("tpe", "--sampler", help="tpe, random or grid."),
    presets: str = typer.Option(
        "best", "--presets", help="best (an ensemble when it scores better) or fast (one model)."
    ),
    ensemble: int = int_option(
        None,
        "--ensemble",
        low=0,
        high=1_000,
        help="At most this many distinct trials in the ensemble (0: none; default: the preset's).",
    ),
    drop: list[str] = typer.Option(None, "--drop", help="Columns that are not features."),
    seed: int = int_option(0, "--seed", low=0, high=MAX_SEED, help="Random seed."),
    register: str = typer.Option(None, "--register", help="Register the best under this name."),
    html: Path = HTML,
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Search model families and hyper-parameters; print the leaderboard."""
    if register is not None:
        check_name("Model", register)  # before the search: a refused name leaves no run
    from shipyard.automl import automl as search

    status = Text("starting")
    with Live(status, console=console, transient=True, refresh_per_second=4) as live:

        def progress(done: int, best: float | None, left: float) -> None:
            shown = "-" if best is None else number(best, 4)
            live.update(Text(f"trials {done}  best {shown}  time left {left:.0f}s"))

        result = search(
            dataset=dataset,
            target=target,
            time_budget=time_budget,
            n_trials=trials,
            metric=metric,
            families=family or None,
            folds=folds,
            sampler=sampler,
            presets=presets,
            ensemble=ensemble,
            drop=drop or [],
            seed=seed,
            progress=None if as_json else progress,
        )
    version = result.register(register) if register else None
    board = result.leaderboard
    report = result.report(html) if html is not None else None
    if as_json:
        print_json(
            {
                "run_id": result.run_id,
                "metric": result.metric,
                "best": result.best.metrics,
                "ensemble": _ensemble_json(result),
                "leaderboard": _records(board.drop(columns=["run_id"]).head(20)),
                "registered": version.ref if version else None,
                "report": str(report) if report else None,
            }
        )
        return
    _print_board(result)
    said = ensemble_line(result)
    if said:
        console.print(said)
    console.print(f"Run {result.run_id[:12]}: shipyard runs list -e automl")
    if version is not None:
        console.print(f"Registered {version.ref}: shipyard models show {version.ref}")
    if report is not None:
        console.print(f"Report: {report}")


def _print_board(result: Any) -> None:
    """The leaderboard's first 15 trials as a table."""
    board = result.leaderboard
    rows = [
        [
            r.trial,
            r.family,
            number(getattr(r, result.metric), 4),
            r.state,
            "-" if r.seconds != r.seconds else f"{r.seconds:.1f}",  # the ensemble: no trial
            r.params,
        ]
        for r in board.head(15).itertuples()
    ]
    console.print(
        table(
            f"Leaderboard ({int((board['trial'] >= 0).sum())} trials, {result.metric})",
            ["trial", "family", result.metric, "state", "seconds", "params"],
            rows,
            2,
        )
    )


def ensemble_line(result: Any) -> str:
    """One line on the search's ensemble: kept (members, weights) or why not; empty when
    none was tried."""
    ensemble, metric = result.ensemble, result.metric
    if ensemble is None:
        return ""
    scores = (
        f"{metric} {number(ensemble.cross_validated, 4)} cross-validated against "
        f"{number(ensemble.single_cross_validated, 4)} for the best single model"
    )
    if ensemble.kept:
        return f"Ensemble kept ({scores}): {ensemble.describe()}."
    return f"Ensemble not kept ({scores}); the best single model is returned."


def _ensemble_json(result: Any) -> dict[str, Any] | None:
    ensemble = result.ensemble
    if ensemble is None:
        return None
    return {
        "kept": ensemble.kept,
        "members": [
            {"trial": n, "family": ensemble.families[n], "weight": w}
            for n, w in ensemble.weights.items()
        ],
        "cross_validated": ensemble.cross_validated,
        "single_cross_validated": ensemble.single_cross_validated,
        "single": ensemble.single,
        "dropped": list(ensemble.dropped),
    }


def _records(board: Any) -> list[dict[str, Any]]:
    """Leaderboard rows for JSON: no score (a pruned trial) or time (the ensemble) is null."""
    return [
        {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}
        for row in board.to_dict("records")
    ]

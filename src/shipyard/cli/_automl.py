"""``shipyard automl``: search model families within a time budget, with live progress."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.live import Live
from rich.text import Text

from shipyard import models
from shipyard.automl import FAMILIES
from shipyard.cli._common import console, handle_errors, number, print_json, table

FAMILY_HELP = f"Model families to search: {', '.join(FAMILIES)}."


@handle_errors
def automl_cmd(
    dataset: str = typer.Option(..., "--dataset", "-d", help="Dataset version, e.g. loans@3."),
    target: str = typer.Option(..., "--target", "-t", help="Column to predict."),
    time_budget: float = typer.Option(60.0, "--time-budget", help="Seconds for the search."),
    trials: int = typer.Option(None, "--trials", help="Stop after this many trials."),
    metric: str = typer.Option(None, "--metric", help="auc, accuracy, f1, log_loss, rmse..."),
    family: list[str] = typer.Option(None, "--family", help=FAMILY_HELP),
    folds: int = typer.Option(3, "--folds"),
    sampler: str = typer.Option("tpe", "--sampler", help="tpe, random or grid."),
    drop: list[str] = typer.Option(None, "--drop", help="Columns that are not features."),
    seed: int = typer.Option(0, "--seed"),
    register: str = typer.Option(None, "--register", help="Register the best under this name."),
    html: Path = typer.Option(
        None, "--html", help="Write the leaderboard chart and table to this HTML file."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Search model families and hyper-parameters; print the leaderboard."""
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
            drop=drop or [],
            seed=seed,
            progress=None if as_json else progress,
        )
    version = models.register(register, result) if register else None
    board = result.leaderboard
    report = result.report(html) if html is not None else None
    if as_json:
        print_json(
            {
                "run_id": result.run_id,
                "metric": result.metric,
                "best": result.best.metrics,
                "leaderboard": board.drop(columns=["run_id"]).head(20).to_dict("records"),
                "registered": version.ref if version else None,
                "report": str(report) if report else None,
            }
        )
        return
    rows = [
        [
            r.trial,
            r.family,
            number(getattr(r, result.metric), 4),
            r.state,
            f"{r.seconds:.1f}",
            r.params,
        ]
        for r in board.head(15).itertuples()
    ]
    console.print(
        table(
            f"Leaderboard ({len(board)} trials, {result.metric})",
            ["trial", "family", result.metric, "state", "seconds", "params"],
            rows,
            2,
        )
    )
    console.print(f"Run {result.run_id[:12]}: shipyard runs list -e automl")
    if version is not None:
        console.print(f"Registered {version.ref}: shipyard models show {version.ref}")
    if report is not None:
        console.print(f"Report: {report}")

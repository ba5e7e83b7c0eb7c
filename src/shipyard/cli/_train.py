"""``shipyard train``: one model on a dataset version, tracked, optionally registered."""

from __future__ import annotations

import typer

from shipyard._refs import check_name
from shipyard.automl import ESTIMATORS
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


@handle_errors
def train_cmd(
    model: str = typer.Argument(..., help=f"Model family: {', '.join(ESTIMATORS)}."),
    dataset: str = typer.Option(..., "--dataset", "-d", help="Dataset version, e.g. loans@3."),
    target: str = typer.Option(..., "--target", "-t", help="Column to predict."),
    split: str = typer.Option("holdout", "--split", help="holdout or kfold."),
    folds: int = int_option(5, "--folds", low=2, high=1_000, help="Folds for --split kfold."),
    test_size: float = float_option(
        0.2, "--test-size", low=0, above=True, high=0.99, help="Share of rows held out."
    ),
    time_column: str = typer.Option(None, "--time-column", help="Split by time on this column."),
    drop: list[str] = typer.Option(None, "--drop", help="Columns that are not features."),
    seed: int = int_option(0, "--seed", low=0, high=MAX_SEED, help="Random seed."),
    experiment: str = typer.Option("train", "--experiment", "-e"),
    register: str = typer.Option(None, "--register", help="Register the model under this name."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Train one model with its preprocessing inside it; print its scores per fold."""
    if register is not None:
        check_name("Model", register)  # before training: a refused name leaves no run
    from shipyard.automl import train

    with console.status(f"Training {model} on {dataset}..."):
        result = train(
            model,
            dataset=dataset,
            target=target,
            split=split,
            folds=folds,
            test_size=test_size,
            time_column=time_column,
            drop=drop or [],
            seed=seed,
            experiment=experiment,
        )
    version = result.register(register) if register else None
    if as_json:
        print_json(
            {
                "run_id": result.run_id,
                "task": result.task,
                "metrics": result.metrics,
                "folds": result.fold_metrics,
                "registered": version.ref if version else None,
            }
        )
        return
    keys = list(result.metrics)
    rows = [[str(i), *(number(m[k], 4) for k in keys)] for i, m in enumerate(result.fold_metrics)]
    rows.append(["mean", *(number(result.metrics[k], 4) for k in keys)])
    console.print(table(f"{model} on {dataset} ({result.task})", ["fold", *keys], rows, 1))
    console.print(f"Run {result.run_id[:12]}: shipyard runs show {result.run_id[:12]}")
    if version is not None:
        console.print(f"Registered {version.ref}: shipyard models show {version.ref}")

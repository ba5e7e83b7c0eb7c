"""``shipyard explain`` (local: rows from a file) and ``shipyard models explain`` (global,
recorded with the version)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from shipyard.cli._common import console, handle_errors, int_option, number, print_json, table
from shipyard.errors import InvalidInput

JSON = typer.Option(False, "--json", help="Print JSON for scripts.")
SUFFIXES = (".json", ".csv", ".parquet")


def _read_rows(path: Path) -> Any:
    import pandas as pd

    if path.suffix.lower() not in SUFFIXES:
        raise InvalidInput(f"--rows: expected a .json, .csv or .parquet file, got {path.name!r}.")
    if not path.is_file():
        raise InvalidInput(f"--rows: no such file {str(path)!r}.")
    try:
        if path.suffix.lower() == ".csv":
            return pd.read_csv(path)
        if path.suffix.lower() == ".parquet":
            return pd.read_parquet(path)
        data = json.loads(path.read_text())
    except (ValueError, OSError) as exc:
        raise InvalidInput(
            f"--rows: {path.name} could not be read: {exc}".splitlines()[0]
        ) from None
    if isinstance(data, dict) and isinstance(data.get("records"), list):
        return data["records"]
    return data


@handle_errors
def explain_cmd(
    ref: str = typer.Argument(..., help="Model version: churn@champion, churn@7."),
    rows: Path = typer.Option(
        ..., "--rows", help="Rows to explain: a .json (records), .csv or .parquet file."
    ),
    top: int = int_option(10, "--top", help="Show this many features per row."),
    as_json: bool = JSON,
) -> None:
    """Explain predictions: each feature's contribution (SHAP) to each row's output."""
    from shipyard.governance import explain

    explained = explain(ref, _read_rows(rows))
    if as_json:
        print_json(explained.to_dict(), times=False)
        return
    body = explained.to_dict()
    console.print(
        f"{explained.model}: method {explained.method}, output {explained.output}, "
        f"base value {_show(body['base_value'])}"
    )
    if explained.note:
        console.print(f"note: {explained.note}", soft_wrap=True)
    for i, row in enumerate(body["rows"]):
        contributions = row["contributions"]
        ranked = sorted(contributions.items(), key=lambda kv: -_size(kv[1]))[:top]
        lines = [
            (name, _show(value), _show(explained.data.iloc[i][name])) for name, value in ranked
        ]
        title = f"row {i}: prediction {_show(row['prediction'])}"
        console.print(table(title, ["feature", "contribution", "value"], lines, 1))


def _size(value: Any) -> float:
    return float(max(abs(v) for v in value) if isinstance(value, list) else abs(value))


def _show(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(number(v, 4) for v in value) + "]"
    return number(value, 4) if isinstance(value, float) else str(value)


@handle_errors
def models_explain_cmd(
    ref: str = typer.Argument(..., help="Model version: churn@7, churn@champion."),
    data: str | None = typer.Option(
        None, "--data", "-d", help="Dataset version to explain on (default: the stored sample)."
    ),
    target: str | None = typer.Option(
        None, "--target", "-t", help="Label column of --data (adds permutation importance)."
    ),
    rows: int = int_option(1000, "--rows", high=1_000_000, help="Explain at most this many rows."),
    as_json: bool = JSON,
) -> None:
    """Explain a model globally (mean |SHAP|, permutation importance) and record it."""
    from shipyard.governance import explain_global

    result = explain_global(ref, data, target=target, rows=rows)
    if as_json:
        print_json({"model": result.model, **result.to_dict(), "sample": None}, times=False)
        return
    console.print(
        f"{result.model}: {result.rows:,} rows of {result.data}, method {result.method}, "
        f"output {result.output} (recorded)"
    )
    if result.note:
        console.print(f"note: {result.note}", soft_wrap=True)
    permutation = result.permutation or {}
    lines = [
        (
            name,
            number(value, 4),
            number(permutation[name]["mean"], 4) if name in permutation else "-",
        )
        for name, value in result.top(len(result.features))
    ]
    header = f"permutation ({result.scoring})" if result.scoring else "permutation"
    console.print(table(None, ["feature", "mean |SHAP|", header], lines, 1))

"""``shipyard experiments`` and ``shipyard runs``: browse, compare and delete tracked runs."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import typer
from rich.panel import Panel

from shipyard import tracking
from shipyard._time import iso
from shipyard.cli._common import (
    console,
    handle_errors,
    int_option,
    number,
    print_json,
    seconds,
    sparkline,
    status,
    table,
    when,
)
from shipyard.config import empty_store_message, get_settings

if TYPE_CHECKING:
    import pandas as pd

experiments = typer.Typer(help="Experiments: named groups of runs.", no_args_is_help=True)
runs = typer.Typer(help="Runs: list, show, compare and delete.", no_args_is_help=True)

JSON = typer.Option(False, "--json", help="Print JSON for scripts.")


@experiments.command("list")
@handle_errors
def experiments_list(as_json: bool = JSON) -> None:
    """List experiments with their number of runs."""
    found = tracking.list_experiments() if get_settings().store_exists() else []
    if as_json:
        print_json(
            [
                {"id": e.id, "name": e.name, "created_at": e.created_at, "runs": e.run_count}
                for e in found
            ]
        )
        return
    if not found:
        console.print(empty_store_message("experiments"))
        return
    console.print(
        table(
            "Experiments",
            ["name", "runs", "created", "id"],
            [(e.name, e.run_count, when(e.created_at), e.id) for e in found],
        )
    )


@runs.command("list")
@handle_errors
def runs_list(
    experiment: list[str] = typer.Option(None, "--experiment", "-e", help="Experiment name(s)."),
    filter: str = typer.Option(
        None, "--filter", "-f", help="e.g. \"metrics.auc > 0.9 and params.model = 'lgbm'\""
    ),
    order_by: list[str] = typer.Option(
        None, "--order-by", "-o", help="e.g. 'metrics.auc desc' (repeatable)."
    ),
    limit: int = int_option(50, "--limit", "-n", help="Runs per page."),
    page_token: str = typer.Option(None, "--page-token", help="Token printed under a page."),
    as_json: bool = JSON,
) -> None:
    """List runs, newest first, filtered and ordered like sy.search_runs."""
    if not get_settings().store_exists():  # nothing to list: create no store
        if as_json:
            print_json({"runs": [], "next_page_token": None})
        else:
            console.print(empty_store_message("runs"))
        return
    frame = tracking.search_runs(experiment or None, filter, order_by or None, limit, page_token)
    token = frame.attrs.get("next_page_token")
    if as_json:
        print_json({"runs": _records(frame), "next_page_token": token})
        return
    if frame.empty:
        console.print("No runs match." if experiment or filter else empty_store_message("runs"))
        return
    one_experiment = frame["experiment"].nunique() == 1
    fixed = 52 if one_experiment else 66
    room = max(1, (console.width - fixed) // 11)
    mentioned = " ".join([filter or "", *(order_by or [])])
    metric_cols = _busiest(frame, "metrics.", room, mentioned)
    param_cols = _busiest(frame, "params.", max(0, room - len(metric_cols)), mentioned)
    rows = []
    for rec in frame.to_dict("records"):
        rows.append(
            [
                rec["run_id"][:8],
                rec["name"],
                *([] if one_experiment else [rec["experiment"]]),
                status(rec["status"]),
                _ts(rec["start_time"]),
                seconds(rec["duration"]),
                *[number(rec.get(c), 4) for c in metric_cols],
                *[_text(rec.get(c)) for c in param_cols],
            ]
        )
    headers = [
        "run",
        "name",
        *([] if one_experiment else ["experiment"]),
        "status",
        "started",
        "took",
        *[c.split(".", 1)[1] for c in metric_cols + param_cols],
    ]
    title = f"Runs of {frame['experiment'].iloc[0]}" if one_experiment else "Runs"
    console.print(table(title, headers, rows, no_wrap=6 if one_experiment else 7))
    if len(metric_cols) + len(param_cols) < sum(
        c.startswith(("metrics.", "params.")) for c in frame.columns
    ):
        console.print("[dim]More columns: --json, or shipyard runs show <run>[/]")
    if token:
        console.print(f"More runs: --page-token {token}")


@runs.command("show")
@handle_errors
def runs_show(
    run_id: str = typer.Argument(..., help="Run id (or a unique prefix of 6+ characters)."),
    as_json: bool = JSON,
) -> None:
    """Show a run: attributes, params, metrics (with their curves), tags, artifacts."""
    run = tracking.get_run(run_id)
    if as_json:
        print_json(_run_json(run))
        return
    _print_run(run)


def _run_json(run: tracking.RunData) -> dict[str, Any]:
    """The run as ``runs show --json`` prints it."""
    info = run.info
    return {
        "run_id": info.id,
        "name": info.name,
        "experiment": run.experiment,
        "status": info.status,
        "start_time": info.start_time,
        "end_time": info.end_time,
        "parent_id": info.parent_id,
        "children": run.children,
        "source": {
            "commit": info.source_commit,
            "dirty": info.source_dirty,
            "entry_point": info.entry_point,
        },
        "environment": info.environment,
        "params": run.params,
        "tags": run.tags,
        "metrics": {
            k: {"value": m.value, "step": m.step, "count": m.count} for k, m in run.metrics.items()
        },
        "artifacts": [
            {"path": a.path, "digest": a.digest, "size": a.size, "kind": a.kind}
            for a in run.artifacts
        ],
    }


def _print_run(run: tracking.RunData) -> None:
    """The run as panels and tables: attributes, params, metrics, tags, artifacts, children."""
    info = run.info
    commit = info.source_commit[:10] if info.source_commit else "-"
    dirty = " (uncommitted changes)" if info.source_dirty else ""
    packages = info.environment.get("packages", {})
    lines = [
        f"[bold]{info.name}[/]  {status(info.status)}   id {info.id}",
        f"experiment  {run.experiment}",
        f"started     {when(info.start_time)}   ended {when(info.end_time)}   "
        f"duration {seconds(info.duration)}",
        f"source      {info.entry_point or '-'} @ {commit}{dirty}",
        f"environment python {info.environment.get('python', '?')}, "
        + ", ".join(f"{k} {v}" for k, v in list(packages.items())[:6]),
    ]
    if info.parent_id:
        lines.append(f"parent      {info.parent_id}")
    console.print(Panel("\n".join(lines), title="run", title_align="left", expand=False))
    if run.params:
        console.print(table("Params", ["key", "value"], sorted(run.params.items())))
    if run.metrics:
        store = tracking.tracking_store()
        rows = []
        for key, latest in run.metrics.items():
            series = store.read_metrics(info.id, key) if latest.count > 1 else []
            rows.append(
                (
                    key,
                    number(latest.value),
                    latest.step,
                    latest.count,
                    sparkline([p.value for p in series]),
                )
            )
        console.print(table("Metrics", ["key", "latest", "step", "points", "curve"], rows))
    if run.tags:
        console.print(table("Tags", ["key", "value"], sorted(run.tags.items())))
    if run.artifacts:
        console.print(
            table(
                "Artifacts",
                ["path", "kind", "size", "sha256"],
                [(a.path, a.kind, _size(a.size), a.digest[:12]) for a in run.artifacts],
            )
        )
    if run.children:
        console.print(f"child runs: {', '.join(c[:8] for c in run.children)}")


@runs.command("compare")
@handle_errors
def runs_compare(
    run_ids: list[str] = typer.Argument(..., help="Two or more run ids (or prefixes)."),
    only_differences: bool = typer.Option(False, "--diff", help="Show only rows that differ."),
    as_json: bool = JSON,
) -> None:
    """Compare runs side by side; rows whose values differ are highlighted."""
    frame = tracking.compare_runs(run_ids)
    if only_differences:
        frame = frame[frame["differs"]]
    if as_json:
        print_json(
            {str(idx): {str(c): _plain(v) for c, v in row.items()} for idx, row in frame.iterrows()}
        )
        return
    labels = [c for c in frame.columns if c != "differs"]
    rows = []
    for field, row in frame.iterrows():
        cells = [_cell(field, row[c]) for c in labels]
        style = "bold yellow" if row["differs"] else "dim"
        rows.append([f"[{style}]{field}[/]", *cells])
    console.print(table("Runs compared (differences in yellow)", ["field", *labels], rows, 1))


@runs.command("delete")
@handle_errors
def runs_delete(
    run_id: str = typer.Argument(..., help="Run id (or a unique prefix)."),
    purge: bool = typer.Option(False, "--purge", help="Remove the rows, not just hide them."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete a run and its child runs."""
    run = tracking.get_run(run_id)
    what = "Purge" if purge else "Delete"
    if not yes and not typer.confirm(
        f"{what} run {run.info.name} ({run.info.id}) and {len(run.children)} child run(s)?"
    ):
        raise typer.Exit(1)
    deleted = tracking.delete_run(run.info.id, purge=purge)
    console.print(f"{'Purged' if purge else 'Deleted'} {len(deleted)} run(s).")


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: _plain(v) for k, v in rec.items()} for rec in frame.to_dict("records")]


def _plain(value: Any) -> Any:
    import pandas as pd

    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return iso(value)
    if hasattr(value, "item"):
        return value.item()
    return value


def _ts(value: Any) -> str:
    import pandas as pd

    return "-" if value is None or value is pd.NaT else value.strftime("%m-%d %H:%M")


def _busiest(frame: pd.DataFrame, prefix: str, most: int, mentioned: str) -> list[str]:
    """The ``most`` columns with ``prefix``: those the query names first, then the fullest."""
    import pandas as pd

    columns = [c for c in frame.columns if c.startswith(prefix)]
    counts = frame[columns].notna().sum() if columns else pd.Series(dtype=int)
    return sorted(columns, key=lambda c: (c not in mentioned, -int(counts[c]), c))[:most]


def _text(value: Any) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _cell(field: Any, value: Any) -> str:
    if str(field) == "duration":
        return seconds(value)
    return number(value) if isinstance(value, float) else _text(value)


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n:.1f} TB"

"""``shipyard pipelines``: list, show (and draw), run and resume with a live view of the
steps, runs, cancel, logs."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer
from rich.live import Live
from rich.table import Table

from shipyard import pipelines
from shipyard.cli._common import (
    console,
    err_console,
    file_option,
    handle_errors,
    int_option,
    print_json,
    seconds,
    table,
    when,
)
from shipyard.config import empty_store_message, get_settings
from shipyard.errors import InvalidInput
from shipyard.pipelines._graph import check_name

app = typer.Typer(
    help="Pipelines: DAGs of steps, their runs, live progress, logs and charts.",
    no_args_is_help=True,
)
JSON = typer.Option(False, "--json", help="Print JSON for scripts.")
HTML = file_option("--html", help="Write the DAG of the latest run (or --run) to this HTML file.")
EXECUTOR = typer.Option(None, "--executor", "-e", help="Where steps run: local or ray.")
RUN_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
STYLE = {
    "pending": "dim",
    "queued": "dim",
    "running": "cyan",
    "retrying": "yellow",
    "succeeded": "green",
    "cached": "green4",
    "reused": "green4",
    "failed": "red",
    "skipped": "dim",
    "cancelled": "yellow",
}
ENDED = ("succeeded", "cached", "reused", "failed", "skipped", "cancelled")


def _state(value: str | None) -> str:
    return "-" if value is None else f"[{STYLE.get(value, 'white')}]{value}[/]"


def parse_params(items: list[str] | None) -> dict[str, Any]:
    """``k=v`` pairs: ``v`` as JSON when it parses, else as a string."""
    params: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"--param expects key=value; got {item!r}.")
        try:
            params[key.strip()] = json.loads(raw)
        except ValueError as exc:
            if raw.lstrip()[:1] in ("[", "{", '"'):  # meant as JSON: a typo is not a string
                raise InvalidInput(
                    f"--param {key.strip()}: {raw!r} is not valid JSON ({exc})."
                ) from None
            params[key.strip()] = raw
    return params


# -- the live view ---------------------------------------------------------------------


class LiveSteps:
    """The steps of a run as the coordinator reports them: status, attempts, time. A rich
    renderable (redrawn by :class:`rich.live.Live`) and a ``watch`` callback."""

    def __init__(self, title: str, steps: list[str]) -> None:
        self.title = title
        self.rows: dict[str, dict[str, Any]] = {s: self._row() for s in steps}

    @staticmethod
    def _row() -> dict[str, Any]:
        return {"status": "pending", "attempts": 0, "started": None, "ended": None}

    def __call__(self, step: str, status: str) -> None:
        row = self.rows.setdefault(step, self._row())
        now = time.time()
        if status == "running" and row["status"] != "running":
            row["attempts"] += 1
            row["started"] = row["started"] or now
        row["ended"] = now if status in ENDED else None
        row["status"] = status

    def finish(self, run: pipelines.PipelineRun) -> None:
        """Take the recorded steps (exact attempts and times) in place of the watched ones."""
        self.rows = {
            s.name: {
                "status": s.status,
                "attempts": s.attempts,
                "started": s.started_at,
                "ended": s.ended_at,
            }
            for s in run.steps
        }

    def __rich__(self) -> Table:
        out = Table(title=self.title, title_justify="left", header_style="bold")
        for column in ("step", "status", "attempts", "time"):
            out.add_column(column, no_wrap=column == "step")
        now = time.time()
        for name, row in list(self.rows.items()):
            started, ended = row["started"], row["ended"]
            took = None if started is None else (ended or now) - started
            out.add_row(name, _state(row["status"]), str(row["attempts"]), seconds(took))
        return out


def _follow(title: str, steps: list[str], start: Any) -> pipelines.PipelineRun:
    """Call ``start(watch)`` under a live view of its steps; the finished run. The view
    appears with the first step, so an error before any step runs is one line alone."""
    view = LiveSteps(title, steps)
    live = Live(view, console=console, refresh_per_second=4)

    def watch(step: str, status: str) -> None:
        view(step, status)
        live.start()  # once: a started view is left as it is

    try:
        try:
            run: pipelines.PipelineRun = start(watch)
            view.finish(run)
            live.start()
            live.refresh()
        finally:
            live.stop()
    except KeyboardInterrupt:
        err_console.print("Interrupted: the run was cancelled.")
        raise typer.Exit(130) from None
    if not console.is_terminal:
        console.line()  # a live view printed once ends without a newline
    console.print(_summary(run))
    return run


def _summary(run: pipelines.PipelineRun) -> str:
    took = seconds(run.duration)
    return f"Run {run.id} {run.status} in {took}."


def _ended(run: pipelines.PipelineRun, as_json: bool) -> None:
    """Print the JSON when asked; exit 1 unless the run succeeded."""
    if as_json:
        print_json(run.to_dict())
    if run.status != "succeeded":
        err_console.print(
            f"[bold red]Error:[/] run {run.id} {run.status}: {run.error or '-'}", soft_wrap=True
        )
        raise typer.Exit(1)


# -- commands ----------------------------------------------------------------------------


@app.command("list")
@handle_errors
def list_cmd(as_json: bool = JSON) -> None:
    """List pipelines with their versions and last run."""
    found = pipelines.list_pipelines() if get_settings().store_exists() else []
    if as_json:
        print_json(found)
        return
    if not found:
        console.print(empty_store_message("pipelines"))
        return
    rows = [
        [
            p["name"],
            p["versions"],
            p["latest"] or "-",
            _state(p["last_run_status"]),
            when(p["last_run_at"]),
            p["description"] or "-",
        ]
        for p in found
    ]
    columns = ["name", "versions", "latest", "last run", "at", "description"]
    console.print(table("Pipelines", columns, rows, 1))


@app.command("show")
@handle_errors
def show_cmd(
    ref: str = typer.Argument(..., help="retrain, retrain@3 or retrain@alias."),
    html: Path | None = HTML,
    run_id: str | None = typer.Option(None, "--run", help="The run drawn by --html."),
    limit: int = int_option(5, "--limit", high=10_000, help="How many recent runs to list."),
    as_json: bool = JSON,
) -> None:
    """Show a pipeline version: its steps, the versions, the last runs; draw a run's DAG."""
    version = pipelines.get_pipeline(ref)
    versions = pipelines.versions(version.name)
    runs = pipelines.list_runs(version.name, limit=limit)
    if html is not None:
        written = pipelines.report(run_id or ref, html)
        err_console.print(f"Wrote {written}")
    if as_json:
        print_json(
            {
                **version.to_dict(),
                "versions": [v.to_dict() for v in versions],
                "runs": [r.to_dict(steps=False) for r in runs],
            }
        )
        return
    _print_version(version, len(versions))
    _print_steps(version)
    _print_versions(versions)
    _print_runs(f"Last runs of {version.name}", runs)


def _print_version(version: pipelines.PipelineVersion, count: int) -> None:
    aliases = f"  aliases: {', '.join(version.aliases)}" if version.aliases else ""
    console.print(f"[bold]{version.ref}[/]  ({count} version(s)){aliases}")
    lines = [
        ("entry", version.entry),
        ("source", version.source_file or "-"),
        ("created", f"{when(version.created_at)} by {version.created_by or '?'}"),
        ("params", json.dumps(version.params) if version.params else "-"),
        ("code hash", version.code_hash[:16]),
    ]
    for key, value in lines:
        console.print(f"  {key:<10} {value}", soft_wrap=True)


def _print_steps(version: pipelines.PipelineVersion) -> None:
    rows = []
    for node in version.graph:
        options = node.get("options", {})
        timeout = options.get("timeout")
        rows.append(
            [
                node["name"],
                ", ".join(node.get("upstream", [])) or "-",
                options.get("retries", 0),
                "-" if timeout is None else f"{timeout:g}s",
                "yes" if options.get("cache", True) else "no",
                f"{options.get('cpus', 1):g}",
            ]
        )
    columns = ["step", "after", "retries", "timeout", "cache", "cpus"]
    console.print(table(f"Steps of {version.ref}", columns, rows, 1))


def _print_versions(versions: list[pipelines.PipelineVersion]) -> None:
    rows = [
        [v.version, ", ".join(v.aliases) or "-", v.code_hash[:12], len(v.graph), when(v.created_at)]
        for v in versions
    ]
    columns = ["version", "aliases", "code hash", "steps", "created"]
    console.print(table("Versions", columns, rows, 1))


def _print_runs(title: str, runs: list[pipelines.PipelineRun]) -> None:
    rows = [
        [
            r.id[:12],  # a prefix of six or more characters names a run everywhere
            _state(r.status),
            _short(r.started_at or r.created_at),
            seconds(r.duration),
            f"{r.pipeline}@{r.version}",
            (r.error or "-")[:60],
        ]
        for r in runs
    ]
    columns = ["run", "status", "started", "took", "pipeline", "error"]
    console.print(table(title, columns, rows, 4))  # pipeline and error give way first


def _short(epoch: float) -> str:
    return time.strftime("%m-%d %H:%M:%S", time.gmtime(epoch))


@app.command("run")
@handle_errors
def run_cmd(
    name: str = typer.Argument(..., help="A registered pipeline: retrain or retrain@3."),
    param: list[str] | None = typer.Option(
        None, "--param", "-p", help="key=value (the value as JSON when it parses); repeat."
    ),
    executor: str | None = EXECUTOR,
    address: str | None = typer.Option(None, "--address", help="Ray cluster to join."),
    workers: int | None = int_option(None, "--workers", high=1_024, help="Steps at once."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Run every step again."),
    as_json: bool = JSON,
) -> None:
    """Run a pipeline now, showing each step live; exit 1 when the run fails. With
    SHIPYARD_URL, queue it on the server instead (its ``shipyard scheduler`` runs it)."""
    params = parse_params(param)
    _check_executor(executor)
    if get_settings().remote:
        given = {"--executor": executor, "--address": address, "--workers": workers}
        given["--no-cache"] = True if no_cache else None
        _queue_remotely(name, params, [k for k, v in given.items() if v is not None], as_json)
        return

    def start(watch: Any) -> pipelines.PipelineRun:
        return pipelines.run(
            name,
            params,
            executor=executor,
            workers=workers,
            address=address,
            cache=not no_cache,
            watch=watch,
        )

    if as_json:
        _ended(start(None), as_json)
        return
    steps = [n["name"] for n in pipelines.get_pipeline(name).graph]
    _ended(_follow(f"Pipeline {name}", steps, start), as_json)


def _queue_remotely(name: str, params: dict[str, Any], options: list[str], as_json: bool) -> None:
    """Queue a run on the server (remote mode); refuse what only a run here takes."""
    if options:
        raise InvalidInput(
            f"{', '.join(options)}: not for a run queued on the server (SHIPYARD_URL), whose "
            "scheduler picks how to run it; leave them out."
        )
    queued = pipelines.enqueue(name, params)
    if as_json:
        print_json(queued.to_dict())
        return
    where = f"{queued.pipeline}@{queued.version} on {get_settings().url}"
    console.print(f"Queued run {queued.id} of {where}: its scheduler runs it.", soft_wrap=True)
    console.print(f"Follow: shipyard pipelines runs {queued.pipeline}", soft_wrap=True)


@app.command("resume")
@handle_errors
def resume_cmd(
    run_id: str = typer.Argument(..., help="A failed or cancelled run."),
    executor: str | None = EXECUTOR,
    as_json: bool = JSON,
) -> None:
    """Run a failed run again as a new run: finished steps are reused, the rest run."""
    _check_executor(executor)
    old = pipelines.get_run(run_id)

    def start(watch: Any) -> pipelines.PipelineRun:
        return pipelines.resume(run_id, executor=executor, watch=watch)

    if as_json:
        _ended(start(None), as_json)
        return
    title = f"{old.pipeline}: resuming {run_id[:12]}"
    _ended(_follow(title, [s.name for s in old.steps], start), as_json)


def _check_executor(executor: str | None) -> None:
    if executor is not None and executor not in pipelines.EXECUTORS:
        raise InvalidInput(
            f"--executor must be one of {', '.join(pipelines.EXECUTORS)}; got {executor!r}."
        )


@app.command("runs")
@handle_errors
def runs_cmd(
    name: str | None = typer.Argument(None, help="Only this pipeline's runs."),
    status: str | None = typer.Option(None, "--status", help=f"One of {', '.join(RUN_STATUSES)}."),
    limit: int = int_option(20, "--limit", high=10_000, help="How many, newest first."),
    as_json: bool = JSON,
) -> None:
    """List runs, newest first."""
    if status is not None and status not in RUN_STATUSES:
        raise InvalidInput(f"--status must be one of {', '.join(RUN_STATUSES)}; got {status!r}.")
    if name is not None:
        check_name(name, "pipeline name")
    found = pipelines.list_runs(name, status, limit)
    if as_json:
        print_json([r.to_dict(steps=False) for r in found])
        return
    _print_runs("Runs" if name is None else f"Runs of {name}", found)


@app.command("cancel")
@handle_errors
def cancel_cmd(run_id: str = typer.Argument(..., help="A queued or running run.")) -> None:
    """Cancel a queued run, or ask a running one to stop (its running steps are killed)."""
    run = pipelines.cancel(run_id)
    console.print(f"Run {run.id}: {_state(run.status)}")


@app.command("logs")
@handle_errors
def logs_cmd(
    run_id: str = typer.Argument(..., help="The run."),
    step: str = typer.Argument(..., help="The step (as `shipyard pipelines show` names it)."),
) -> None:
    """Print what a step wrote to stdout and stderr (the end of it), then its error."""
    run = pipelines.get_run(run_id)
    try:
        found = run.step(step)
    except KeyError as exc:
        raise InvalidInput(str(exc.args[0])) from None
    if found.logs:
        typer.echo(found.logs, nl=not found.logs.endswith("\n"))
    else:
        err_console.print(f"(step {step!r} wrote nothing)")
    if found.error:
        err_console.print(f"[red]{found.status}:[/] {found.error}", soft_wrap=True)


# -- schedules and triggers -------------------------------------------------------------


def _print_schedule(made: pipelines.Schedule, as_json: bool) -> None:
    if as_json:
        print_json(made.to_dict())
        return
    console.print(f"Schedule {made.id}: {made.pipeline} {_when(made)}")


def _when(s: pipelines.Schedule) -> str:
    if s.kind == "cron":
        return f"at {s.cron} ({s.timezone})"
    rows = f" every {s.rows} rows" if s.rows else ""
    return f"on {s.on}{rows}"


@app.command("schedule")
@handle_errors
def schedule_cmd(
    name: str = typer.Argument(..., help="A registered pipeline."),
    cron: str = typer.Argument(..., help="'0 3 * * *' (minute hour day month weekday), @daily."),
    timezone: str = typer.Option("UTC", "--timezone", "--tz", help="An IANA zone."),
    param: list[str] | None = typer.Option(None, "--param", "-p", help="key=value; repeat."),
    as_json: bool = JSON,
) -> None:
    """Run a pipeline at the times of a cron expression (`shipyard scheduler` fires it)."""
    made = pipelines.schedule(name, cron, timezone=timezone, params=parse_params(param))
    _print_schedule(made, as_json)


@app.command("trigger")
@handle_errors
def trigger_cmd(
    name: str = typer.Argument(..., help="A registered pipeline."),
    on: str = typer.Option(
        ..., "--on", help="dataset:NAME, model:NAME, alert:MONITOR or labels:DEPLOYMENT."
    ),
    rows: int | None = int_option(None, "--rows", help="labels: new labelled rows."),
    param: list[str] | None = typer.Option(None, "--param", "-p", help="key=value; repeat."),
    as_json: bool = JSON,
) -> None:
    """Run a pipeline on each event --on names (`shipyard scheduler` fires it)."""
    made = pipelines.trigger(name, on, rows=rows, params=parse_params(param))
    _print_schedule(made, as_json)


@app.command("schedules")
@handle_errors
def schedules_cmd(
    name: str | None = typer.Argument(None, help="Only this pipeline's."),
    as_json: bool = JSON,
) -> None:
    """List schedules and triggers, oldest first."""
    if name is not None:
        check_name(name, "pipeline name")
    found = pipelines.list_schedules(name)
    if as_json:
        print_json([s.to_dict() for s in found])
        return
    rows = [
        [
            s.id,
            s.pipeline,
            s.kind,
            _when(s),
            "yes" if s.enabled else "paused",
            json.dumps(s.params) if s.params else "-",
            when(s.created_at),
        ]
        for s in found
    ]
    columns = ["schedule", "pipeline", "kind", "when", "enabled", "params", "created"]
    console.print(table("Schedules", columns, rows, 1))

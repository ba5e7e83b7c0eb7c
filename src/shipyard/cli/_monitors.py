"""``shipyard monitors`` (create, list, show, check, watch, report, pause, resume, delete) and
``shipyard alerts`` (list, show, acknowledge, resolve)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer

from shipyard.cli._common import (
    console,
    err_console,
    file_option,
    float_option,
    handle_errors,
    int_argument,
    int_option,
    is_folder,
    print_json,
    table,
    when,
)
from shipyard.config import empty_store_message, get_settings
from shipyard.errors import InvalidInput

__all__ = ["alerts", "monitors"]

monitors = typer.Typer(
    help="Monitors: drift, data quality and performance of a deployment or dataset, on a "
    "schedule, with alerts.",
    no_args_is_help=True,
)
alerts = typer.Typer(
    help="Alerts raised by monitors: list, acknowledge, resolve.", no_args_is_help=True
)
JSON = typer.Option(False, "--json", help="Print JSON for scripts.")
HTML = file_option("--html", required=True, help="Write the report to this HTML file.")
STATUS_STYLE = {"ok": "green", "alert": "red", "no data": "yellow", "failed": "red",
                "open": "red", "acknowledged": "yellow", "resolved": "green"}  # fmt: skip


def _styled(value: str) -> str:
    return f"[{STATUS_STYLE.get(value, 'white')}]{value}[/]"


def _thresholds(values: list[str] | None) -> dict[str, float]:
    out: dict[str, float] = {}
    for value in values or []:
        feature, sep, rest = value.partition("=")
        try:
            out[feature] = float(rest)
        except ValueError:
            sep = ""
        if not sep or not feature:
            raise InvalidInput(f"--threshold must look like FEATURE=NUMBER; got {value!r}.")
    return out


@monitors.command("create")
@handle_errors
def create_cmd(
    name: str = typer.Argument(..., help="Monitor name."),
    deployment: str = typer.Option(None, "--deployment", "-d", help="Watch this deployment."),
    dataset: str = typer.Option(None, "--dataset", help="Watch this dataset's newest version."),
    reference: str = typer.Option(
        None,
        "--reference",
        help="A dataset version (loans@1), log:first or log:previous; "
        "default: what the deployment's model was trained on.",
    ),
    window: str = typer.Option("1000", "--window", "-w", help="Rows (5000) or a time (1h)."),
    every: str = typer.Option(None, "--every", help="Schedule, e.g. 1h (run by `watch`)."),
    detector: list[str] = typer.Option(
        None,
        "--detector",
        help="data_drift, prediction_drift, quality, performance, "
        "multivariate (repeat; default by target).",
    ),
    channel: list[str] = typer.Option(
        None,
        "--channel",
        "-c",
        help="log, webhook:URL or email:ADDRESS[,ADDRESS] (repeat).",
    ),
    cooldown: str = typer.Option("1h", "--cooldown", help="Quiet time after a resolve."),
    drift_share: float = float_option(
        0.5, "--drift-share", low=0, above=True, high=1, help="Drifted share that alerts."
    ),
    threshold: list[str] = typer.Option(None, "--threshold", help="FEATURE=VALUE (repeat)."),
    categorical: list[str] = typer.Option(None, "--categorical", help="Column (repeat)."),
    metric: str = typer.Option(None, "--metric", help="accuracy, error_rate, mae or rmse."),
    metric_threshold: float = float_option(
        None, "--metric-threshold", help="Alert when the metric is worse than this."
    ),
    min_rows: int = int_option(30, "--min-rows", help="Fewer rows: no verdict."),
    on_alert: list[str] = typer.Option(
        None, "--on-alert", help="pipeline:NAME to run when an alert opens (repeat)."
    ),
    as_json: bool = JSON,
) -> None:
    """Create a monitor."""
    from dataclasses import asdict

    from shipyard import monitoring
    from shipyard.monitoring._monitors import parse_window

    parse_window(window)  # a dataset monitor has no window, but a bad one is still refused
    made = monitoring.create_monitor(
        name,
        deployment=deployment,
        dataset=dataset,
        reference=reference,
        window=window,
        every=every,
        detectors=detector or None,
        channels=channel or ["log"],
        cooldown=cooldown,
        drift_share=drift_share,
        thresholds=_thresholds(threshold),
        categorical=categorical or (),
        metric=metric,
        metric_threshold=metric_threshold,
        min_rows=min_rows,
        on_alert=on_alert or (),
    )
    if as_json:
        print_json(asdict(made))
        return
    console.print(
        f"Created monitor [bold]{made.name}[/] on {made.target_kind} {made.target} "
        f"({made.describe_window()} against {made.reference}). Run it: "
        f"shipyard monitors check {made.name}"
    )


@monitors.command("list")
@handle_errors
def list_cmd(as_json: bool = JSON) -> None:
    """List monitors with their last check and open alerts."""
    from dataclasses import asdict

    from shipyard import monitoring

    exists = get_settings().store_exists()
    found = monitoring.list_monitors() if exists else []
    active = monitoring.list_alerts(status="active", limit=10_000) if found else []
    if as_json:
        print_json([asdict(m) for m in found])
        return
    if not found:
        console.print(empty_store_message("monitors"))
        return
    rows = []
    for m in found:
        last = monitoring.checks(m.name, limit=1)
        open_alerts = sum(a.monitor == m.name for a in active)
        rows.append(
            [
                m.name,
                f"{m.target_kind} {m.target}",
                m.describe_window(),
                "-" if m.every is None else _every(m.every),
                ", ".join(m.detectors),
                _styled(last[0].status) if last else "-",
                when(m.last_check_at),
                open_alerts or "-",
                "" if m.enabled else "paused",
            ]
        )
    headers = ["monitor", "watches", "window", "every", "detectors", "last", "checked",
               "open alerts", ""]  # fmt: skip
    console.print(table("Monitors", headers, rows, no_wrap=1))


def _every(seconds: float) -> str:
    from shipyard.monitoring._monitors import format_duration

    return format_duration(seconds)


@monitors.command("show")
@handle_errors
def show_cmd(
    name: str = typer.Argument(..., help="Monitor name."),
    last: int = int_option(10, "--last", help="Checks to show."),
    as_json: bool = JSON,
) -> None:
    """A monitor's definition, recent checks and alerts."""
    from dataclasses import asdict

    from shipyard import monitoring

    monitor = monitoring.get_monitor(name)
    recent = monitoring.checks(name, limit=last)
    found = monitoring.list_alerts(monitor=name, limit=last)
    if as_json:
        print_json(
            {
                "monitor": asdict(monitor),
                "checks": [c.to_dict() for c in recent],
                "alerts": [a.to_dict() for a in found],
            }
        )
        return
    console.print(f"[bold]{monitor.name}[/]: {monitor.target_kind} {monitor.target}")
    console.print(f"  reference  {monitor.reference}")
    console.print(f"  window     {monitor.describe_window()}")
    console.print(f"  every      {'-' if monitor.every is None else _every(monitor.every)}")
    console.print(f"  detectors  {', '.join(monitor.detectors)}")
    console.print(f"  channels   {', '.join(monitor.channels)}")
    if monitor.on_alert:
        console.print(f"  on alert   {', '.join(monitor.on_alert)}")
    console.print(f"  cooldown   {_every(monitor.cooldown) if monitor.cooldown else '0'}")
    console.print(f"  enabled    {'yes' if monitor.enabled else 'no (paused)'}")
    rows = [
        [c.id, when(c.at), _styled(c.status), c.rows, c.reference_rows, _titles(c.detectors)
         or c.error, f"{c.seconds:.2f}s"]
        for c in recent
    ]  # fmt: skip
    console.print(
        table("Checks", ["check", "at", "status", "rows", "reference", "found", "took"], rows)
    )
    if found:
        console.print(_alerts_table(found))


def _titles(detectors: dict[str, Any]) -> str:
    return "; ".join(str(found["title"]) for found in detectors.values() if found.get("flagged"))


@monitors.command("run", hidden=True)  # the old spelling of "check", kept for scripts
@monitors.command(
    "check", help="Check a monitor now (or every due one); exit 1 when a check failed."
)
@handle_errors
def run_cmd(
    name: str = typer.Argument(None, help="Monitor name (or --due)."),
    due: bool = typer.Option(False, "--due", help="Check every monitor whose schedule is due."),
    log_dir: str = typer.Option(None, "--log-dir", help="The servers' inference log folder."),
    as_json: bool = JSON,
) -> None:
    """Check a monitor once (or the due ones); exit 1 when a check failed."""
    from shipyard import monitoring

    if (name is None) == (not due):
        raise InvalidInput("Give a monitor name or --due (one of them, not both).")
    _check_log_dir(log_dir)
    done = monitoring.run_due(log_dir=log_dir) if due else [monitoring.check(name, log_dir=log_dir)]
    if as_json:
        print_json([c.to_dict() for c in done])
    else:
        for result in done:
            _print_check(result)
        if due and not done:
            console.print("No monitor is due.")
    if any(c.status == "failed" for c in done):
        raise typer.Exit(1)


def _check_log_dir(log_dir: str | None) -> None:
    """A local --log-dir must be a folder (a mistyped one would read as "no data")."""
    if log_dir is not None and "://" not in log_dir and not is_folder(log_dir):
        raise InvalidInput(
            f"--log-dir {log_dir} is not a folder; give the folder the servers log to "
            "(shipyard serve --log-dir)."
        )


def _print_check(result: Any) -> None:
    console.print(
        f"[bold]{result.monitor}[/] check {result.id}: {_styled(result.status)} — "
        f"{result.rows:,} rows against {result.reference_rows:,} reference rows "
        f"({result.seconds:.2f}s)"
    )
    if result.error:
        err_console.print(f"  [red]{result.error}[/]")
    for detector, found in result.detectors.items():
        mark = {True: "[red]✗[/]", False: "[green]✓[/]", None: "[yellow]·[/]"}[found["flagged"]]
        console.print(f"  {mark} {detector}: {found['title']}")


@monitors.command("watch")
@handle_errors
def watch_cmd(
    log_dir: str = typer.Option(None, "--log-dir", help="The servers' inference log folder."),
    poll: float = float_option(
        30.0, "--poll", low=0, above=True, high=86_400, help="Seconds between schedule looks."
    ),
    once: bool = typer.Option(False, "--once", help="Run what is due once, then stop."),
) -> None:
    """Run monitors on their schedules (``--every``) until stopped."""
    from shipyard import monitoring

    _check_log_dir(log_dir)
    console.print("Watching monitors' schedules (Ctrl+C stops).")
    try:
        while True:
            for result in monitoring.run_due(log_dir=log_dir):
                _print_check(result)
            if once:
                return
            time.sleep(poll)
    except KeyboardInterrupt:
        console.print("Stopped.")


@monitors.command("report")
@handle_errors
def report_cmd(
    name: str = typer.Argument(..., help="Monitor name."),
    html: Path = HTML,
    last: int = int_option(50, "--last", help="Checks charted over time."),
) -> None:
    """A static HTML report: alerts, statistics over time, distributions of the last window."""
    from shipyard import monitoring

    path = monitoring.report(name, html, last=last)
    console.print(f"Wrote {path}")


@monitors.command("pause")
@handle_errors
def pause_cmd(name: str = typer.Argument(..., help="Monitor name.")) -> None:
    """Stop a monitor's schedule (it can still be run by hand)."""
    from shipyard import monitoring

    monitoring.set_monitor_enabled(name, False)
    console.print(f"Paused {name}.")


@monitors.command("resume")
@handle_errors
def resume_cmd(name: str = typer.Argument(..., help="Monitor name.")) -> None:
    """Put a paused monitor back on its schedule."""
    from shipyard import monitoring

    monitoring.set_monitor_enabled(name, True)
    console.print(f"Resumed {name}.")


@monitors.command("delete")
@handle_errors
def delete_cmd(
    name: str = typer.Argument(..., help="Monitor name."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask."),
) -> None:
    """Delete a monitor with its checks, results and alerts."""
    from shipyard import monitoring

    monitoring.get_monitor(name)
    if not yes:
        typer.confirm(f"Delete monitor {name} with its checks and alerts?", abort=True)
    monitoring.delete_monitor(name)
    console.print(f"Deleted {name}.")


def _alerts_table(found: list[Any]) -> Any:
    rows = [
        [a.id, _styled(a.status), a.monitor, a.detector, a.title, a.occurrences,
         when(a.opened_at), when(a.resolved_at)]
        for a in found
    ]  # fmt: skip
    headers = ["alert", "status", "monitor", "detector", "title", "seen", "opened", "resolved"]
    return table("Alerts", headers, rows, no_wrap=2)


@alerts.command("list")
@handle_errors
def alerts_list_cmd(
    monitor: str = typer.Option(None, "--monitor", "-m", help="Only this monitor's."),
    status: str = typer.Option(
        None, "--status", help="open, acknowledged, resolved or active (open or acknowledged)."
    ),
    limit: int = int_option(100, "--limit", help="At most this many, newest first."),
    as_json: bool = JSON,
) -> None:
    """List alerts, newest first."""
    from shipyard import monitoring

    exists = get_settings().store_exists()
    found = monitoring.list_alerts(monitor=monitor, status=status, limit=limit) if exists else []
    if as_json:
        print_json([a.to_dict() for a in found])
        return
    if not found and monitor is None and status is None:
        console.print(empty_store_message("alerts"))
        return
    console.print(_alerts_table(found))


@alerts.command("show")
@handle_errors
def alerts_show_cmd(
    alert_id: int = int_argument(..., help="Alert id."), as_json: bool = JSON
) -> None:
    """An alert with its evidence and deliveries."""
    import json

    from shipyard import monitoring

    alert = monitoring.get_alert(alert_id)
    if as_json:
        print_json(alert.to_dict())
        return
    console.print(f"[bold]Alert {alert.id}[/] {_styled(alert.status)}: {alert.title}")
    console.print(f"  monitor {alert.monitor} ({alert.target}), detector {alert.detector}")
    console.print(f"  opened {when(alert.opened_at)}, seen {alert.occurrences} time(s)")
    if alert.acknowledged_by:
        console.print(f"  acknowledged by {alert.acknowledged_by} {when(alert.acknowledged_at)}")
    if alert.resolved_at:
        console.print(f"  resolved by {alert.resolved_by} {when(alert.resolved_at)}")
    console.print("Evidence:")
    console.print(json.dumps(alert.evidence, indent=2, default=str), markup=False)
    for d in alert.deliveries:
        outcome = "sent" if d["ok"] else f"failed: {d['error']}"
        if d.get("run"):  # a pipeline it started (on_alert)
            outcome = f"started run {d['run']}"
        console.print(f"  {when(d['at'])} {d['event']} → {d['channel']}: {outcome}", markup=False)


@alerts.command("ack", hidden=True)  # short for "acknowledge", kept for scripts
@alerts.command("acknowledge")
@handle_errors
def ack_cmd(
    alert_id: int = int_argument(..., help="Alert id."),
    by: str = typer.Option(None, "--by", help="Who (default: SHIPYARD_USER or login)."),
) -> None:
    """Acknowledge an open alert: no more notices until it resolves."""
    from shipyard import monitoring

    alert = monitoring.acknowledge(alert_id, by=by)
    console.print(f"Alert {alert.id} acknowledged by {alert.acknowledged_by}.")


@alerts.command("resolve")
@handle_errors
def resolve_cmd(
    alert_id: int = int_argument(..., help="Alert id."),
    by: str = typer.Option(None, "--by", help="Who (default: SHIPYARD_USER or login)."),
) -> None:
    """Resolve an alert by hand (its channels are told)."""
    from shipyard import monitoring

    alert = monitoring.resolve(alert_id, by=by)
    console.print(f"Alert {alert.id} resolved by {alert.resolved_by}.")

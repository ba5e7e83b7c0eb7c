"""``shipyard scheduler``: fire schedules and triggers, run queued pipeline runs, check due
monitors, until stopped (``--once``: one round)."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

import typer

from shipyard.cli._common import console, float_option, handle_errors, int_option
from shipyard.errors import InvalidInput

__all__ = ["scheduler_cmd"]


@handle_errors
def scheduler_cmd(
    once: bool = typer.Option(
        False, "--once", help="One round, then wait for the runs it started and exit."
    ),
    interval: float = float_option(
        1.0, "--interval", low=0, above=True, high=86_400, help="Seconds between rounds."
    ),
    max_runs: int = int_option(2, "--max-runs", high=1_000, help="Pipeline runs at once here."),
    monitors: bool = typer.Option(
        True, "--monitors/--no-monitors", help="Also check the monitors that are due."
    ),
) -> None:
    """Run schedules, triggers and queued pipeline runs (and due monitor checks)."""
    from shipyard import pipelines
    from shipyard.cli._db import local_only

    local_only("shipyard scheduler")  # it runs the pipelines of this host's store
    if not interval > 0 or max_runs < 1:
        raise InvalidInput("--interval must be > 0 seconds and --max-runs at least 1.")
    logging.basicConfig(format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("shipyard").setLevel(logging.INFO)  # what fired, what was resumed
    scheduler = pipelines.Scheduler(max_runs=max_runs, monitors=monitors)
    if once:
        fired = scheduler.tick()
        scheduler.wait()
        for run_id in fired:
            run = pipelines.get_run(run_id)
            console.print(f"{run.id}  {run.pipeline}  {run.status}")
        console.print(f"Fired {len(fired)} run(s).")
        return
    stop = threading.Event()

    def ask_stop(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, ask_stop)
    console.print(
        f"Scheduler {scheduler.who}: a round every {interval:g}s, up to {max_runs} runs at "
        "once. Ctrl-C stops it (runs in progress finish first)."
    )
    try:
        scheduler.serve_forever(interval, stop)
    except KeyboardInterrupt:
        console.print("Stopping: waiting for the runs in progress (Ctrl-C again leaves them "
                      "to the next scheduler, which resumes them).")  # fmt: skip
    scheduler.wait()

"""Pipelines benchmark: the same DAGs through Prefect 3 and Shipyard's pipelines, in one run.

Usage::

    python bench/pipelines.py                 # full sizes (~8 min)
    python bench/pipelines.py --quick         # small sizes, a smoke run (~2.5 min)
    python bench/pipelines.py --runs 3        # timed repeats per measurement (default 5)
    python bench/pipelines.py --only 1,4      # some scenarios only
    python bench/pipelines.py --no-processes  # skip Prefect's ProcessPoolTaskRunner

Scenarios (the issue's goals in brackets):

1. A chain of 100 steps that do nothing, one after the other, on the default local executor
   (Shipyard: ``@sy.step`` functions in a ``@sy.pipeline``, worker processes; Prefect:
   ``@task``s submitted to the flow's default ``ThreadPoolTaskRunner``, each taking the
   previous future): the overhead per step [Shipyard < 5 ms per step and >= 10x faster than
   Prefect]. Given as the whole run over 100 and as the marginal cost, (T(100) - T(1)) / 99;
   Prefect's plain task calls (no task runner) are a reference row.
2. A fan-out / fan-in: one source, 500 independent steps, one step combining the 500
   outputs [completes]: wall time, and the peak resident memory of the process tree
   (coordinator + workers; for Prefect, the flow's process, its temporary API server and
   any pool processes). Prefect with its ``ThreadPoolTaskRunner`` and its
   ``ProcessPoolTaskRunner``.
3. The same fan-out (and the chain) on a local Ray cluster through ``executor="ray"``:
   overhead per step. Skipped, with the reason, while the Ray executor is not there.
4. A cached re-run of the 100-step chain [< 1 s]: Shipyard's default caching against
   Prefect's ``cache_policy=INPUTS + TASK_SOURCE`` (its closest to Shipyard's key: the
   step's code and its inputs).

Each tool runs in fresh processes of its own (``_pipelines_sy.py``, ``_pipelines_pf.py``),
one per group of scenarios, so that neither's memory or imports weigh on the other; every
process warms up (a one-step chain, a 10-step fan-out) before timing, and that first run's
cost is a row of its own. Before each timed run the child waits until the processes below it
are idle (Prefect's server records events in the background: back-to-back runs were up to
4x slower). Everything is written under one temporary folder, removed at the end (``--keep``
keeps it, with each child's stderr in ``logs/``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from _common import (
    OtherLoad,
    exit_on_sigterm,
    fill_defaults,
    fmt_s,
    log,
    scenario_numbers,
    source_state,
    temp_folder,
)

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"

#: Prefect's settings in its processes (all other PREFECT_* variables are dropped).
PREFECT_ENV = {
    "PREFECT_SERVER_ALLOW_EPHEMERAL_MODE": "true",  # its default profile's: a temporary server
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_LOGGING_LEVEL": "WARNING",  # console only; logs still go to its API
    "DO_NOT_TRACK": "1",
}


@dataclass
class Line:
    """One line of the result table."""

    scenario: str
    prefect: str
    shipyard: str
    ratio: float | None = None  # Prefect over Shipyard (> 1: Shipyard is faster / smaller)
    goal: str = ""
    met: bool | None = None
    notes: str = ""


# -- children -------------------------------------------------------------------------------


def child(root: Path, tool: str, name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run job ``name`` in a child process of ``tool`` (shipyard or prefect); its answer."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "SHIPYARD_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), *filter(None, [env.get("PYTHONPATH")])])
    home = root / tool / name
    home.mkdir(parents=True)
    (root / "logs").mkdir(exist_ok=True)
    if tool == "shipyard":
        env |= {
            "SHIPYARD_HOME": str(home),
            "SHIPYARD_DB_URL": f"sqlite:///{home / 'shipyard.db'}",
            "SHIPYARD_ARTIFACTS_URL": str(home / "artifacts"),
        }
    else:
        env |= {**PREFECT_ENV, "PREFECT_HOME": str(home)}
    job = {"steps": args.steps, "fanout": args.fanout, "runs": args.runs, "budget": args.budget}
    job |= JOBS[name]
    with contextlib.ExitStack() as stack:
        if job.pop("standing_server", False):
            pid, url = stack.enter_context(standing_server(root, home, env))
            env["PREFECT_API_URL"] = url
            job["server_pids"] = [pid]
        return run_child(root, tool, name, home, env, job, args.timeout)


def run_child(
    root: Path,
    tool: str,
    name: str,
    home: Path,
    env: dict[str, str],
    job: dict[str, Any],
    timeout: float,
) -> dict[str, Any]:
    """Start the child script on ``job`` and wait for its JSON line."""
    script = HERE / ("_pipelines_sy.py" if tool == "shipyard" else "_pipelines_pf.py")
    errors = root / "logs" / f"{tool}-{name}.err"
    log(f"  {tool} {name}: {json.dumps(job)}")
    with errors.open("w") as err:
        done = subprocess.run(
            [sys.executable, str(script), json.dumps(job)],
            cwd=home,
            env=env,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            timeout=timeout,
        )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = "".join(errors.read_text().splitlines(keepends=True)[-15:])
        raise RuntimeError(f"{tool} {name} failed (exit {done.returncode}):\n{tail}")
    return dict(json.loads(lines[-1]))


JOBS: dict[str, dict[str, Any]] = {
    "chain": {"scenarios": ["chain", "cached"]},
    "fan-local": {"scenarios": ["fan"], "executor": "local"},
    "fan-threads": {"scenarios": ["fan"], "runner": "threads"},
    # a process pool's processes cannot reach the temporary server of the process that
    # started them (each would start its own): this job runs against `prefect server start`
    "fan-processes": {"scenarios": ["fan"], "runner": "processes", "standing_server": True},
    "ray": {"scenarios": ["chain", "fan"], "executor": "ray"},
}


@contextlib.contextmanager
def standing_server(root: Path, home: Path, env: dict[str, str]) -> Iterator[tuple[int, str]]:
    """``prefect server start`` on 127.0.0.1 for the block: (its pid, its API URL)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--analytics-off"]
    with (root / "logs" / "prefect-server.log").open("w") as out:
        server = subprocess.Popen(
            command, cwd=home, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"prefect server start did not come up (exit {server.poll()})")
            time.sleep(0.5)
        log(f"  prefect server start: {url} (pid {server.pid})")
        yield server.pid, url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


# -- figures ------------------------------------------------------------------------------


def med(samples: list[float]) -> float:
    """The median."""
    return statistics.median(samples)


def spread(samples: list[float]) -> str:
    """``n=5, 1.2 ms–3.4 ms``."""
    if len(samples) == 1:
        return "n=1"
    return f"n={len(samples)}, {fmt_s(min(samples))}–{fmt_s(max(samples))}"


def mib(kib: float) -> str:
    """KiB as MiB."""
    return f"{kib / 1024:,.0f} MiB"


def chain_lines(sy: dict[str, Any], pf: dict[str, Any], steps: int) -> list[Line]:
    """Rows 0 and 1: the first run, and the chain's overhead per step."""
    sc, pc = sy["chain"], pf["chain"]
    sy_step, pf_step = med(sc["chain"]) / steps, med(pc["chain"]) / steps
    sy_marg = (med(sc["chain"]) - med(sc["one"])) / (steps - 1)
    pf_marg = (med(pc["chain"]) - med(pc["one"])) / (steps - 1)
    calls_step = med(pc["calls"]) / steps
    goal = "Shipyard <5 ms/step and ≥10×"
    return [
        Line(
            "0. first run after the import: a one-step chain (Prefect starts its temporary "
            "server here)",
            fmt_s(pf["first_s"]),
            fmt_s(sy["first_s"]),
            pf["first_s"] / sy["first_s"],
            notes=f"import {fmt_s(pf['import_s'])} | import {fmt_s(sy['import_s'])} (lazy)",
        ),
        Line(
            f"1. chain of {steps} no-op steps, per step = whole run / {steps}",
            fmt_s(pf_step),
            fmt_s(sy_step),
            pf_step / sy_step,
            goal,
            sy_step < 0.005 and pf_step / sy_step >= 10,
            f"run {fmt_s(med(pc['chain']))} ({spread(pc['chain'])}) | "
            f"run {fmt_s(med(sc['chain']))} ({spread(sc['chain'])})",
        ),
        Line(
            f"1b. same, marginal per step = (T({steps}) − T(1)) / {steps - 1}",
            fmt_s(pf_marg),
            fmt_s(sy_marg),
            pf_marg / sy_marg if sy_marg > 0 else None,
            goal,
            sy_marg < 0.005 and sy_marg > 0 and pf_marg / sy_marg >= 10,
            f"T(1) {fmt_s(med(pc['one']))} ({spread(pc['one'])}) | "
            f"T(1) {fmt_s(med(sc['one']))} ({spread(sc['one'])})",
        ),
        Line(
            f"1c. reference: Prefect plain task calls (no task runner), per step = run / {steps}",
            fmt_s(calls_step),
            fmt_s(sy_step),
            calls_step / sy_step,
            notes=f"run {fmt_s(med(pc['calls']))}, T(1) {fmt_s(med(pc['calls_one']))} "
            f"({spread(pc['calls'])})",
        ),
    ]


def fan_lines(label: str, sy: dict[str, Any], pf: dict[str, Any], width: int) -> list[Line]:
    """Rows 2: the fan-out's wall time and peak memory."""
    sf, pff = sy["fan"], pf["fan"]
    sy_peak = max(m["peak_kib"] for m in sf["memory"])
    pf_peak = max(m["peak_kib"] for m in pff["memory"])
    sy_before = min(m["before_kib"] for m in sf["memory"])
    pf_before = min(m["before_kib"] for m in pff["memory"])
    return [
        Line(
            f"{label}. fan-out/in of {width} steps (+ source + combine): wall time",
            fmt_s(med(pff["samples"])),
            fmt_s(med(sf["samples"])),
            med(pff["samples"]) / med(sf["samples"]),
            "completes",
            True,
            f"{spread(pff['samples'])} | {spread(sf['samples'])}",
        ),
        Line(
            f"{label}m. same: peak RSS of the process tree",
            mib(pf_peak),
            mib(sy_peak),
            pf_peak / sy_peak,
            notes=f"{mib(pf_before)} before the run | {mib(sy_before)} before the run",
        ),
    ]


def ray_lines(ray: dict[str, Any], steps: int, width: int) -> list[Line]:
    """Rows 3: Shipyard on a local Ray cluster."""
    chain_step = med(ray["chain"]["chain"]) / steps
    fan = ray["fan"]
    fan_s = med(fan["samples"])
    peak = max(m["peak_kib"] for m in fan["memory"])
    return [
        Line(
            f"3. Ray: chain of {steps} no-op steps, per step = run / {steps}",
            "—",
            fmt_s(chain_step),
            notes=f"first run (starts Ray) {fmt_s(ray['first_s'])}; "
            f"run {fmt_s(med(ray['chain']['chain']))} ({spread(ray['chain']['chain'])})",
        ),
        Line(
            f"3b. Ray: fan-out/in of {width}: wall time (per step)",
            "—",
            f"{fmt_s(fan_s)} ({fmt_s(fan_s / (width + 2))})",
            goal="completes",
            met=True,
            notes=f"peak RSS of the process tree {mib(peak)}; {spread(fan['samples'])}",
        ),
    ]


def cached_lines(sy: dict[str, Any], pf: dict[str, Any], steps: int) -> list[Line]:
    """Row 4: the cached re-run."""
    sc, pc = sy["cached"], pf["cached"]
    return [
        Line(
            f"4. cached re-run of the {steps}-step chain (every step a cache hit)",
            fmt_s(med(pc["samples"])),
            fmt_s(med(sc["samples"])),
            med(pc["samples"]) / med(sc["samples"]),
            "Shipyard <1 s",
            med(sc["samples"]) < 1.0,
            f"cold run {fmt_s(pc['cold'])}; {spread(pc['samples'])} | "
            f"cold run {fmt_s(sc['cold'])}; {spread(sc['samples'])}",
        )
    ]


# -- the run ------------------------------------------------------------------------------


def run_all(root: Path, args: argparse.Namespace) -> tuple[list[Line], list[str]]:
    """Every scenario asked for; the table's lines and the skip messages."""
    lines: list[Line] = []
    skipped: list[str] = []
    steps, width = args.steps, args.fanout
    if args.only & {1, 4}:
        log(f"Scenarios 1 and 4: chains of {steps} steps")
        sy = child(root, "shipyard", "chain", args)
        pf = child(root, "prefect", "chain", args)
        if 1 in args.only:
            lines += chain_lines(sy, pf, steps)
    if 2 in args.only:
        log(f"Scenario 2: fan-out/in of {width}")
        sy_fan = child(root, "shipyard", "fan-local", args)
        lines += fan_lines("2", sy_fan, child(root, "prefect", "fan-threads", args), width)
        if args.processes:
            pf_proc = child(root, "prefect", "fan-processes", args)
            rows = fan_lines("2b", sy_fan, pf_proc, width)
            rows[0].scenario += " — Prefect ProcessPoolTaskRunner"
            lines += rows
        else:
            skipped.append("Prefect's ProcessPoolTaskRunner (--no-processes)")
    if 3 in args.only:
        log("Scenario 3: Shipyard on a local Ray cluster")
        ray = child(root, "shipyard", "ray", args)
        if "unavailable" in ray:
            skipped.append(
                f"3 (Ray executor): {ray['unavailable']} Re-run with --only 3 once "
                "shipyard.pipelines' ray executor is in."
            )
        else:
            lines += ray_lines(ray, steps, width)
    if 4 in args.only:
        lines += cached_lines(sy, pf, steps)
    return lines, skipped


def print_table(
    lines: list[Line], skipped: list[str], args: argparse.Namespace, wall: float, load: str
) -> None:
    """The table, the set-up lines and the footer."""
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 170)
    table = Table(title="Pipelines: Prefect 3 vs Shipyard (same machine, one run)")
    table.add_column("Scenario", overflow="fold", ratio=3)
    table.add_column("Prefect", justify="right", no_wrap=True)
    table.add_column("Shipyard", justify="right", no_wrap=True)
    table.add_column("Prefect ÷ Shipyard", justify="right", no_wrap=True)
    table.add_column("Goal", overflow="fold")
    table.add_column("Result", no_wrap=True)
    table.add_column("Notes (Prefect | Shipyard)", overflow="fold", ratio=2)
    for line in lines:
        table.add_row(
            line.scenario,
            line.prefect,
            line.shipyard,
            f"{line.ratio:,.1f}×" if line.ratio else "—",
            line.goal or "—",
            {True: "[green]met[/]", False: "[red]missed[/]", None: "—"}[line.met],
            line.notes,
        )
    console.print(table)
    console.print(
        "Times are medians of the repeats in Notes (n=...); each timed run starts on an idle "
        "machine (Prefect's server done with earlier events). Ratios > 1: Shipyard is faster "
        "or smaller."
    )
    for what, value in setup_lines(args):
        console.print(f"  setup: {what}: {value}")
    for what in skipped:
        console.print(f"  [yellow]skipped[/]: {what}")
    quick = "--quick; " if args.quick else ""
    console.print(
        f"{versions(args.source)}; {quick}--steps {args.steps}, --fanout {args.fanout}, "
        f"--runs {args.runs}, --budget {args.budget:g}s; total wall time {wall:.0f} s; {load}"
    )


def setup_lines(args: argparse.Namespace) -> list[tuple[str, str]]:
    """How each tool was set up."""
    return [
        (
            "Prefect",
            "fresh PREFECT_HOME per process, PREFECT_API_URL unset: its temporary local "
            "server (uvicorn subprocess on 127.0.0.1, SQLite in PREFECT_HOME), analytics off, "
            "console log level WARNING (logs still sent to its API); other settings default",
        ),
        (
            "Prefect task runners",
            "chain: the flow's default ThreadPoolTaskRunner (.submit with the previous "
            "future); fan-out: ThreadPoolTaskRunner() (thread count unbounded, its default) "
            f"and ProcessPoolTaskRunner() ({os.cpu_count()} processes, its default) against "
            "a standing `prefect server start` on 127.0.0.1 (same SQLite default; its "
            "memory counted): a pool process cannot reach the temporary server of the "
            "process that started it and would start its own",
        ),
        ("Prefect cache", "cache_policy=INPUTS + TASK_SOURCE (results persisted to PREFECT_HOME)"),
        (
            "Shipyard",
            "fresh SHIPYARD_HOME per process (SQLite, local artifacts), executor='local' "
            f"({os.cpu_count()} worker processes, its default), caching on (its default; "
            "new inputs on every timed run, so no hits but in scenario 4)",
        ),
        ("Peak memory", "summed RSS of the process and all its descendants, sampled every 20 ms"),
    ]


def versions(source: str) -> str:
    """Python, Prefect, Shipyard and Ray versions, CPUs."""

    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    return (
        f"Python {platform.python_version()}, Prefect {version('prefect')}, "
        f"Shipyard ({source}), Ray {version('ray')}, {os.cpu_count()} CPUs"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--steps", type=int, help="chain length (default 100, quick 20)")
    parser.add_argument("--fanout", type=int, help="fan-out width (default 500, quick 50)")
    parser.add_argument(
        "--runs", type=int, help="timed repeats per measurement (default 5, quick 2)"
    )
    parser.add_argument(
        "--budget",
        type=float,
        help="seconds after which a measurement stops repeating (default 120, quick 20)",
    )
    parser.add_argument("--only", help="comma-separated scenario numbers to run, e.g. 1,4")
    parser.add_argument(
        "--no-processes",
        dest="processes",
        action="store_false",
        help="skip Prefect's ProcessPoolTaskRunner fan-out",
    )
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per child process")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    args = parser.parse_args(argv)
    quick = args.quick
    defaults = {
        "steps": 20 if quick else 100,
        "fanout": 50 if quick else 500,
        "runs": 2 if quick else 5,
        "budget": 20.0 if quick else 120.0,
    }
    fill_defaults(args, defaults)
    args.only = scenario_numbers(args.only, (1, 2, 3, 4))
    if args.steps < 2 or args.fanout < 1 or args.runs < 1:
        parser.error("--steps must be at least 2, --fanout and --runs at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.source = source_state()
    exit_on_sigterm()
    wall = time.perf_counter()
    load = OtherLoad()
    with temp_folder("shipyard-bench-pipelines-", args.keep) as root:
        log(f"Working in {root}")
        lines, skipped = run_all(root, args)
    print_table(lines, skipped, args, time.perf_counter() - wall, load.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Helpers shared by the benchmark scripts: timing, the result table, temp folders, set-up.

The scripts run as ``python bench/<name>.py``, so this folder is on ``sys.path`` and they
import it as ``from _common import ...``. Only the standard library is imported at module
level: ``data.py``'s workers import this module in a virtual environment that has neither
Shipyard nor rich.
"""

from __future__ import annotations

import argparse
import gc
import logging
import math
import os
import platform
import re
import resource
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# -- measuring -----------------------------------------------------------------------------


@dataclass
class Timing:
    """Seconds of each timed repeat (or, for ``latency``, of each call)."""

    samples: list[float]
    latency: bool = False

    @property
    def median(self) -> float:
        """The median sample (p50)."""
        return statistics.median(self.samples)

    @property
    def p99(self) -> float:
        """The 99th percentile sample (nearest rank)."""
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]

    @property
    def n(self) -> int:
        """How many samples."""
        return len(self.samples)

    def cell(self) -> str:
        """The table cell: the median, or for ``latency`` p50 / p99."""
        if self.latency:
            return f"{fmt_s(self.median)} / {fmt_s(self.p99)}"
        return fmt_s(self.median)

    def spread(self) -> str:
        """For the Notes column: the count and, for repeats, the range."""
        if self.latency:
            return f"{self.n:,} calls"
        if self.n == 1:
            return "n=1"
        return f"n={self.n}, {fmt_s(min(self.samples))}–{fmt_s(max(self.samples))}"


def peak_kib() -> int:
    """This process's peak resident memory (KiB) since start or the last :func:`reset_peak`."""
    try:
        status = Path("/proc/self/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+)", status)[1])  # type: ignore[index]
    except (OSError, TypeError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def reset_peak() -> bool:
    """Restart the peak memory count (Linux); False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def settle() -> None:
    """Collect garbage, then freeze what survives (``gc.freeze``) before timing.

    With MLflow, torch (which skops's import pulls in through scikit-learn) and the rest
    loaded, a full ``gc.collect()`` walks a heap of millions of objects (~0.1 s) and leaves
    the CPU caches cold: the next sub-millisecond call then runs up to 10x slower (a
    40 µs SQLAlchemy query took 400 µs). Frozen objects are skipped by the collector, so
    the ``gc.collect()`` before each repeat only walks what was made since.
    """
    gc.collect()
    gc.freeze()


def measure(
    timed: Callable[[], float], repeats: int, budget: float, *, freeze: bool = False
) -> Timing:
    """Call ``timed`` (which returns the seconds it measured) up to ``repeats`` times.

    Stops early once ``budget`` seconds are spent, after at least one repeat. With
    ``freeze``, :func:`settle` runs first.
    """
    if freeze:
        settle()
    samples: list[float] = []
    deadline = time.perf_counter() + budget
    while len(samples) < repeats:
        gc.collect()
        samples.append(timed())
        if time.perf_counter() > deadline:
            break
    return Timing(samples)


def timed_call(fn: Callable[[], Any]) -> Callable[[], float]:
    """``fn`` wrapped so that it returns its own wall time."""

    def run() -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    return run


def interleaved(
    fns: dict[str, Callable[[], Any]], repeats: int, before: Callable[[], Any] | None = None
) -> dict[str, Timing]:
    """Time each of ``fns`` ``repeats`` times, in rounds (one call of each per round), so
    that a slow spell of the machine falls on all of them alike. ``before`` runs untimed
    before each call."""
    settle()
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for key, fn in fns.items():
            if before is not None:
                before()
            gc.collect()
            start = time.perf_counter()
            fn()
            samples[key].append(time.perf_counter() - start)
    return {k: Timing(v) for k, v in samples.items()}


def latencies(
    fns: dict[str, Callable[[int], Any]], calls: int, rounds: int, warmup: int
) -> dict[str, Timing]:
    """Per-call seconds of ``calls`` calls of each of ``fns`` (called with the call number).

    After ``warmup`` untimed calls each, the calls run in ``rounds`` blocks, the functions
    taking turns block by block.
    """
    for fn in fns.values():
        for i in range(warmup):
            fn(i)
    settle()
    samples: dict[str, list[float]] = {k: [] for k in fns}
    block = max(1, calls // rounds)
    clock = time.perf_counter
    for r in range(rounds):
        for key, fn in fns.items():
            out = samples[key]
            gc.collect()
            for i in range(r * block, (r + 1) * block):
                start = clock()
                fn(i)
                out.append(clock() - start)
    return {k: Timing(v, latency=True) for k, v in samples.items()}


class OtherLoad:
    """CPU time the rest of the machine used since this was made (Linux ``/proc/stat``).

    The machine's cores are shared: anything else running skews the figures (OpenMP in
    scikit-learn's tree predictors spins on a busy core), so the output says how much ran.
    """

    def __init__(self) -> None:
        self.start = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float] | None:
        """(machine busy CPU-s, this process's and its children's CPU-s, monotonic s)."""
        try:
            fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        except OSError:
            return None
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
        busy = (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
        mine = os.times()
        return (
            busy,
            mine.user + mine.system + mine.children_user + mine.children_system,
            (time.monotonic()),
        )

    def summary(self) -> str:
        """Other processes' CPU-seconds since this was made, and the share of one core."""
        end = self._sample()
        if self.start is None or end is None:
            return "other processes' CPU use unknown"
        others = max(0.0, (end[0] - self.start[0]) - (end[1] - self.start[1]))
        wall = end[2] - self.start[2]
        return (
            f"other processes used {others:.1f} CPU-s in {wall:.0f} s "
            f"({100 * others / wall:.0f}% of one core)"
        )


# -- process trees: memory and CPU of a process and everything it started ------------------


def process_tree(root: int) -> list[int]:
    """``root`` and every process below it (psutil when installed, else Linux ``/proc``)."""
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        try:
            proc = psutil.Process(root)
            return [root, *(p.pid for p in proc.children(recursive=True))]
        except psutil.Error:
            return []
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(parents.get(pid, ()))
    return found


def _proc_field(pid: int, name: str) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    match = re.search(rf"^{name}:\s+(\d+)", status, re.MULTILINE)
    return int(match[1]) if match else 0


def tree_rss_kib(root: int) -> int:
    """The resident memory (KiB) of ``root`` and every process below it, summed."""
    return sum(_proc_field(pid, "VmRSS") for pid in process_tree(root))


def tree_cpu_s(root: int, *, below_only: bool = False) -> float:
    """CPU-seconds used so far by the processes below ``root`` (and ``root`` itself)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in process_tree(root):
        if below_only and pid == root:
            continue
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime + stime
    return total


class PeakTreeMemory:
    """Samples the summed RSS of process trees in a thread while in the ``with`` block.

    ``roots`` (default: this process) and everything below them. The peak is of the sum, as
    sampled every ``interval`` seconds (a spike shorter than that can be missed).
    """

    def __init__(self, roots: Sequence[int] = (), interval: float = 0.02) -> None:
        self.roots = list(roots) or [os.getpid()]
        self.interval = interval
        self.peak_kib = 0
        self.samples = 0

    def __enter__(self) -> PeakTreeMemory:
        import threading

        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while True:
            total = sum(tree_rss_kib(root) for root in self.roots)
            self.peak_kib = max(self.peak_kib, total)
            self.samples += 1
            if self._stop.wait(self.interval):
                break


def wait_quiet(extra: Sequence[int] = (), *, window: float = 0.5, limit: float = 30.0) -> float:
    """Wait until the processes below this one (and the trees of ``extra``) use under 5% of
    a core over ``window`` s (background work of an earlier run, e.g. a server's event
    queue); the seconds waited, at most ``limit``."""

    def used() -> float:
        below = tree_cpu_s(os.getpid(), below_only=True)
        return below + sum(tree_cpu_s(pid) for pid in extra)

    start = time.perf_counter()
    last = used()
    while time.perf_counter() - start < limit:
        time.sleep(window)
        now = used()
        if now - last < 0.05 * window:
            break
        last = now
    return time.perf_counter() - start


# -- formatting and logging ----------------------------------------------------------------


def fmt_s(seconds: float) -> str:
    """Seconds in µs, ms or s."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def fmt_rate(count: float, seconds: float, unit: str) -> str:
    """``count`` per second, e.g. ``12,345 values/s``."""
    return f"{count / seconds:,.0f} {unit}/s"


def fmt_kb(size: int) -> str:
    """Bytes in KB."""
    return f"{size / 1024:,.0f} KB"


def log(message: str) -> None:
    """A progress line on stderr, with the time."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- results: MLflow vs Shipyard -----------------------------------------------------------


@dataclass
class Row:
    """One line of the result table."""

    scenario: str
    mlflow: Timing | None
    shipyard: Timing | None
    mlflow_note: str = ""
    shipyard_note: str = ""
    goal: str = ""
    met: bool | None = None  # None: no goal for this row

    @property
    def speedup(self) -> float | None:
        """MLflow's median over Shipyard's, when both were timed."""
        if self.mlflow is None or self.shipyard is None:
            return None
        return self.mlflow.median / self.shipyard.median


@dataclass
class Report:
    """The rows, and the set-up and skip lines printed under the table."""

    rows: list[Row] = field(default_factory=list)
    setup: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def add(self, row: Row) -> Row:
        """Keep ``row`` and log it."""
        self.rows.append(row)
        ml = row.mlflow.cell() if row.mlflow else "—"
        sy = row.shipyard.cell() if row.shipyard else "—"
        ratio = f" ({row.speedup:,.1f}×)" if row.speedup else ""
        log(f"  {row.scenario}: MLflow {ml}, Shipyard {sy}{ratio}")
        return row


def print_report(report: Report, *, title: str, width: int, legend: str, footer: str) -> None:
    """The table (``width`` columns when stdout is not a terminal), then ``legend``, the
    set-up and skip lines, and ``footer``."""
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else width)
    table = Table(title=title)
    table.add_column("Scenario", overflow="fold", ratio=3)
    table.add_column("MLflow", justify="right", no_wrap=True)
    table.add_column("Shipyard", justify="right", no_wrap=True)
    table.add_column("Speed-up", justify="right", no_wrap=True)
    table.add_column("Goal", overflow="fold")
    table.add_column("Result", no_wrap=True)
    table.add_column("Notes (MLflow | Shipyard)", overflow="fold", ratio=2)
    for row in report.rows:
        speedup = f"{row.speedup:,.1f}×" if row.speedup else "—"
        result = {True: "[green]met[/]", False: "[red]missed[/]", None: "—"}[row.met]
        table.add_row(
            row.scenario,
            row.mlflow.cell() if row.mlflow else "—",
            row.shipyard.cell() if row.shipyard else "—",
            speedup,
            row.goal or "—",
            result,
            " | ".join(x for x in (row.mlflow_note, row.shipyard_note) if x),
        )
    console.print(table)
    console.print(legend)
    for what, value in report.setup:
        console.print(f"  setup: {what}: {value}")
    for what in report.skipped:
        console.print(f"  [yellow]skipped[/]: {what}")
    console.print(footer)


def versions(source: str, extra: Sequence[tuple[str, str]] = ()) -> str:
    """``Python …, MLflow …, Shipyard … (source), <extra>, SQLAlchemy …, SQLite …, N CPUs``.

    ``extra`` holds (name, version) pairs.
    """
    import mlflow
    import sqlalchemy

    import shipyard

    parts = [
        f"Python {platform.python_version()}",
        f"MLflow {mlflow.__version__}",
        f"Shipyard {shipyard.__version__} ({source})",
        *(f"{name} {version}" for name, version in extra),
        f"SQLAlchemy {sqlalchemy.__version__}",
        f"SQLite {sqlite3.sqlite_version}",
        f"{os.cpu_count()} CPUs",
    ]
    return ", ".join(parts)


def source_state() -> str:
    """The git commit of the Shipyard source benchmarked, and whether it had local edits."""
    folder = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return "git unknown"
    return f"git {out.stdout.strip()}" if out.returncode == 0 else "git unknown"


# -- arguments -----------------------------------------------------------------------------


def fill_defaults(args: argparse.Namespace, defaults: dict[str, Any]) -> None:
    """Set each option of ``defaults`` that was not given (``None``) to its default."""
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)


def scenario_numbers(
    only: str | None, every: Iterable[int], always: Iterable[int] = ()
) -> set[int]:
    """The scenarios to run: ``--only``'s comma-separated numbers and ``always``, or ``every``."""
    if not only:
        return set(every)
    return {int(x) for x in only.split(",")} | set(always)


# -- set-up: the process, temp folders, stores -----------------------------------------------


def no_mlflow_telemetry() -> None:
    """No MLflow telemetry, no outbound network: call before MLflow is imported anywhere."""
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    os.environ["DO_NOT_TRACK"] = "true"


def quiet_mlflow(level: int) -> None:
    """Import MLflow (first, so its logging set-up can be quietened), then quieten it."""
    import mlflow  # noqa: F401

    logging.getLogger("mlflow").setLevel(level)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", module="mlflow")


def exit_on_sigterm() -> None:
    """A kill (SIGTERM, e.g. from ``timeout``) exits normally, so temp folders are removed."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


@contextmanager
def temp_folder(prefix: str, keep: bool) -> Iterator[Path]:
    """A new temporary folder for the block, removed afterwards unless ``keep``.

    If Shipyard was imported, its settings are reset first, closing its connections
    before the folder goes.
    """
    root = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield root
    finally:
        config = sys.modules.get("shipyard.config")
        if config is not None:
            config.reset_settings()
        if keep:
            log(f"Kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


@contextmanager
def inside(folder: Path) -> Iterator[None]:
    """Work from ``folder`` (the current directory) for the block."""
    previous = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


class Workspace:
    """One temp folder: MLflow's stores under ``mlflow/``, Shipyard's under ``shipyard/``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def shipyard(self, name: str = "") -> Path:
        """Point Shipyard's settings at a new store, ``shipyard/<name>`` (or ``shipyard``)."""
        from shipyard.config import reset_settings

        home = self.root / "shipyard" / name
        home.mkdir(parents=True)
        os.environ["SHIPYARD_HOME"] = str(home)
        os.environ["SHIPYARD_DB_URL"] = f"sqlite:///{home / 'shipyard.db'}"
        os.environ["SHIPYARD_ARTIFACTS_URL"] = str(home / "artifacts")
        os.environ.pop("SHIPYARD_CONFIG", None)
        reset_settings()
        return home

    def mlflow(
        self, name: str = "", *, experiment: str = "", registry: bool = False
    ) -> tuple[Any, str, str]:
        """A new MLflow SQLite store, ``mlflow/<name>``, and one experiment in it.

        The schema is created by MLflow's client; the experiment is ``experiment`` or
        ``bench-<name>``. With ``registry``, the store is the model registry too.
        Returns (client, tracking URI, experiment id).
        """
        import mlflow
        from mlflow import MlflowClient

        folder = self.root / "mlflow" / name
        folder.mkdir(parents=True)
        uri = f"sqlite:///{folder / 'mlflow.db'}"
        mlflow.set_tracking_uri(uri)
        if registry:
            mlflow.set_registry_uri(uri)
            client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        else:
            client = MlflowClient(tracking_uri=uri)
        experiment_id = client.create_experiment(
            experiment or f"bench-{name}", artifact_location=(folder / "artifacts").as_uri()
        )
        return client, uri, experiment_id


@contextmanager
def workspace(prefix: str, keep: bool) -> Iterator[Workspace]:
    """A :class:`Workspace` on a new :func:`temp_folder`, worked from for the block."""
    with temp_folder(prefix, keep) as root:
        log(f"Working in {root}")
        with inside(root):
            yield Workspace(root)


def table(header: list[str], rows: list[list[str]]) -> str:
    """A markdown table of ``rows`` under ``header``, columns padded to one width."""
    lines = [header, ["---"] * len(header), *rows]
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    out = []
    for line in lines:
        cells = [
            str(c).ljust(w) if c != "---" else "-" * w for c, w in zip(line, widths, strict=True)
        ]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)

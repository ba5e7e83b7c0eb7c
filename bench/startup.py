"""Command-line start-up: `shipyard` against `mlflow` for the same everyday commands.

Each command runs in a fresh interpreter, as a user's shell runs it; the two tools are
interleaved (one Shipyard run, one MLflow run, ...) so that load on the machine hits both
alike. Both read a SQLite store that exists already (created before timing), so the
listings measure start-up and one query, not a migration.

    python bench/startup.py               # 7 runs of each command
    python bench/startup.py --runs 15
    python bench/startup.py --importtime  # also: Shipyard's import self-times, by package

Goal (issue 18): `shipyard --help` and listings start in under 0.3 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

PAIRS = [  # (what, shipyard arguments, mlflow arguments)
    ("--help", ["--help"], ["--help"]),
    ("list experiments", ["experiments", "list"], ["experiments", "search"]),
    ("list models", ["models", "list"], None),
    ("list runs", ["runs", "list", "-e", "bench"], ["runs", "list", "--experiment-id", "0"]),
    ("list datasets", ["data", "list"], None),
]
SHIPYARD = [sys.executable, "-m", "shipyard"]
MLFLOW = [sys.executable, "-m", "mlflow"]


def run(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return took


def prepare(folder: Path) -> dict[str, str]:
    """Both stores created and holding one experiment with one run."""
    env = {
        **os.environ,
        "SHIPYARD_HOME": str(folder / ".shipyard"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        "COLUMNS": "120",
    }
    setup = (
        "import shipyard as sy, mlflow\n"
        "with sy.start_run(experiment='bench') as r: r.log_metric('auc', 0.9)\n"
        "with mlflow.start_run(): mlflow.log_metric('auc', 0.9)\n"
    )
    subprocess.run([sys.executable, "-c", setup], env=env, check=True, capture_output=True)
    return env


def import_self_times(arguments: list[str], env: dict[str, str]) -> Counter[str]:
    """Microseconds of import self-time per top-level package for `shipyard <arguments>`."""
    done = subprocess.run(
        [*SHIPYARD[:1], "-X", "importtime", *SHIPYARD[1:], *arguments],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    totals: Counter[str] = Counter()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "self [us]" not in line:
            self_us, _, name = (part.strip() for part in line[12:].split("|"))
            totals[name.split(".")[0]] += int(self_us)
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--importtime", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="shipyard-bench-startup-") as tmp:
        env = prepare(Path(tmp))
        print(
            f"{'command':<18} {'shipyard median':>16} {'min':>7} {'mlflow median':>14} {'ratio':>6}"
        )
        for what, ours, theirs in PAIRS:
            mine: list[float] = []
            other: list[float] = []
            for _ in range(args.runs):
                mine.append(run([*SHIPYARD, *ours], env))
                if theirs is not None:
                    other.append(run([*MLFLOW, *theirs], env))
            median = statistics.median(mine)
            line = f"{what:<18} {median:>15.3f}s {min(mine):>6.3f}s"
            if other:
                theirs_median = statistics.median(other)
                line += f" {theirs_median:>13.3f}s {theirs_median / median:>5.1f}x"
            print(line)
        if args.importtime:
            for what, ours, _ in PAIRS[:2]:
                totals = import_self_times(ours, env)
                top = ", ".join(f"{name} {us / 1e3:.0f}" for name, us in totals.most_common(8))
                total = sum(totals.values()) / 1e3
                print(f"import self-time, shipyard {what}: {total:.0f} ms ({top})")


if __name__ == "__main__":
    main()

"""Data benchmark: profile 1,000,000 rows × 25 columns, against a Parquet read and ydata-profiling.

Usage::

    python bench/data.py                       # full size (~1 min + ~the anchor's minutes)
    python bench/data.py --rows 200000         # smaller, a smoke run
    python bench/data.py --runs 5              # timed repeats per Shipyard measurement
    python bench/data.py --anchor-python PATH  # the interpreter that has ydata-profiling
    python bench/data.py --no-anchor           # skip the anchor

The data: seeded numpy, 20 numeric columns (normal with 2% NaN, log-normal, uniform
integers, Poisson counts) and 5 string columns (3, 10, 50, 1,000 and 100,000 distinct
values), written once to a Parquet file (snappy) in a temporary folder.

Rows (each measurement runs in a fresh subprocess, after its imports and a warm-up call):

a. the floor: ``pyarrow.parquet.read_table`` of the file;
b. ``shipyard.data._profile.profile(path)``: streams the Parquet file;
c. ``profile(table)`` of the table in memory (read before timing);
d. the anchor: ydata-profiling ``ProfileReport(df, minimal=True).get_description()`` on the
   DataFrame in memory (read before timing), and the same including ``pandas.read_parquet``.
   ydata-profiling does not run on pandas 3, so it runs in its own virtual environment
   (``--anchor-python``; default ``/tmp/anchor-venv/bin/python`` when it exists)::

       python3 -m venv /tmp/anchor-venv
       /tmp/anchor-venv/bin/pip install "pandas<3" ydata-profiling pyarrow

Peak memory is the rise of the process's peak resident set during the timed call: Linux's
``VmHWM``, reset just before it through ``/proc/self/clear_refs`` (``ru_maxrss`` cannot be
reset; it is the fallback elsewhere and then over-reports nothing but under-reports when an
earlier step peaked higher). tracemalloc would miss Arrow's and DuckDB's allocations.

e. ``sy.datasets.register(path)``: the whole registration (read, content hash, schema
   inference, profile, Parquet write into the artifact store, metadata row);
f. registering the same file again: the content hash finds the version; no bytes written.

Goals: register + profile 1M × 25 under 10 s; re-registering under 1 s with no new bytes;
profiling holds at most ~2× the table's Arrow size.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import log, peak_kib, reset_peak, temp_folder

DEFAULT_ANCHOR = Path("/tmp/anchor-venv/bin/python")
GOAL_SECONDS = 10.0
CARDINALITIES = (3, 10, 50, 1_000, 100_000)


# -- measuring inside a worker subprocess (stdlib only at import: the anchor venv runs it) --


def _timed(fn) -> dict:
    """Run ``fn`` once; return its wall time and how much the peak resident set rose."""
    reset = reset_peak()
    before = peak_kib()
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "peak_rise": (peak_kib() - before) * 1024,
        "peak_reset": reset,
        "result": result,
    }


def worker(kind: str, path: str) -> dict:
    """One measurement, in this (fresh) process."""
    if kind == "read":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.read_metadata(path)
        out = _timed(lambda: pq.read_table(path).nbytes)
        out["versions"] = f"pyarrow {pa.__version__}"
        return out
    if kind in ("profile-path", "profile-table"):
        import duckdb
        import pyarrow as pa
        import pyarrow.parquet as pq

        from shipyard.data._profile import profile

        profile(pa.table({"x": [1.0, 2.0], "s": ["a", "b"]}))  # imports, first-call costs
        if kind == "profile-path":
            out = _timed(lambda: _digest(profile(path)))
        else:
            table = pq.read_table(path)
            out = _timed(lambda: _digest(profile(table)))
            out["table_nbytes"] = table.nbytes
        out["versions"] = f"duckdb {duckdb.__version__}, pyarrow {pa.__version__}"
        return out
    if kind in ("register", "reregister"):
        import tempfile

        os.environ["SHIPYARD_HOME"] = tempfile.mkdtemp(prefix="shipyard-bench-home-")
        import shipyard as sy

        sy.datasets.register("warmup", pa_table_small())  # imports, schema, first-call costs
        objects = Path(os.environ["SHIPYARD_HOME"]) / "artifacts" / "objects"

        def stored() -> int:
            return sum(f.stat().st_size for f in objects.rglob("*") if f.is_file())

        if kind == "register":
            out = _timed(lambda: sy.datasets.register("bench", path).rows)
        else:
            first = sy.datasets.register("bench", path)
            before = stored()
            out = _timed(lambda: sy.datasets.register("bench", path).id == first.id)
            out["new_bytes"] = stored() - before
        shutil.rmtree(os.environ["SHIPYARD_HOME"], ignore_errors=True)
        out["versions"] = f"shipyard {sy.__version__}"
        return out
    if kind in ("anchor", "anchor-read"):
        import warnings

        import pandas as pd
        import ydata_profiling

        warnings.filterwarnings("ignore")
        small = pd.DataFrame({"x": [1.0, 2.0, 3.0], "s": ["a", "b", "a"]})
        ydata_profiling.ProfileReport(small, minimal=True, progress_bar=False).get_description()

        def describe(df: pd.DataFrame) -> int:
            report = ydata_profiling.ProfileReport(df, minimal=True, progress_bar=False)
            return len(report.get_description().variables)

        if kind == "anchor-read":
            out = _timed(lambda: describe(pd.read_parquet(path)))
        else:
            df = pd.read_parquet(path)
            out = _timed(lambda: describe(df))
        out["versions"] = f"ydata-profiling {ydata_profiling.__version__}, pandas {pd.__version__}"
        return out
    raise SystemExit(f"unknown worker kind {kind!r}")


def pa_table_small():
    import pyarrow as pa

    return pa.table({"x": [1.0, 2.0], "s": ["a", "b"]})


def _digest(p) -> str:
    """A short fingerprint of a profile without Arrow type names (file and table agree)."""
    import hashlib

    d = p.to_dict()
    for column in d["columns"]:
        column.pop("type")
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]


# -- the driver -----------------------------------------------------------------------------


def make_parquet(path: Path, rows: int, seed: int = 0) -> int:
    """Write the benchmark table to ``path``; return its in-memory (Arrow) size in bytes."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    columns = {}
    for i in range(20):
        if i % 4 == 0:
            values = rng.normal(i, 1 + i, rows)
            values[rng.uniform(size=rows) < 0.02] = np.nan
            columns[f"num_{i:02d}"] = values
        elif i % 4 == 1:
            columns[f"num_{i:02d}"] = rng.lognormal(3, 1, rows)
        elif i % 4 == 2:
            columns[f"num_{i:02d}"] = rng.integers(0, 1_000, rows)
        else:
            columns[f"num_{i:02d}"] = rng.poisson(3, rows)
    for j, card in enumerate(CARDINALITIES):
        labels = np.array([f"c{j}_{k}" for k in range(card)])
        columns[f"cat_{j}"] = labels[rng.integers(0, card, rows)]
    table = pa.table(columns)
    pq.write_table(table, path)
    return int(table.nbytes)


def run_worker(python: str, kind: str, path: Path, timeout: float) -> dict:
    env = {**os.environ, "YDATA_PROFILING_NO_ANALYTICS": "True", "DO_NOT_TRACK": "true"}
    cmd = [python, str(Path(__file__).resolve()), "--worker", kind, "--path", str(path)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"worker {kind} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(python: str, kind: str, path: Path, runs: int, timeout: float) -> dict:
    """Median time of ``runs`` fresh-process measurements, and the largest peak rise."""
    samples = []
    for _ in range(runs):
        samples.append(run_worker(python, kind, path, timeout))
        log(f"  {kind}: {samples[-1]['seconds']:.2f} s")
    times = [s["seconds"] for s in samples]
    return {
        **samples[-1],
        "median": statistics.median(times),
        "range": (min(times), max(times)),
        "n": len(times),
        "peak_rise": max(s["peak_rise"] for s in samples),
    }


def print_table(results: dict, nbytes: int, args: argparse.Namespace, anchor_note: str) -> None:
    sys.stderr.flush()
    floor = results["read"]["median"]
    anchor = results.get("anchor", {}).get("median")
    anchor_read = results.get("anchor-read", {}).get("median")
    rows = [
        ("a", "floor: pyarrow read_table(file)", "read", None),
        ("b", "Shipyard profile(Parquet path)", "profile-path", anchor_read),
        ("c", "Shipyard profile(Arrow table in memory)", "profile-table", anchor),
        (
            "e",
            "Shipyard register(Parquet path): read, hash, schema, profile, store",
            "register",
            anchor_read,
        ),
        ("f", "Shipyard register the same file again (no new bytes)", "reregister", None),
        ("d", "anchor: ydata-profiling minimal, DataFrame in memory", "anchor", None),
        ("d2", "anchor: pandas.read_parquet + ydata-profiling minimal", "anchor-read", None),
    ]
    header = ["Row", "What is timed", "Time (median)", "Peak memory rise", "vs floor", "vs anchor"]
    lines = [header, ["---"] * len(header)]
    for row, what, key, compare in rows:
        r = results.get(key)
        if r is None:
            lines.append([row, what, "skipped", "", "", ""])
            continue
        spread = f" (n={r['n']}, {r['range'][0]:.2f}–{r['range'][1]:.2f})" if r["n"] > 1 else ""
        mem = f"{r['peak_rise'] / 1e6:,.0f} MB ({r['peak_rise'] / nbytes:.2f}× table)"
        vs_floor = f"{r['median'] / floor:.1f}×" if key != "read" else "1.0×"
        vs_anchor = f"{compare / r['median']:.1f}× faster" if compare else "—"
        lines.append([row, what, f"{r['median']:.2f} s{spread}", mem, vs_floor, vs_anchor])
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    for line in lines:
        cells = [
            str(c).ljust(w) if c != "---" else "-" * w for c, w in zip(line, widths, strict=True)
        ]
        print("| " + " | ".join(cells) + " |")
    register = results["register"]["median"]
    again = results["reregister"]
    print(
        f"\nGoal: register + profile {args.rows:,} × 25 under {GOAL_SECONDS:.0f} s: "
        f"{register:.2f} s ({'met' if register < GOAL_SECONDS else 'missed'}). "
        f"Re-registering identical data under 1 s with no new bytes: {again['median']:.3f} s, "
        f"{again['new_bytes']:,} new bytes "
        f"({'met' if again['median'] < 1 and again['new_bytes'] == 0 else 'missed'}). "
        f"Profiling memory under ~2× the Arrow table: "
        f"{results['profile-table']['peak_rise'] / nbytes:.2f}× from memory, "
        f"{results['profile-path']['peak_rise'] / nbytes:.2f}× from the file."
    )
    print(
        "vs floor: time ÷ the Parquet read (a); vs anchor: the anchor's time ÷ Shipyard's "
        "(b against d2, both from the file; c against d, both from memory)."
    )
    same = results["profile-path"]["result"] == results["profile-table"]["result"]
    print(f"Profile from the file and from the table identical (types aside): {same}.")
    print(
        f"Table: {args.rows:,} rows × 25 columns, {nbytes / 1e6:,.0f} MB in Arrow, "
        f"{args.parquet_bytes / 1e6:,.0f} MB as Parquet. Peak memory rise: the growth of the "
        "peak resident set during the call (reset first: "
        f"{'yes' if results['profile-table']['peak_reset'] else 'no, ru_maxrss'})."
    )
    print(
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"{results['profile-table']['versions']}; anchor: {anchor_note}. "
        f"Shipyard times are medians of {args.runs} fresh processes; the anchor runs once."
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="default 1,000,000")
    parser.add_argument("--runs", type=int, default=3, help="repeats per Shipyard row")
    parser.add_argument("--anchor-python", type=Path, default=None, help="ydata-profiling venv")
    parser.add_argument("--no-anchor", action="store_true", help="skip the anchor rows")
    parser.add_argument("--anchor-timeout", type=float, default=1800.0, help="seconds")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.runs < 1 or args.rows < 1:
        parser.error("--runs and --rows must be positive")
    return args


def anchor_python(args: argparse.Namespace) -> tuple[str | None, str]:
    if args.no_anchor:
        return None, "skipped (--no-anchor)"
    python = args.anchor_python or DEFAULT_ANCHOR
    if not Path(python).exists():
        return None, (
            f"skipped: no interpreter at {python} (create it: python3 -m venv /tmp/anchor-venv"
            " && /tmp/anchor-venv/bin/pip install 'pandas<3' ydata-profiling pyarrow)"
        )
    check = subprocess.run(
        [str(python), "-c", "import ydata_profiling"], capture_output=True, text=True
    )
    if check.returncode != 0:
        return None, f"skipped: ydata_profiling does not import with {python}"
    return str(python), str(python)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.path)))
        return 0
    anchor, anchor_note = anchor_python(args)
    if anchor is None:
        log(f"Anchor {anchor_note}")
    with temp_folder("shipyard-bench-data-", args.keep) as root:
        path = root / "bench.parquet"
        log(f"Writing {args.rows:,} × 25 to {path}")
        nbytes = make_parquet(path, args.rows)
        args.parquet_bytes = path.stat().st_size
        results = {}
        for kind in ("read", "profile-path", "profile-table", "register", "reregister"):
            results[kind] = measure(sys.executable, kind, path, args.runs, 600)
        if anchor:
            for kind in ("anchor", "anchor-read"):
                log(f"Anchor {kind} (minutes at full size)")
                results[kind] = measure(anchor, kind, path, 1, args.anchor_timeout)
            anchor_note = f"{results['anchor']['versions']} ({anchor})"
        print_table(results, nbytes, args, anchor_note)
    return 0


if __name__ == "__main__":
    sys.exit(main())

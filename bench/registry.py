"""Registry benchmark: register, alias, load and predict through MLflow and Shipyard, one run.

Usage::

    python bench/registry.py              # full run (~1.5 min on a quiet machine)
    python bench/registry.py --quick      # fewer repeats and calls, a smoke run (~35 s)
    python bench/registry.py --runs 5     # at most 5 timed repeats of the slow measurements
    python bench/registry.py --calls 5000 # one-row predictions per predictor in scenario 4
    python bench/registry.py --only 3,4   # some scenarios only (1 always runs: it registers)
    python bench/registry.py --no-fresh   # skip rows 3f/3g (a new process per load)

The model: a scikit-learn ``HistGradientBoostingClassifier`` (``max_iter=36``, otherwise
defaults, no early stopping) fitted on the 9 numeric columns of
``shipyard.data.make_loans(20_000, seed=0)`` (``employment_years`` has NaN, which the model
handles natively); pickled it is ~137 KB (skops, a zip of its arrays, ~311 KB). Both tools
get the same fitted object. Scenario 4's int8 rows use a second model: ``SimpleImputer`` ->
``StandardScaler`` -> ``MLPClassifier(256, 128)`` on the same columns, as dynamic int8
quantization only pays on float-heavy graphs.

Scenarios (the issue's goals in brackets):

1. Register a version (artifact, signature, environment, run lineage) inside a run: MLflow
   ``mlflow.sklearn.log_model(..., registered_model_name=..., input_example=...,
   skops_trusted_types=...)``, with its default pip-requirement inference and with
   ``pip_requirements`` given; Shipyard ``models.register(name, model, X=, y=, run=run)``
   [Shipyard >= 20x MLflow's default].
2. Move an alias: ``MlflowClient.set_registered_model_alias`` vs ``models.set_alias``
   [Shipyard < 5 ms].
3. Load by alias, cold (for Shipyard ``models.clear_cache()`` before each timed load; MLflow
   has no cache): skops vs skops, pickle vs cloudpickle, and MLflow's pyfunc wrapper; then
   Shipyard's warm repeat load [>= 10x MLflow; warm load near-free]. For reference, a new
   Python process from its first import to a loaded model (off with ``--quick``).
4. One-row predictions through a loaded model, input validation included, p50 and p99 over
   ``--calls`` calls: MLflow pyfunc ``predict`` on a one-row DataFrame against Shipyard native,
   ONNX and int8 (DataFrame and one-record dict, which is what serving passes), with
   scikit-learn's own ``predict_proba`` on a NumPy row and raw ONNX Runtime ``session.run`` as
   floors [Shipyard ONNX p50 < 100 µs and >= 15x MLflow pyfunc].

Everything is written under one temporary folder (MLflow's and Shipyard's stores in separate
sub-folders, MLflow's download folders too), removed at the end (``--keep`` keeps it).
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import pickle
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from _common import (
    OtherLoad,
    Report,
    Row,
    Timing,
    Workspace,
    exit_on_sigterm,
    fill_defaults,
    fmt_kb,
    fmt_s,
    interleaved,
    latencies,
    log,
    measure,
    no_mlflow_telemetry,
    print_report,
    quiet_mlflow,
    scenario_numbers,
    source_state,
    timed_call,
    versions,
    workspace,
)

no_mlflow_telemetry()  # before MLflow is imported anywhere

NAME = "churn"  # the gradient-boosting model, in both registries
MLP_NAME = "churn-mlp"  # the MLP of scenario 4's int8 rows
TRAIN_ROWS = 20_000
HGB_ITERATIONS = 36  # pickled ~140 KB on this data
MLP_LAYERS = (256, 128)
TARGET = "default"
ROW_POOL = 64  # distinct one-row inputs, cycled through in scenario 4


# -- models and inputs ---------------------------------------------------------------------


@dataclass
class Models:
    """The fitted models, their training data and the one-row inputs of scenario 4."""

    X: Any
    y: Any
    hgb: Any
    mlp: Any
    frames: list[Any]  # one-row DataFrames
    records: list[dict[str, Any]]  # the same rows as one-record dicts (JSON-like: NaN -> None)
    arrays: list[Any]  # the same rows as (1, 9) float64 arrays
    trusted: dict[str, list[str]]  # skops types outside its defaults, per model (for MLflow)
    sizes: dict[str, int]
    auc: float


def build_models(args: argparse.Namespace, report: Report) -> Models:
    import numpy as np
    import skops.io as sio
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.impute import SimpleImputer
    from sklearn.metrics import roc_auc_score
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from shipyard.data import make_loans

    start = time.perf_counter()
    df = make_loans(TRAIN_ROWS, seed=0)
    numeric = [
        c for c in df.columns if df[c].dtype.kind in "if" and c not in ("application_id", TARGET)
    ]
    X, y = df[numeric], df[TARGET]
    hgb = HistGradientBoostingClassifier(
        max_iter=HGB_ITERATIONS, early_stopping=False, random_state=0
    ).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = make_pipeline(
            SimpleImputer(),
            StandardScaler(),
            MLPClassifier(MLP_LAYERS, max_iter=args.mlp_epochs, random_state=0),
        ).fit(X, y)
    sizes, trusted = {}, {}
    for key, model in (("hgb", hgb), ("mlp", mlp)):
        skops_bytes = sio.dumps(model)
        sizes[f"{key}-skops"] = len(skops_bytes)
        sizes[f"{key}-pickle"] = len(pickle.dumps(model, protocol=5))
        trusted[key] = sorted(sio.get_untrusted_types(data=skops_bytes))
    auc = float(roc_auc_score(y, hgb.predict_proba(X)[:, 1]))
    report.setup.append(
        (
            f"HistGradientBoostingClassifier(max_iter={HGB_ITERATIONS}) on {len(numeric)} numeric "
            f"columns of make_loans({TRAIN_ROWS:,}, seed=0)",
            f"pickle {fmt_kb(sizes['hgb-pickle'])}, skops {fmt_kb(sizes['hgb-skops'])}; "
            f"train AUC {auc:.3f}",
        )
    )
    report.setup.append(
        (
            f"SimpleImputer -> StandardScaler -> MLPClassifier{MLP_LAYERS} "
            f"(max_iter={args.mlp_epochs})",
            f"pickle {fmt_kb(sizes['mlp-pickle'])}, skops {fmt_kb(sizes['mlp-skops'])}",
        )
    )
    picks = np.random.default_rng(1).choice(len(X), ROW_POOL, replace=False)
    frames = [X.iloc[[int(i)]] for i in picks]
    records = [
        {c: (None if isinstance(v, float) and math.isnan(v) else v) for c, v in row.items()}
        for row in X.iloc[picks].to_dict(orient="records")
    ]
    arrays = [f.to_numpy(dtype=np.float64) for f in frames]
    log(f"Models fitted in {time.perf_counter() - start:.1f} s")
    return Models(X, y, hgb, mlp, frames, records, arrays, trusted, sizes, auc)


# -- MLflow and Shipyard state shared by the scenarios -------------------------------------


@dataclass
class State:
    ml_client: Any = None
    ml_experiment: str = ""
    ml_versions: list[str] = field(default_factory=list)  # MLflow versions of NAME (skops)
    sy_versions: list[int] = field(default_factory=list)  # Shipyard versions of NAME (skops)


def mlflow_requirements() -> list[str]:
    from importlib import metadata

    return [
        f"{name}=={metadata.version(name)}"
        for name in ("scikit-learn", "numpy", "scipy", "skops", "cloudpickle", "pandas")
    ]


def mlflow_log(
    models: Models,
    state: State,
    model: Any,
    key: str,
    *,
    name: str = NAME,
    infer_requirements: bool = True,
    **extra: Any,
) -> tuple[float, str]:
    """``mlflow.sklearn.log_model`` in a new run; (its seconds, the registered version)."""
    import mlflow

    kwargs: dict[str, Any] = {
        "name": "model",
        "registered_model_name": name,
        "input_example": models.X.iloc[:5],
        "skops_trusted_types": models.trusted[key],
        **extra,
    }
    if not infer_requirements:
        kwargs["pip_requirements"] = mlflow_requirements()
    with mlflow.start_run(experiment_id=state.ml_experiment):
        mlflow.log_metric("auc", models.auc)
        start = time.perf_counter()
        info = mlflow.sklearn.log_model(model, **kwargs)
        seconds = time.perf_counter() - start
    return seconds, str(info.registered_model_version)


def shipyard_register(
    models: Models, model: Any, name: str = NAME, **extra: Any
) -> tuple[float, Any]:
    """``models.register`` inside a run; (its seconds, the version)."""
    import shipyard as sy
    from shipyard import models as registry

    with sy.start_run(experiment="bench-registry") as run:
        run.log_metric("auc", models.auc)
        start = time.perf_counter()
        version = registry.register(name, model, X=models.X, y=models.y, run=run, **extra)
        seconds = time.perf_counter() - start
    return seconds, version


# -- scenario 1: register a version ----------------------------------------------------------


def bench_register(
    ws: Workspace, models: Models, state: State, report: Report, args: argparse.Namespace
) -> None:
    log("Scenario 1: register a version inside a run")
    state.ml_client, _, state.ml_experiment = ws.mlflow(experiment="bench-registry", registry=True)

    # Warm-ups (imports, the registered model's creation): one of each kind, untimed.
    mlflow_log(models, state, models.hgb, "hgb")
    mlflow_log(models, state, models.hgb, "hgb", infer_requirements=False)

    def ml_default() -> float:
        seconds, version = mlflow_log(models, state, models.hgb, "hgb")
        state.ml_versions.append(version)
        return seconds

    def ml_given() -> float:
        seconds, version = mlflow_log(models, state, models.hgb, "hgb", infer_requirements=False)
        state.ml_versions.append(version)
        return seconds

    ml = measure(ml_default, args.runs, args.budget, freeze=True)
    ml_pip = measure(ml_given, max(args.runs, 5), args.budget, freeze=True)

    ws.shipyard()
    shipyard_register(models, models.hgb)  # warm-up: store, schema, first imports (skops)

    def sy_register() -> float:
        seconds, version = shipyard_register(models, models.hgb)
        state.sy_versions.append(version.version)
        return seconds

    syt = measure(sy_register, max(args.runs, 10), args.budget, freeze=True)

    # What was stored: the same model, a signature, an environment, the run.
    from shipyard import models as registry

    version = registry.get(f"{NAME}@{state.sy_versions[-1]}")
    assert version.signature is not None and version.signature.names == list(models.X.columns)
    assert version.run_id and version.environment["packages"].get("scikit-learn")
    assert version.sample_digest is not None
    ml_version = state.ml_client.get_model_version(NAME, state.ml_versions[-1])
    assert ml_version.run_id, "MLflow version without its run"
    from mlflow.models import get_model_info

    ml_info = get_model_info(f"models:/{NAME}/{state.ml_versions[-1]}")
    assert ml_info.signature is not None
    report.setup.append(
        (
            "Stored per version",
            f"MLflow: model.skops + MLmodel, signature, input example, requirements files, "
            f"run {ml_version.run_id[:8]}… | Shipyard: {fmt_kb(version.size)} skops, signature "
            f"of {len(version.signature.inputs)} columns, 1,000-row sample, environment "
            f"({len(version.environment['packages'])} packages), run {version.run_id[:8]}…",
        )
    )

    ratio = ml.median / syt.median
    report.add(
        Row(
            "1. register a version inside a run (artifact, signature, environment, lineage) — "
            "MLflow log_model with pip-requirement inference (its default)",
            ml,
            syt,
            f"log_model(registered_model_name=, input_example=, skops_trusted_types=); "
            f"{ml.spread()}",
            f"models.register(X=, y=, run=run); {syt.spread()}",
            "≥20×",
            ratio >= 20,
        )
    )
    report.add(
        Row(
            "1b. reference: MLflow log_model with pip_requirements given (no inference)",
            ml_pip,
            syt,
            f"{len(mlflow_requirements())} pinned requirements; {ml_pip.spread()}",
            "same as row 1",
        )
    )


# -- scenario 2: aliases -------------------------------------------------------------------


def bench_alias(
    ws: Workspace, models: Models, state: State, report: Report, args: argparse.Namespace
) -> None:
    from shipyard import models as registry

    log("Scenario 2: move an alias")
    client = state.ml_client
    ml_pair = state.ml_versions[:2]
    sy_pair = state.sy_versions[:2]
    # Warm-up: the alias exists afterwards, so every timed call moves it.
    client.set_registered_model_alias(NAME, "bench", ml_pair[1])
    registry.set_alias(f"{NAME}@{sy_pair[1]}", "bench")

    count = {"ml": 0, "sy": 0}

    def ml_move() -> None:
        count["ml"] += 1
        client.set_registered_model_alias(NAME, "bench", ml_pair[count["ml"] % 2])

    def sy_move() -> None:
        count["sy"] += 1
        registry.set_alias(f"{NAME}@{sy_pair[count['sy'] % 2]}", "bench")

    timings = interleaved({"ml": ml_move, "sy": sy_move}, args.alias_moves)
    moved = client.get_model_version_by_alias(NAME, "bench").version
    assert str(moved) == ml_pair[count["ml"] % 2], (moved, ml_pair, count)
    assert registry.get(f"{NAME}@bench").version == sy_pair[count["sy"] % 2]
    ml, syt = timings["ml"], timings["sy"]
    report.add(
        Row(
            "2. move an alias to another version",
            ml,
            syt,
            f"MlflowClient.set_registered_model_alias; {ml.spread()}",
            f"models.set_alias; {syt.spread()}",
            "<5 ms",
            syt.median < 0.005,
        )
    )


# -- scenario 3: load by alias ---------------------------------------------------------------


def bench_load(
    ws: Workspace, models: Models, state: State, report: Report, args: argparse.Namespace
) -> None:
    import mlflow
    import numpy as np

    from shipyard import models as registry

    log("Scenario 3: load by alias, cold and warm")
    client = state.ml_client
    # The aliases: skops (each tool's default) and pickle (cloudpickle for MLflow).
    _, ml_pickled = mlflow_log(
        models,
        state,
        models.hgb,
        "hgb",
        infer_requirements=False,
        serialization_format="cloudpickle",
    )
    client.set_registered_model_alias(NAME, "champion", state.ml_versions[0])
    client.set_registered_model_alias(NAME, "pickled", ml_pickled)
    _, sy_pickled = shipyard_register(models, models.hgb, serialization="pickle")
    registry.set_alias(f"{NAME}@{state.sy_versions[0]}", "champion")
    registry.set_alias(sy_pickled.ref, "pickled")
    sy_skops = registry.get(f"{NAME}@champion")
    report.setup.append(
        (
            "Artifacts loaded in scenario 3",
            f"skops {fmt_kb(sy_skops.size)}, pickle {fmt_kb(sy_pickled.size)} (Shipyard; MLflow "
            f"stores the same model with skops / cloudpickle)",
        )
    )

    cold: dict[str, Callable[[], Any]] = {
        "ml-skops": lambda: mlflow.sklearn.load_model(f"models:/{NAME}@champion"),
        "ml-pickle": lambda: mlflow.sklearn.load_model(f"models:/{NAME}@pickled"),
        "ml-pyfunc-skops": lambda: mlflow.pyfunc.load_model(f"models:/{NAME}@champion"),
        "ml-pyfunc-pickle": lambda: mlflow.pyfunc.load_model(f"models:/{NAME}@pickled"),
        "sy-skops": lambda: registry.load(f"{NAME}@champion"),
        "sy-pickle": lambda: registry.load(f"{NAME}@pickled"),
    }
    # Warm-up (imports), and a check that every path gives the model's probabilities.
    expected = models.hgb.predict_proba(models.frames[0])
    for key, fn in cold.items():
        registry.clear_cache()
        loaded = fn()
        if key.startswith("ml-pyfunc"):
            got = loaded.predict(models.frames[0])  # predict: labels
            assert np.array_equal(np.asarray(got), models.hgb.predict(models.frames[0])), key
        else:
            assert np.allclose(loaded.predict_proba(models.frames[0]), expected), key

    timings = interleaved(cold, max(args.runs, args.load_repeats), before=registry.clear_cache)

    registry.clear_cache()
    registry.load(f"{NAME}@champion")  # the one cold load; the timed ones hit the cache
    warm = measure(
        timed_call(lambda: registry.load(f"{NAME}@champion")), args.warm_repeats, args.budget
    )

    for label, ml_key, sy_key, note in (
        (
            "3a. load by alias, cold: skops (each tool's default)",
            "ml-skops",
            "sy-skops",
            "mlflow.sklearn.load_model('models:/…@champion')",
        ),
        (
            "3b. load by alias, cold: pickle (MLflow cloudpickle)",
            "ml-pickle",
            "sy-pickle",
            "mlflow.sklearn.load_model('models:/…@pickled')",
        ),
        (
            "3c. load by alias, cold: MLflow pyfunc wrapper, skops",
            "ml-pyfunc-skops",
            "sy-skops",
            "mlflow.pyfunc.load_model",
        ),
        (
            "3d. load by alias, cold: MLflow pyfunc wrapper, cloudpickle vs Shipyard pickle",
            "ml-pyfunc-pickle",
            "sy-pickle",
            "mlflow.pyfunc.load_model",
        ),
    ):
        ml, syt = timings[ml_key], timings[sy_key]
        report.add(
            Row(
                label,
                ml,
                syt,
                f"{note}; {ml.spread()}",
                f"clear_cache(), models.load; {syt.spread()}",
                "≥10×",
                ml.median / syt.median >= 10,
            )
        )
    report.add(
        Row(
            "3e. load by alias, warm: a repeat load in the process (Shipyard's cache; the alias "
            "is still resolved) vs MLflow skops (no cache: every load is cold)",
            timings["ml-skops"],
            warm,
            "row 3a's figure",
            f"models.load; {warm.spread()}",
            "near-free (<1 ms)",
            warm.median < 0.001,
        )
    )
    if args.fresh:
        uri = mlflow.get_tracking_uri()
        runs: dict[str, list[float]] = {
            k: [] for k in ("ml-skops", "ml-pickle", "sy-skops", "sy-pickle")
        }
        for _ in range(args.fresh_repeats):
            for key in runs:
                tool, alias = key.split("-")
                ref = (f"models:/{NAME}@" if tool == "ml" else f"{NAME}@") + (
                    "champion" if alias == "skops" else "pickled"
                )
                runs[key].append(fresh_load("mlflow" if tool == "ml" else "shipyard", ref, uri))
        for label, kind in (
            ("3f. reference: first load in a new process, imports included: skops", "skops"),
            ("3g. reference: first load in a new process, imports included: pickle", "pickle"),
        ):
            ml, syt = Timing(runs[f"ml-{kind}"]), Timing(runs[f"sy-{kind}"])
            report.add(
                Row(
                    label,
                    ml,
                    syt,
                    f"import mlflow.sklearn + load_model; {ml.spread()}",
                    f"from shipyard import models + load; {syt.spread()}",
                )
            )


FRESH_CHILD = """
import sys, time, warnings
warnings.filterwarnings("ignore")
start = time.perf_counter()
tool, ref = sys.argv[1], sys.argv[2]
if tool == "shipyard":
    from shipyard import models
    models.load(ref)
else:
    import mlflow.sklearn
    mlflow.sklearn.load_model(ref)
print(time.perf_counter() - start)
"""


def fresh_load(tool: str, ref: str, tracking_uri: str) -> float:
    """Seconds a new Python process takes from its first import to a loaded model."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri}
    out = subprocess.run(
        [sys.executable, "-c", FRESH_CHILD, tool, ref],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{tool} load of {ref} in a new process failed:\n{out.stderr[-2000:]}")
    return float(out.stdout.strip().splitlines()[-1])


# -- scenario 4: one-row predictions -------------------------------------------------------


def onnx_floor(data: bytes, loaded: Any, models: Models) -> tuple[Callable[[int], Any], str]:
    """Raw ONNX Runtime on the same ONNX bytes: a session with one thread, inputs built
    before timing from each one-row frame, ``session.run`` all that is timed."""
    import numpy as np
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    types = {
        "tensor(float)": np.float32,
        "tensor(double)": np.float64,
        "tensor(int64)": np.int64,
        "tensor(int32)": np.int32,
        "tensor(bool)": np.bool_,
        "tensor(string)": object,
    }
    inputs = session.get_inputs()
    names = list(models.X.columns)

    def feed(frame: Any) -> dict[str, Any]:
        if len(inputs) == 1:
            return {inputs[0].name: frame[names].to_numpy(dtype=types[inputs[0].type])}
        return {i.name: frame[i.name].to_numpy(dtype=types[i.type]).reshape(-1, 1) for i in inputs}

    feeds = [feed(f) for f in models.frames]
    # Does the floor compute what Shipyard's ONNX predictor returns?
    expected = loaded.predict_proba(models.frames[0])
    outputs = session.run(None, feeds[0])
    same = any(
        isinstance(o, np.ndarray)
        and o.shape == expected.shape
        and np.allclose(o, expected, atol=1e-5)
        for o in outputs
    )
    note = (
        f"{len(inputs)} input(s) {inputs[0].type}; "
        f"{'same probabilities as Shipyard ✓' if same else 'outputs not matched to Shipyard'}"
    )
    run = session.run
    return (lambda i: run(None, feeds[i % ROW_POOL])), note


def bench_predict(
    ws: Workspace, models: Models, state: State, report: Report, args: argparse.Namespace
) -> None:
    import mlflow
    import numpy as np

    from shipyard import models as registry

    log(f"Scenario 4: one-row predictions, {args.calls:,} calls per predictor")
    frames, records, arrays = models.frames, models.records, models.arrays
    n = ROW_POOL

    # MLflow: pyfunc over versions logged with pyfunc_predict_fn="predict_proba" (so both
    # tools return probabilities), pip requirements given (this is set-up, not timed).
    _, v = mlflow_log(
        models,
        state,
        models.hgb,
        "hgb",
        infer_requirements=False,
        pyfunc_predict_fn="predict_proba",
    )
    state.ml_client.set_registered_model_alias(NAME, "proba", v)
    _, v = mlflow_log(
        models,
        state,
        models.mlp,
        "mlp",
        name=MLP_NAME,
        infer_requirements=False,
        pyfunc_predict_fn="predict_proba",
    )
    state.ml_client.set_registered_model_alias(MLP_NAME, "proba", v)
    ml_hgb = mlflow.pyfunc.load_model(f"models:/{NAME}@proba")
    ml_mlp = mlflow.pyfunc.load_model(f"models:/{MLP_NAME}@proba")

    if "champion" not in registry.get(f"{NAME}@{state.sy_versions[0]}").aliases:
        registry.set_alias(f"{NAME}@{state.sy_versions[0]}", "champion")
    _, mlp_version = shipyard_register(models, models.mlp, name=MLP_NAME)
    registry.set_alias(mlp_version.ref, "champion")
    sy_hgb = registry.load(f"{NAME}@champion")
    sy_mlp = registry.load(f"{MLP_NAME}@champion")
    hgb_model, mlp_model = models.hgb, models.mlp

    # ONNX, when Shipyard has it: export (checked against the native model), then load.
    onnx: dict[str, Any] = {}
    onnx_note = ""
    try:
        from shipyard.models._onnx import ExportRefused
    except ImportError as exc:
        onnx_note = f"ONNX rows skipped: {exc}"
    if not onnx_note:
        start = time.perf_counter()
        registry.export(f"{NAME}@champion", "onnx")
        hgb_export = time.perf_counter() - start
        start = time.perf_counter()
        try:
            mlp_info = registry.export(f"{MLP_NAME}@champion", "onnx", quantize="int8")
        except ExportRefused as exc:  # reported; the float rows still run
            report.skipped.append(f"int8 rows: export(quantize='int8') refused: {exc}")
            mlp_info = registry.export(f"{MLP_NAME}@champion", "onnx")
        mlp_export = time.perf_counter() - start
        onnx["hgb"] = registry.load(f"{NAME}@champion", format="onnx")
        onnx["mlp"] = registry.load(f"{MLP_NAME}@champion", format="onnx")
        if "onnx-int8" in mlp_info.exports:
            onnx["mlp8"] = registry.load(f"{MLP_NAME}@champion", format="onnx-int8")
        hgb_info = registry.get(f"{NAME}@champion")
        sizes = ", ".join(
            f"{label} {fmt_kb(info.exports[fmt].size)}"
            for label, info, fmt in (
                ("GBM onnx", hgb_info, "onnx"),
                ("MLP onnx", mlp_info, "onnx"),
                ("MLP int8", mlp_info, "onnx-int8"),
            )
            if fmt in info.exports
        )
        report.setup.append(
            (
                "Shipyard export (convert + check against native; not timed below)",
                f"GBM {fmt_s(hgb_export)}; MLP + int8 {fmt_s(mlp_export)}; {sizes}; MLP skops "
                f"{fmt_kb(mlp_version.size)}",
            )
        )
        for key, info, fmt in (
            ("hgb", hgb_info, "onnx"),
            ("mlp", mlp_info, "onnx"),
            ("mlp8", mlp_info, "onnx-int8"),
        ):
            if key not in onnx:
                continue
            figures = info.exports[fmt].report
            shown = ", ".join(f"{k}={_short(v)}" for k, v in list(figures.items())[:6])
            report.setup.append((f"Export check {info.ref} {fmt}", shown or "—"))

    # Every path must give the same probabilities before anything is timed.
    for i in range(n):
        want_hgb = hgb_model.predict_proba(frames[i])
        want_mlp = mlp_model.predict_proba(frames[i])
        assert np.allclose(np.asarray(ml_hgb.predict(frames[i])), want_hgb)
        assert np.allclose(np.asarray(ml_mlp.predict(frames[i])), want_mlp)
        assert np.allclose(sy_hgb.predict_proba(frames[i]), want_hgb)
        assert np.allclose(sy_hgb.predict_proba(records[i]), want_hgb)
        assert np.allclose(sy_mlp.predict_proba(frames[i]), want_mlp)
        if onnx:
            assert np.allclose(onnx["hgb"].predict_proba(frames[i]), want_hgb, atol=1e-4)
            assert np.allclose(onnx["hgb"].predict_proba(records[i]), want_hgb, atol=1e-4)
            assert np.allclose(onnx["mlp"].predict_proba(frames[i]), want_mlp, atol=1e-4)
    report.setup.append(
        (f"Scenario 4 inputs: {n} distinct rows, cycled; all paths agree on them", "✓")
    )

    ml_hgb_predict, ml_mlp_predict = ml_hgb.predict, ml_mlp.predict
    fns: dict[str, Callable[[int], Any]] = {
        "ml-hgb": lambda i: ml_hgb_predict(frames[i % n]),
        "sk-hgb": lambda i: hgb_model.predict_proba(arrays[i % n]),
        "sy-hgb": lambda i: sy_hgb.predict_proba(frames[i % n]),
        "sy-hgb-dict": lambda i: sy_hgb.predict_proba(records[i % n]),
        "ml-mlp": lambda i: ml_mlp_predict(frames[i % n]),
        "sk-mlp": lambda i: mlp_model.predict_proba(arrays[i % n]),
        "sy-mlp": lambda i: sy_mlp.predict_proba(frames[i % n]),
    }
    floor_notes: dict[str, str] = {}
    if onnx:
        for key, model in onnx.items():
            fns[f"sy-onnx-{key}"] = lambda i, m=model: m.predict_proba(frames[i % n])
            fns[f"sy-onnx-{key}-dict"] = lambda i, m=model: m.predict_proba(records[i % n])
            fns[f"ort-{key}"], floor_notes[key] = onnx_floor(model.native, model, models)

    with warnings.catch_warnings():
        # scikit-learn warns on every NumPy row that the model was fitted with column names.
        warnings.simplefilter("ignore", UserWarning)
        t = latencies(fns, args.calls, args.rounds, args.warmup_calls)

    described: set[str] = set()

    def ml_note(key: str) -> str:
        if key in described:
            return "same MLflow figure as above"
        described.add(key)
        what = "GBM" if key == "ml-hgb" else "MLP"
        return (
            f"pyfunc.load_model(…).predict, one-row DataFrame ({what}, "
            f"pyfunc_predict_fn='predict_proba'); {t[key].spread()}"
        )

    def onnx_row(label: str, ml_key: str, sy_key: str, note: str) -> None:
        ml, syt = t[ml_key], t[sy_key]
        report.add(
            Row(
                label,
                ml,
                syt,
                ml_note(ml_key),
                f"{note}; {syt.spread()}",
                "p50 <100 µs and ≥15×",
                syt.median < 100e-6 and ml.median / syt.median >= 15,
            )
        )

    def plain_row(label: str, ml_key: str, sy_key: str, note: str) -> None:
        ml, syt = t[ml_key], t[sy_key]
        report.add(Row(label, ml, syt, ml_note(ml_key), f"{note}; {syt.spread()}"))

    plain_row(
        "4a. GBM one row, native: Shipyard predict_proba on a one-row DataFrame",
        "ml-hgb",
        "sy-hgb",
        "LoadedModel.predict_proba (validation included)",
    )
    plain_row(
        "4b. GBM one row, native, one-record dict (what serving passes)",
        "ml-hgb",
        "sy-hgb-dict",
        "LoadedModel.predict_proba(dict)",
    )
    plain_row(
        "4c. floor: scikit-learn's own predict_proba on a NumPy row (not Shipyard; no validation)",
        "ml-hgb",
        "sk-hgb",
        "model.predict_proba(ndarray)",
    )
    if onnx:
        onnx_row(
            "4d. GBM one row, ONNX: one-row DataFrame",
            "ml-hgb",
            "sy-onnx-hgb",
            "models.load(format='onnx').predict_proba",
        )
        onnx_row(
            "4e. GBM one row, ONNX: one-record dict (what serving passes)",
            "ml-hgb",
            "sy-onnx-hgb-dict",
            "predict_proba(dict)",
        )
        plain_row(
            "4f. floor: raw ONNX Runtime session.run on the same GBM ONNX (not Shipyard; "
            "inputs prepared beforehand)",
            "ml-hgb",
            "ort-hgb",
            floor_notes["hgb"],
        )
    plain_row(
        "4g. MLP one row, native: one-row DataFrame",
        "ml-mlp",
        "sy-mlp",
        "LoadedModel.predict_proba",
    )
    plain_row(
        "4h. floor: scikit-learn's own MLP pipeline predict_proba on a NumPy row",
        "ml-mlp",
        "sk-mlp",
        "pipeline.predict_proba(ndarray)",
    )
    if onnx:
        onnx_row(
            "4i. MLP one row, ONNX: one-row DataFrame", "ml-mlp", "sy-onnx-mlp", "format='onnx'"
        )
        if "mlp8" in onnx:
            onnx_row(
                "4j. MLP one row, ONNX int8: one-row DataFrame",
                "ml-mlp",
                "sy-onnx-mlp8",
                "format='onnx-int8'",
            )
            onnx_row(
                "4k. MLP one row, ONNX int8: one-record dict",
                "ml-mlp",
                "sy-onnx-mlp8-dict",
                "format='onnx-int8', predict_proba(dict)",
            )
        plain_row(
            "4l. floor: raw ONNX Runtime on the MLP ONNX (fp32)",
            "ml-mlp",
            "ort-mlp",
            floor_notes["mlp"],
        )
        if "mlp8" in onnx:
            plain_row(
                "4m. floor: raw ONNX Runtime on the MLP ONNX (int8)",
                "ml-mlp",
                "ort-mlp8",
                floor_notes["mlp8"],
            )
    else:
        report.skipped.append(onnx_note)


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "…"


# -- output and arguments ------------------------------------------------------------------


def print_results(report: Report, args: argparse.Namespace, wall: float, others: OtherLoad) -> None:
    import onnxruntime
    import sklearn
    import skops

    libraries = [
        ("scikit-learn", sklearn.__version__),
        ("skops", skops.__version__),
        ("ONNX Runtime", onnxruntime.__version__),
    ]
    print_report(
        report,
        title="Model registry: MLflow vs Shipyard (SQLite, same machine, same process)",
        width=190,
        legend="Rows 1–3: medians of the repeats shown in Notes (n=...). Row 4: p50 / p99 per call "
        "(speed-up on p50); the 'floor' rows are not Shipyard and sit in its column for "
        "comparison. GBM = the HistGradientBoostingClassifier.",
        footer=f"{versions(args.source, libraries)}; "
        f"{'--quick; ' if args.quick else ''}--runs {args.runs}, --calls {args.calls}, "
        f"--budget {args.budget:g}s; total wall time {wall:.1f} s; {others.summary()}",
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, a smoke run")
    parser.add_argument(
        "--runs",
        type=int,
        default=None,
        help="timed repeats of MLflow's default log_model (the slowest measurement; the "
        "others take at least 5-10); default 3, quick 1",
    )
    parser.add_argument(
        "--calls",
        type=int,
        default=None,
        help="one-row predictions timed per predictor in scenario 4 (default 2,000, quick 500)",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=None,
        help="seconds after which a measurement stops repeating (default 60, quick 10)",
    )
    parser.add_argument(
        "--fresh",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="rows 3f/3g: first load in a new Python process, imports included (default: on, "
        "off with --quick)",
    )
    parser.add_argument("--only", help="comma-separated scenarios, e.g. 3,4 (1 always runs)")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    args = parser.parse_args(argv)
    quick = args.quick
    defaults = {
        "runs": 1 if quick else 3,
        "calls": 500 if quick else 2_000,
        "budget": 10.0 if quick else 60.0,
    }
    fill_defaults(args, defaults)
    args.alias_moves = 10 if quick else 30
    args.load_repeats = 5 if quick else 15
    args.warm_repeats = 50 if quick else 200
    args.rounds = 4
    args.warmup_calls = 50 if quick else 200
    args.mlp_epochs = 10 if quick else 30
    if args.fresh is None:
        args.fresh = not quick
    args.fresh_repeats = max(1, min(args.runs, 3))
    args.only = scenario_numbers(args.only, (1, 2, 3, 4), always=(1,))
    if args.runs < 1 or args.calls < args.rounds:
        parser.error("--runs must be at least 1 and --calls at least 4")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.source = source_state()  # before the run: the code imported is the code measured
    quiet_mlflow(logging.ERROR)
    exit_on_sigterm()
    wall = time.perf_counter()
    others = OtherLoad()
    report = Report()
    state = State()
    scenarios = {1: bench_register, 2: bench_alias, 3: bench_load, 4: bench_predict}
    with workspace("shipyard-bench-registry-", args.keep) as ws:
        # MLflow downloads each model it loads into a fresh temp folder: keep those in ours.
        (ws.root / "tmp").mkdir()
        tempfile.tempdir = str(ws.root / "tmp")
        os.environ["TMPDIR"] = str(ws.root / "tmp")
        models = build_models(args, report)
        for number, scenario in scenarios.items():
            if number in args.only:
                during = OtherLoad()
                scenario(ws, models, state, report, args)
                report.setup.append((f"Scenario {number}", during.summary()))
    print_results(report, args, time.perf_counter() - wall, others)
    return 0


if __name__ == "__main__":
    sys.exit(main())

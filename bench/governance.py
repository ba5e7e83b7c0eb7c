"""Governance speed: explanations (in process, over HTTP, beside shap) and audit verification.

    python bench/governance.py [--trees 500] [--calls 300] [--rows 10000] [--skip-audit]

1. A 500-tree LightGBM classifier (20 numeric features, 20,000 rows, n_jobs=1) is registered
   in a fresh store. Local explanation of ONE row: p50/p99 of ``sy.explain`` on a loaded model
   (in process), of ``POST /explain`` against ``shipyard serve`` (a child process on
   127.0.0.1, one httpx connection), and of ``shap.TreeExplainer(model)(row)`` directly.
2. Global explanation of ``--rows`` rows: ``sy.governance.explain_global`` (SHAP values,
   mean |SHAP|, no target so no permutation importance, the evidence recorded) beside
   ``shap.TreeExplainer(model)(rows)``.
3. Audit verification: ``bench/governance_audit.py``'s ``main()`` (1,000,000 chained entries),
   when that script exists (helper H1 writes it); skipped with a message otherwise.

Figures depend on the machine's load (2 cores shared): compare within one run.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any


def _percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return f"p50 {statistics.median(ordered) * 1e3:7.3f} ms   p99 {p99 * 1e3:7.3f} ms"


def _times(fn: Any, calls: int, warmup: int = 20) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(ref: str, home: Path) -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    port = _free_port()
    env = {**os.environ, "SHIPYARD_HOME": str(home), "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "shipyard", "serve", ref, "--port", str(port), "--poll", "0"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"shipyard serve exited with code {process.returncode}")
        try:
            if httpx.get(url + "/v2/health/ready", timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.terminate()
    raise SystemExit("shipyard serve was not ready after 120 s")


def explanations(trees: int, calls: int, rows: int) -> None:
    import httpx
    import lightgbm as lgb
    import numpy as np
    import pandas as pd

    import shipyard as sy
    from shipyard.governance._explain_methods import shap_module

    shap = shap_module()
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(20_000, 20)), columns=[f"x{i}" for i in range(20)])
    y = (X["x0"] + X["x1"] * X["x2"] - X["x3"] + rng.normal(size=len(X)) > 0).astype(int)
    started = time.perf_counter()
    model = lgb.LGBMClassifier(n_estimators=trees, num_leaves=31, n_jobs=1, verbose=-1)
    model.fit(X, y)
    version = sy.models.register("bench-explain", model, X=X, y=y)
    print(f"{trees}-tree LightGBM trained and registered in {time.perf_counter() - started:.1f} s")
    row = X.iloc[[7]]
    record = row.iloc[0].to_dict()
    loaded = sy.models.load(version.ref)
    explainer = shap.TreeExplainer(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = sy.explain(loaded, record).values[0]
        theirs = np.asarray(explainer(row).values)[0]
    print(f"max |ours - shap| on the row: {np.abs(ours - theirs).max():.2e}")

    print("\nLocal explanation of one row")
    in_process = _times(lambda: sy.explain(loaded, record), calls)
    print(f"  sy.explain (in process)        {_percentiles(in_process)}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        direct = _times(lambda: explainer(row), calls)
    print(f"  shap.TreeExplainer directly    {_percentiles(direct)}")
    process, url = _serve(version.ref, Path(os.environ["SHIPYARD_HOME"]))
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            answer = client.post("/explain", json=record)
            assert answer.status_code == 200, answer.text
            over_http = _times(lambda: client.post("/explain", json=record), calls)
            predict = _times(lambda: client.post("/predict", json=record), calls)
    finally:
        process.terminate()
        process.wait(timeout=20)
    print(f"  POST /explain (shipyard serve) {_percentiles(over_http)}")
    print(f"  POST /predict, for reference   {_percentiles(predict)}")

    print(f"\nGlobal explanation of {rows:,} rows")
    data = X.head(rows)
    start = time.perf_counter()
    result = sy.governance.explain_global(version.ref, data, rows=rows)
    ours_s = time.perf_counter() - start
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values = explainer(data).values
    shap_s = time.perf_counter() - start
    check = np.abs(np.abs(values).mean(axis=0) - [result.mean_abs_shap[c] for c in X.columns])
    print(f"  sy.governance.explain_global (recorded)  {ours_s:7.2f} s")
    print(f"  shap.TreeExplainer directly              {shap_s:7.2f} s")
    print(f"  max |mean |SHAP| difference|: {check.max():.2e}")


def audit() -> None:
    here = Path(__file__).resolve().parent
    if not (here / "governance_audit.py").exists():
        print("\nAudit verification: skipped (bench/governance_audit.py is not here yet).")
        return
    sys.path.insert(0, str(here))
    import governance_audit

    print("\nAudit verification")
    governance_audit.main()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trees", type=int, default=500)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--skip-audit", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sy-bench-governance-") as root:
        os.environ["SHIPYARD_HOME"] = str(Path(root) / ".shipyard")
        for var in ("SHIPYARD_DB_URL", "SHIPYARD_ARTIFACTS_URL", "SHIPYARD_URL"):
            os.environ.pop(var, None)
        explanations(args.trees, args.calls, args.rows)
    if not args.skip_audit:
        audit()
    return 0


if __name__ == "__main__":
    sys.exit(main())

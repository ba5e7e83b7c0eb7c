"""Shadow routes under load: what a shadow costs the answers, and whether a deployment change
still takes effect while a slow shadow is mirrored.

Usage::

    python bench/shadow.py                          # this tree's src, ~2 min
    python bench/shadow.py --tree before=/tmp/old/src --tree after=src   # compare sources
    python bench/shadow.py --duration 10 --connections 8

Models (registered in a temporary ``SHIPYARD_HOME``): the primary ``loans@1`` is a
HistGradientBoosting pipeline on ``make_loans(3000)`` exported to ONNX; the shadows are
``bench/_shadow_models.py``'s ``Busy`` (a pure-Python busy loop of 20 ms per call: holds
the GIL) and ``Slow`` (sleeps 50 ms per call). Deployments: ``none`` (the primary alone),
``busy`` and ``slow`` (the primary with that shadow, policy ``shadow``), and ``free`` (the
primary shadowed by itself: what shadowing costs the server beyond the shadow model's CPU).

Each server is ``python -m shipyard.cli serve --deployment NAME --poll 0.5`` (one worker,
the inference log on, ``OMP_NUM_THREADS=1``) from the given source tree, alone while it is
measured; ``--rounds`` rounds of every server in turn (a busy spell of a shared machine
falls on all alike). Load: wrk with one-row ``POST /predict``: a 2-s warm-up, then
``--duration`` s each on 1 connection (``c1``), on ``--connections`` connections paced by a
delay of ``--delay-ms`` before each request (``paced``: a stated, below-capacity load), and
on ``--connections`` connections unpaced (closed loop: each sends its next request when the
last is answered: the server's capacity), figures from wrk's ``--latency``. For ``slow``,
``deployments.promote`` to the shadow route under load on ``--connections`` connections,
and the seconds until answers come from it (capped at ``--promote-timeout``). After each
run: the shadow rows compared and dropped (``/metrics``), the server's RSS and its
children's (the shadow worker).

``--slices N`` instead starts every server at once and measures them in turn, N slices of
``--duration`` s each (paced, then unpaced), and gives each one's medians: on a shared
machine, the way to compare p99s (``python bench/shadow.py --slices 8 --duration 2
--only none,busy``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
ROW = {"age": 41, "income": 52000.0, "loan_amount": 12000.0, "term_months": 36,
       "credit_score": 640, "region": "north"}  # fmt: skip
FEATURES = list(ROW)


def register(home: Path) -> None:
    """The primary and the two shadows, and the three deployments."""
    os.environ["SHIPYARD_HOME"] = str(home)
    sys.path.insert(0, str(HERE))
    from _shadow_models import Busy, Slow  # noqa: I001 - from this folder
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    import shipyard as sy
    from shipyard.data import make_loans
    from shipyard.serving import deployments

    frame = make_loans(3000, seed=0)
    X, y = frame[FEATURES], frame["default"]
    encode = ColumnTransformer(
        [("num", "passthrough", FEATURES[:5]), ("cat", OneHotEncoder(), ["region"])]
    )
    gbm = Pipeline([("pre", encode), ("model", HistGradientBoostingClassifier(max_iter=30))])
    sy.models.register("loans", gbm.fit(X, y), X=X, y=y)
    sy.models.export("loans@1", "onnx")
    sy.models.register("busy", Busy(0.02), X=X, y=y)
    sy.models.register("slow", Slow(0.05), X=X, y=y)
    deployments.create("none", {"main": "loans@1"})
    deployments.create("busy", {"main": "loans@1", "copy": "busy@1"}, policy="shadow")
    deployments.create("slow", {"main": "loans@1", "copy": "slow@1"}, policy="shadow")
    deployments.create("free", {"main": "loans@1", "copy": "loans@1"}, policy="shadow")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(src: Path, home: Path, name: str, logs: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "SHIPYARD_HOME": str(home), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": f"{src}{os.pathsep}{HERE}"}  # fmt: skip
    command = [sys.executable, "-m", "shipyard.cli", "serve", "--deployment", name,
               "--port", str(port), "--poll", "0.5", "--log-dir", str(logs / name)]  # fmt: skip
    out = open(logs / f"{name}-{port}.txt", "wb")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(url + "/v2/health/ready").status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the server for {name} did not start; see {out.name}")
        time.sleep(0.2)


def wrk(url: str, script: Path, connections: int, seconds: float) -> dict[str, float]:
    """One wrk run: p50 and p99 (ms), requests/s, answers not 2xx."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", "-s",
               str(script), url + "/predict"]  # fmt: skip
    text = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return parse_wrk(text)


def parse_wrk(text: str) -> dict[str, float]:
    units = {"us": 1e-3, "ms": 1.0, "s": 1e3}
    out: dict[str, float] = {}
    for q in ("50", "99"):
        m = re.search(rf"^\s*{q}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
        out[f"p{q}_ms"] = float(m.group(1)) * units[m.group(2)] if m else float("nan")
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    out["rps"] = float(m.group(1)) if m else float("nan")
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    out["non_2xx"] = float(m.group(1)) if m else 0.0
    return out


def shadow_counts(url: str) -> dict[str, float]:
    text = httpx.get(url + "/metrics").text
    out = {"compared": 0.0, "errors": 0.0, "dropped": 0.0}
    for line in text.splitlines():
        value = line.rsplit(" ", 1)[-1] if line and not line.startswith("#") else ""
        if line.startswith("shipyard_shadow_rows_total"):
            kind = "errors" if 'outcome="error"' in line else "compared"
            out[kind] += float(value)
        elif line.startswith("shipyard_shadow_dropped_total"):
            out["dropped"] += float(value)
    return out


def rss_mb(pid: int) -> tuple[float, float]:
    """The RSS of ``pid`` and of all its children, in MB."""

    def one(p: int) -> float:
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            return 0.0
        m = re.search(r"VmRSS:\s+(\d+) kB", status)
        return int(m.group(1)) / 1024 if m else 0.0

    children = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with_children = task / "children"
        if with_children.exists():
            children += [int(c) for c in with_children.read_text().split()]
    return one(pid), sum(one(c) for c in children)


def promote_seconds(url: str, script: Path, connections: int, cap: float) -> float:
    """Seconds from ``deployments.promote`` to the first answer of the new route, under
    load (NaN past ``cap``); the deployment is promoted back afterwards."""
    from shipyard.serving import deployments

    load = subprocess.Popen(
        ["wrk", "-t1", f"-c{connections}", f"-d{cap + 10:g}s", "-s", str(script),
         url + "/predict"], stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        time.sleep(3)
        started = time.monotonic()
        deployments.promote("slow", "copy")
        with httpx.Client(base_url=url, timeout=30) as client:
            while time.monotonic() - started < cap:
                if client.post("/predict", json=ROW).json().get("model") == "slow":
                    return time.monotonic() - started
                time.sleep(0.05)
        return float("nan")
    finally:
        load.terminate()
        load.wait()
        deployments.promote("slow", "main")


def measure(
    src: Path, home: Path, name: str, args: argparse.Namespace, tmp: Path
) -> dict[str, Any]:
    script = tmp / "post.lua"
    process, url = start(src, home, name, tmp)
    try:
        wrk(url, script, args.connections, 2)  # warm-up (and the shadow worker's start)
        result: dict[str, Any] = {"tree": str(src), "deployment": name}
        result["c1"] = wrk(url, script, 1, args.duration)
        result["paced"] = wrk(url, tmp / "paced.lua", args.connections, args.duration)
        result[f"c{args.connections}"] = wrk(url, script, args.connections, args.duration)
        time.sleep(1)
        result["shadow"] = shadow_counts(url)
        result["rss_server_mb"], result["rss_children_mb"] = rss_mb(process.pid)
        if name == "slow" and args.promote_timeout > 0:
            cap = args.promote_timeout
            result["promote_s"] = promote_seconds(url, script, args.connections, cap)
            result["rss_after_promote_mb"] = rss_mb(process.pid)[0]
        return result
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def interleaved(trees: list[list[str]], home: Path, args: argparse.Namespace, tmp: Path) -> None:
    """Every (tree, deployment) server up at once, measured in turn for ``--slices``
    slices of ``--duration`` s (paced, then unpaced): the medians of the slices, so that a
    busy spell of a shared machine shifts one slice of each, not one server's figures."""
    import statistics

    servers = {}
    try:
        for label, src in trees:
            for name in args.only.split(","):
                process, url = start(Path(src).resolve(), home, name, tmp)
                servers[label, name] = (process, url)
                wrk(url, tmp / "post.lua", args.connections, 2)  # warm-up
        slices: dict[tuple[str, str, str], list[dict[str, float]]] = {}
        for _ in range(args.slices):
            for key, (_, url) in servers.items():
                for load, script, connections in (
                    ("paced", "paced.lua", args.connections),
                    (f"c{args.connections}", "post.lua", args.connections),
                ):
                    figures = wrk(url, tmp / script, connections, args.duration)
                    slices.setdefault((*key, load), []).append(figures)
        for (label, name, load), runs in slices.items():
            medians = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            url = servers[label, name][1]
            out = {"label": label, "deployment": name, "load": load, "slices": len(runs),
                   **medians, "shadow": shadow_counts(url)}  # fmt: skip
            print(json.dumps(out), flush=True)
    finally:
        for process, _ in servers.values():
            process.terminate()
            process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", action="append", default=[], help="label=path/to/src")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--promote-timeout", type=float, default=60.0)
    parser.add_argument("--only", default="none,busy,slow")
    parser.add_argument("--rounds", type=int, default=1, help="each server measured N times")
    parser.add_argument("--slices", type=int, default=0, help="interleaved slices (see below)")
    parser.add_argument("--delay-ms", type=float, default=4.0, help="paced: per connection")
    args = parser.parse_args()
    trees = [t.split("=", 1) for t in args.tree] or [["this", str(HERE.parent / "src")]]
    with tempfile.TemporaryDirectory(prefix="shipyard-shadow-") as folder:
        tmp, home = Path(folder), Path(folder) / "home"
        post = (
            'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
            f"wrk.body = '{json.dumps(ROW)}'\n"
        )
        (tmp / "post.lua").write_text(post)
        (tmp / "paced.lua").write_text(post + f"function delay() return {args.delay_ms} end\n")
        register(home)
        if args.slices:
            interleaved(trees, home, args, tmp)
            return
        for turn in range(args.rounds):
            for name in args.only.split(","):
                for label, src in trees:
                    if turn and name == "slow":
                        args.promote_timeout = 0  # measured once
                    result = measure(Path(src).resolve(), home, name, args, tmp)
                    print(json.dumps({"label": label, "round": turn, **result}), flush=True)


if __name__ == "__main__":
    main()

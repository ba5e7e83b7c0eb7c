"""The web UI's speed in a browser: the runs page over 10,000 runs, the 100,000-point chart.

Usage::

    python bench/server_browser.py              # fill a store, serve it, measure, print
    python bench/server_browser.py --url URL    # measure a server already running (its
                                                # store filled by the ``fill`` command)
    python bench/server_browser.py fill HOME    # only fill the store at HOME (a .shipyard
                                                # folder); the browser tests use it

The store: experiment ``big`` with 10,000 finished runs (3 params, 2 metrics each), logged
through the tracking store directly (one transaction per step of a run, ~10 s), and
experiment ``long`` with one run whose metric ``loss`` has 100,000 points. The server is
``shipyard.server.run`` in a child process over it, on 127.0.0.1.

Measured in headless Debian Chromium (``/usr/bin/chromium``) through playwright, each the
median of ``--repeats`` fresh visits, from the navigation's start:

- ``runs_page_ms``: the runs page of ``big`` (50 runs of 10,000, newest first) loaded:
  HTML, stylesheet and script, the table rendered (the load event);
- ``runs_sorted_ms``: the same sorted by ``metrics.auc desc`` (a join on 10,000 runs);
- ``runs_next_page_ms``: the next page, reached by clicking "Next" (its page token);
- ``chart_first_ms``: the run with the 100,000-point metric until plotly has drawn its
  chart (``ui.js`` marks ``shipyard:charts``), the first visit: the server reads the
  100,000 points and downsamples them, the browser's cache is empty (plotly.js, 4.6 MB,
  downloaded and compiled);
- ``chart_cold_ms``: later visits with an empty browser cache (the server has the
  downsampled series in its cache: a finished run's history does not change);
- ``chart_preview_cold_ms``: with an empty cache, until the page with the chart's SVG
  preview (the downsampled curve drawn on the server, shown until plotly takes over) was
  first painted;
- ``chart_warm_ms``: the same page again, plotly.js from the browser's cache.

The goal (issue 19): under one second each.
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
from pathlib import Path
from typing import Any

RUNS = 10_000
POINTS = 100_000
CHROMIUM = os.environ.get("SHIPYARD_CHROMIUM", "/usr/bin/chromium")


def fill(home: Path, runs: int = RUNS, points: int = POINTS) -> None:
    """Fill the store at ``home`` with ``runs`` runs in ``big`` and one ``points``-point
    metric in ``long`` (in this process: call it where SHIPYARD_HOME is ``home``)."""
    os.environ["SHIPYARD_HOME"] = str(home)
    from shipyard.tracking import tracking_store
    from shipyard.tracking._process import ProcessInfo

    store = tracking_store()
    process = ProcessInfo.current()
    big = store.experiment("big")
    start = 1_790_000_000.0
    for i in range(runs):
        at = start + i
        run = store.create_run(
            big.id, f"trial-{i:05d}", parent_id=None, process=process, source={},
            environment={}, tags={"team": "risk" if i % 3 else "growth"}, start_time=at,
        )  # fmt: skip
        store.log_params(
            run.id, {"lr": f"{0.001 * (1 + i % 10):g}", "depth": str(2 + i % 7), "model": "gbm"}
        )
        auc = 0.70 + 0.25 * ((i * 7919) % 10_007) / 10_007
        store.finish_run(
            run.id, "finished", [("auc", auc, 0, at + 1), ("loss", 1 - auc, 0, at + 1)],
            end_time=at + 2 + i % 5,
        )  # fmt: skip
    long = store.experiment("long")
    run = store.create_run(
        long.id, "long-metric", parent_id=None, process=process, source={}, environment={},
        start_time=start + runs + 10,
    )  # fmt: skip
    batch = 10_000
    for first in range(0, points, batch):
        store.write_metrics(
            run.id,
            [
                ("loss", 1.0 / (1 + s / 1000) + 0.02 * ((s * 31) % 17) / 17, s, start + s)
                for s in range(first, min(points, first + batch))
            ],
        )
    store.finish_run(run.id, "finished", end_time=start + runs + 10 + points / 100)


def serve(home: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``shipyard.server.run`` over the store at ``home`` in a child process; its URL
    once it answers."""
    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env["SHIPYARD_HOME"] = str(home)
    code = "import sys; from shipyard.server import run; run('127.0.0.1', int(sys.argv[1]))"
    process = subprocess.Popen(
        [sys.executable, "-c", code, str(port)], cwd=home.parent, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the platform server did not answer within 60 s")


def _loaded(tab: Any) -> float:
    """Milliseconds from the navigation's start to its load event."""
    return float(tab.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd"))


def _painted(tab: Any) -> float:
    """Milliseconds from the navigation's start to its first contentful paint (the chart's
    SVG preview comes with the page's HTML, so it is on screen from there)."""
    return float(
        tab.evaluate("performance.getEntriesByName('first-contentful-paint')[0].startTime")
    )


def _charted(tab: Any) -> float:
    """Milliseconds from the navigation's start until ui.js had drawn every chart."""
    tab.wait_for_function("document.body.dataset.charts !== undefined", timeout=30_000)
    return float(tab.evaluate("performance.getEntriesByName('shipyard:charts')[0].startTime"))


def browser_figures(url: str, repeats: int = 3) -> dict[str, float]:
    """The browser timings (milliseconds, medians of ``repeats`` visits) of the server at
    ``url`` over a store filled by :func:`fill`."""
    from playwright.sync_api import sync_playwright

    samples: dict[str, list[float]] = {}

    def note(name: str, value: float) -> None:
        samples.setdefault(name, []).append(value)

    with sync_playwright() as play:
        browser = play.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            for _ in range(repeats):
                context = browser.new_context(viewport={"width": 1440, "height": 900})
                tab = context.new_page()
                tab.goto(f"{url}/runs?experiment=big", wait_until="load")
                note("runs_page_ms", _loaded(tab))
                rows = tab.locator("table.runs tbody tr").count()
                tab.click("a[rel=next]")
                tab.wait_for_load_state("load")
                note("runs_next_page_ms", _loaded(tab))
                tab.goto(f"{url}/runs?experiment=big&order=metrics.auc+desc", wait_until="load")
                note("runs_sorted_ms", _loaded(tab))
                tab.goto(f"{url}/runs?experiment=long", wait_until="load")
                run_url = tab.locator("table.runs tbody a").first.get_attribute("href")
                context.close()
                context = browser.new_context(viewport={"width": 1440, "height": 900})
                tab = context.new_page()  # an empty cache: plotly.js comes over the wire
                tab.goto(f"{url}{run_url}")
                # the first visit also has the server read the 100,000 points (later ones
                # find the downsampled series in its cache)
                note("chart_first_ms" if "chart_first_ms" not in samples else "chart_cold_ms",
                     _charted(tab))  # fmt: skip
                note("chart_preview_cold_ms", _painted(tab))
                tab.goto(f"{url}{run_url}")
                note("chart_warm_ms", _charted(tab))
                points = tab.evaluate("document.querySelector('[data-figure]').data[0].x.length")
                context.close()
        finally:
            browser.close()
    figures = {name: statistics.median(values) for name, values in samples.items()}
    figures["rows_on_page"] = float(rows)
    figures["points_drawn"] = float(points)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", nargs="?", choices=["fill"], help="only fill a store")
    parser.add_argument("home", nargs="?", type=Path, help="the store to fill (.shipyard)")
    parser.add_argument("--url", help="measure this server (its store filled by 'fill')")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.command == "fill":
        if args.home is None:
            parser.error("fill needs the store's folder")
        fill(args.home)
        return
    if args.url:
        figures = browser_figures(args.url, args.repeats)
    else:
        with tempfile.TemporaryDirectory(prefix="shipyard-bench-ui-") as folder:
            home = Path(folder) / ".shipyard"
            began = time.perf_counter()
            subprocess.run([sys.executable, __file__, "fill", str(home)], check=True, cwd=folder)
            print(f"filled {RUNS:,} runs and a {POINTS:,}-point metric in "
                  f"{time.perf_counter() - began:.1f} s")  # fmt: skip
            process, url = serve(home)
            try:
                figures = browser_figures(url, args.repeats)
            finally:
                process.terminate()
                process.wait(10)
    for name, value in figures.items():
        print(f"{name:20} {value:10.0f}")


if __name__ == "__main__":
    main()

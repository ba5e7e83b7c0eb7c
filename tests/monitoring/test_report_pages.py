"""Report pages load plotly.js from one ``plotly.min.js`` beside them instead of inlining it:
small pages, one copy per folder, still drawn offline (``file://``)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from plotly.offline import get_plotlyjs

from shipyard import monitoring

SMALL = 200_000  # bytes: a typical report without plotly.js (it alone is ~4.6 MB)


def _drift(seed: int) -> monitoring.DriftReport:
    rng = np.random.default_rng(seed)

    def frame(shift: float) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "income": rng.lognormal(10 + shift, 0.5, 3000),
                "age": rng.integers(18, 80, 3000),
                "region": rng.choice(["north", "south", "east", "west"], 3000),
            }
        )

    return monitoring.drift(frame(0.0), frame(0.5))


def test_a_report_is_small_and_loads_plotly_from_beside_it(tmp_path: Path) -> None:
    page = _drift(1).to_html(tmp_path / "drift.html")
    text = page.read_text(encoding="utf-8")
    assert page.stat().st_size < SMALL
    assert '<script src="plotly.min.js" charset="utf-8"></script>' in text
    assert "plotly.js v" not in text and text.count("Plotly.newPlot") == 3
    script = tmp_path / "plotly.min.js"
    assert script.read_bytes() == get_plotlyjs().encode("utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["drift.html", "plotly.min.js"]


def test_reports_in_one_folder_share_one_plotly_written_once(tmp_path: Path) -> None:
    _drift(1).to_html(tmp_path / "first.html")
    script = tmp_path / "plotly.min.js"
    written = script.stat()
    _drift(2).to_html(tmp_path / "second.html")
    again = script.stat()
    assert (again.st_ino, again.st_mtime_ns) == (written.st_ino, written.st_mtime_ns)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "first.html", "plotly.min.js", "second.html"
    ]  # fmt: skip

    script.write_text("stale or damaged")  # another plotly's, or cut short: replaced
    _drift(3).to_html(tmp_path / "third.html")
    assert script.read_bytes() == get_plotlyjs().encode("utf-8")
    assert not list(tmp_path.glob(".*.tmp"))


CHROMIUM = Path("/usr/bin/chromium")


def service_missing(reason: str) -> None:
    """Skip, or fail when services are required (CI installs playwright and chromium)."""
    if os.environ.get("SHIPYARD_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (SHIPYARD_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def test_the_report_draws_its_charts_offline_in_a_browser(tmp_path: Path) -> None:
    try:
        from playwright import sync_api
    except ImportError:
        service_missing("playwright is not installed (the dev extra has it)")
    if not CHROMIUM.exists():
        service_missing(f"no browser at {CHROMIUM} (Debian's chromium package)")
    page_path = _drift(1).to_html(tmp_path / "drift.html")
    with sync_api.sync_playwright() as play:
        browser = play.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            context = browser.new_context(offline=True)
            page = context.new_page()
            page.goto(page_path.as_uri())
            page.wait_for_selector(".plotly-graph-div .main-svg", timeout=15_000)
            assert page.evaluate("typeof window.Plotly") == "object"
            drawn = page.evaluate(
                "Array.from(document.querySelectorAll('.plotly-graph-div'))"
                ".filter(div => div.querySelector('.main-svg .bars')).length"
            )
            assert drawn == 3
            assert page.locator("p.missing").count() == 0

            alone = tmp_path / "alone"  # the page copied without plotly.min.js says so
            alone.mkdir()
            shutil.copy(page_path, alone / "drift.html")
            page.goto((alone / "drift.html").as_uri())
            page.wait_for_selector("p.missing", timeout=15_000)
            assert "need plotly.min.js in the same folder" in page.inner_text("p.missing")
        finally:
            browser.close()

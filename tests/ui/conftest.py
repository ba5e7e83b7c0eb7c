"""The web UI's fixtures: a real platform server over the quick start's data, and headless
Debian Chromium driven by playwright (never a downloaded browser).

``ui_server`` runs ``shipyard.server.run`` in a child process over a copy of the session's
quick-start store (``quickstart_store`` of tests/conftest.py); ``many_runs_server`` does the
same over 10,000 runs and a 100,000-point metric (``bench/server_browser.py fill``).
``page`` is a fresh browser tab that records console errors and failed requests; a test
fails at teardown if there were any. ``shot(page, name)`` saves a screenshot into the
screenshots folder (``SHIPYARD_SCREENSHOTS``, else a session temporary folder, printed at
the end).
Without chromium or playwright the tests skip, and fail under SHIPYARD_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from shipyard.testing.servers import Background, platform_server

CHROMIUM = os.environ.get("SHIPYARD_CHROMIUM", "/usr/bin/chromium")
BENCH = Path(__file__).parents[2] / "bench" / "server_browser.py"


def _missing(reason: str) -> None:
    if os.environ.get("SHIPYARD_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (SHIPYARD_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def _store_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env["SHIPYARD_HOME"] = str(home)
    return env


@pytest.fixture(scope="session")
def ui_home(quickstart_store: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store filled by the quick start (at a third of its default size): a copy of the
    session's ``quickstart_store``."""
    home = tmp_path_factory.mktemp("ui-store") / ".shipyard"
    shutil.copytree(quickstart_store[0], home)
    return home


@pytest.fixture(scope="session")
def ui_server(ui_home: Path) -> Iterator[str]:
    """The platform server (web UI and API) over the quick start's store; its base URL."""
    with platform_server(ui_home) as url:
        yield url


# The many-runs store, filled from when the tests are collected when one of them needs it
# (``Background``: beside the tests before that one, at a lower priority); its folder is
# removed when the session ends.
_early: dict[str, tuple[Path, Background]] = {}


def _fill(home: Path) -> Background:
    """``bench/server_browser.py fill`` over a fresh store in ``home``, in a child process."""
    command = [sys.executable, str(BENCH), "fill", str(home)]
    return Background(
        command, cwd=home.parent, env=_store_env(home), output=home.parent / "fill.txt"
    )


def pytest_collection_finish(session: pytest.Session) -> None:
    """Starts filling the many-runs store early when a collected test needs it."""
    if session.config.option.collectonly or "fill" in _early:
        return
    if any("many_runs_server" in getattr(i, "fixturenames", ()) for i in session.items):
        home = Path(tempfile.mkdtemp(prefix="shipyard-many-runs-")) / ".shipyard"
        _early["fill"] = (home, _fill(home))


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Stops the fill when no test waited for it; removes its folder."""
    for home, command in _early.values():
        command.stop()
        shutil.rmtree(home.parent, ignore_errors=True)
    _early.clear()


@pytest.fixture(scope="session")
def many_runs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A platform server over a store of its own: 10,000 runs in experiment ``big`` and a
    run in ``long`` whose metric ``loss`` has 100,000 points, logged through the tracking
    store directly by ``bench/server_browser.py fill`` (the browser benchmark's store;
    started when the tests were collected)."""
    if "fill" in _early:
        home, command = _early["fill"]
    else:
        home = tmp_path_factory.mktemp("ui-many-runs") / ".shipyard"
        command = _fill(home)
    code, output = command.wait(timeout=900)
    assert code == 0, output[-6000:]
    with platform_server(home) as url:
        yield url


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium through playwright."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed (pip install playwright)")
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        _missing(f"no chromium at {CHROMIUM} (apt install chromium)")
    with sync_playwright() as play:
        launched = play.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Where screenshots go: SHIPYARD_SCREENSHOTS, else a temporary folder of the session."""
    folder = Path(os.environ.get("SHIPYARD_SCREENSHOTS") or tmp_path_factory.mktemp("screens"))
    folder.mkdir(parents=True, exist_ok=True)
    yield folder
    print(f"\nscreenshots in {folder}")


@contextmanager
def _tab(browser: Any, base_url: str) -> Iterator[Any]:
    """A fresh tab (1440×900) on ``base_url`` whose console errors, page errors, failed
    requests and HTTP errors fail the test when it closes."""
    context = browser.new_context(viewport={"width": 1440, "height": 900}, base_url=base_url)
    tab = context.new_page()
    problems: list[str] = []
    tab.on(
        "console",
        lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None,
    )
    tab.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    tab.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} {r.failure}"))
    tab.on(
        "response",
        lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None,
    )
    yield tab
    context.close()
    assert not problems, "\n".join(problems)


@pytest.fixture
def page(browser: Any, ui_server: str) -> Iterator[Any]:
    """A fresh tab on ``ui_server`` whose console errors and failed requests fail the test."""
    with _tab(browser, ui_server) as tab:
        yield tab


@pytest.fixture
def many_runs_page(browser: Any, many_runs_server: str) -> Iterator[Any]:
    """A fresh tab on ``many_runs_server``, checked as ``page`` is."""
    with _tab(browser, many_runs_server) as tab:
        yield tab


@pytest.fixture
def shot(screenshots: Path) -> Callable[[Any, str], Path]:
    """``shot(page, "runs")`` saves a full-page screenshot as runs.png; its path."""

    def take(tab: Any, name: str) -> Path:
        path = screenshots / f"{name}.png"
        tab.screenshot(path=str(path), full_page=True)
        return path

    return take

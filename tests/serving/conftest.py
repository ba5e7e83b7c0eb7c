"""A registered loans model and a real uvicorn server on 127.0.0.1 in a thread."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

import shipyard as sy
from shipyard import serving
from shipyard.config import reset_settings
from shipyard.data import make_loans

FEATURES = ["age", "income", "loan_amount", "term_months", "credit_score", "region"]


class Running:
    """A uvicorn server in a daemon thread; ``url`` is where it listens."""

    def __init__(self, app: Any) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


@pytest.fixture(scope="session")
def registry_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding ``loans-gbm`` @1 (HGB pipeline, ONNX) and @2 (logistic, native),
    alias ``champion`` on 1, built once per session: never used directly, each module
    gets a copy (``registry``)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    root = tmp_path_factory.mktemp("serving-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SHIPYARD_HOME", str(root))
        for var in ("SHIPYARD_DB_URL", "SHIPYARD_ARTIFACTS_URL", "SHIPYARD_CONFIG"):
            patch.delenv(var, raising=False)
        reset_settings()
        frame = make_loans(3000, seed=0)
        X, y = frame[FEATURES], frame["default"]
        numeric = FEATURES[:5]
        encode = ColumnTransformer(
            [("num", "passthrough", numeric), ("cat", OneHotEncoder(), ["region"])]
        )
        gbm = Pipeline([("pre", encode), ("model", HistGradientBoostingClassifier(max_iter=30))])
        scaled = ColumnTransformer(
            [("num", StandardScaler(), numeric), ("cat", OneHotEncoder(), ["region"])]
        )
        linear = Pipeline([("pre", scaled), ("model", LogisticRegression(max_iter=500))])
        sy.models.register("loans-gbm", gbm.fit(X, y), X=X, y=y, aliases=["champion"])
        sy.models.export("loans-gbm@1", "onnx")
        sy.models.register("loans-gbm", linear.fit(X, y), X=X, y=y)
        sy.models.clear_cache()
    reset_settings()
    return root


@pytest.fixture(scope="module")
def registry(registry_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A store holding ``loans-gbm`` @1 (HGB pipeline, ONNX) and @2 (logistic, native),
    alias ``champion`` on 1, shared by a module's tests: a copy of the session's template
    (the store holds no absolute paths)."""
    root = tmp_path_factory.mktemp("serving-home") / "home"
    # not SQLite's shared-memory index: this process still has the template open, and a
    # copy of its index can be stale against the copied log (SQLite rebuilds it)
    shutil.copytree(registry_template, root, ignore=shutil.ignore_patterns("*.db-shm"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SHIPYARD_HOME", str(root))
        for var in ("SHIPYARD_DB_URL", "SHIPYARD_ARTIFACTS_URL", "SHIPYARD_CONFIG"):
            patch.delenv(var, raising=False)
        reset_settings()
        yield root
        sy.models.clear_cache()
    reset_settings()


@pytest.fixture
def store(registry: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("SHIPYARD_HOME", str(registry))
    for var in ("SHIPYARD_DB_URL", "SHIPYARD_ARTIFACTS_URL", "SHIPYARD_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    reset_settings()
    yield registry
    reset_settings()


def _starter() -> Iterator[Callable[[Any], Running]]:
    started: list[Running] = []

    def start(app: Any) -> Running:
        started.append(Running(app))
        return started[-1]

    yield start
    for running in started:
        running.stop()


@pytest.fixture
def start_server() -> Iterator[Callable[[Any], Running]]:
    """Start apps on 127.0.0.1 (``start_server(app).url``); all stop after the test."""
    yield from _starter()


@pytest.fixture(scope="module")
def start_module_server() -> Iterator[Callable[[Any], Running]]:
    """``start_server`` whose servers stop after the module's tests."""
    yield from _starter()


@pytest.fixture
def served(store: Path, start_server: Callable[[Any], Running]) -> Running:
    """``loans-gbm@champion`` served, following the alias every 0.2 s."""
    return start_server(serving.create_app("loans-gbm@champion", poll=0.2))

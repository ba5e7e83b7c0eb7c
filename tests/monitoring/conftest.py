"""Fixtures of the monitor tests: a deployed model, its inference log written by the serving
layer's own writer, and a webhook receiver on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

import shipyard as sy
from shipyard import serving
from shipyard.data import make_loans
from shipyard.serving import InferenceLog

FEATURES = ["age", "income", "loan_amount", "term_months", "credit_score", "region"]


class Hook:
    """A webhook receiver on 127.0.0.1 that keeps what it is sent; ``status`` is its answer."""

    def __init__(self, status: int = 200) -> None:
        self.received: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.bodies: list[bytes] = []
        self.status = status
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                owner.bodies.append(body)
                owner.received.append(json.loads(body))
                owner.headers.append(dict(self.headers))
                self.send_response(owner.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"

    def events(self) -> list[str]:
        return [r["event"] for r in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    receiver = Hook()
    yield receiver
    receiver.close()


@pytest.fixture
def make_hook() -> Callable[..., Hook]:
    """A receiver answering another status: ``make_hook(status=503)`` (closed by the test)."""
    return Hook


def make_deployment() -> None:
    """Dataset ``loans`` @1, model ``loans-model`` @1 trained on it, deployment ``loans``."""
    frame = make_loans(3000, seed=0)
    sy.datasets.register("loans", frame)
    encode = ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore"), ["region"])], remainder="passthrough"
    )
    model = Pipeline([("pre", encode), ("gbm", HistGradientBoostingClassifier(max_iter=20))])
    X, y = frame[FEATURES], frame["default"]
    sy.models.register("loans-model", model.fit(X, y), X=X, y=y, datasets=["loans@1"])
    serving.deployments.create("loans", {"main": "loans-model@1"})


@pytest.fixture
def stored(backend: str) -> str:
    """The deployment on SQLite and on PostgreSQL (for what the store decides: alerts)."""
    make_deployment()
    return backend


@pytest.fixture
def loans(home: Path) -> Path:
    """The deployment on SQLite (for what the detectors decide)."""
    make_deployment()
    return home


def log_traffic(
    home: Path,
    frame: pd.DataFrame,
    *,
    labels: np.ndarray | None = None,
    scored: pd.DataFrame | None = None,
    deployment: str = "loans",
) -> list[str]:
    """Score ``frame`` (or ``scored``, rows the model accepts) with the deployed model and
    write it to the inference log as the server does, one request per row; post ``labels``
    as feedback. Returns the request ids."""
    model = sy.models.load("loans-model@1")
    X = frame[FEATURES]
    inputs = X if scored is None else scored[FEATURES]
    predictions, proba = model.predict(inputs), model.predict_proba(inputs)
    log = InferenceLog(home / "inference", deployment, flush_seconds=60)
    ids = []
    for i in range(len(frame)):
        request_id = uuid.uuid4().hex
        columns = {c: X[c].to_numpy()[i : i + 1] for c in FEATURES}
        log.request(
            request_id, "main", "loans-model", 1, 0.001, columns, predictions[i : i + 1],
            proba[i : i + 1],
        )  # fmt: skip
        if labels is not None:
            log.feedback(request_id, label=int(labels[i]))
        ids.append(request_id)
    log.close()
    return ids


@pytest.fixture
def log(home: Path) -> Callable[..., list[str]]:
    """``log(frame, labels=None, scored=None)``: see :func:`log_traffic`."""

    def write(frame: pd.DataFrame, **options: Any) -> list[str]:
        return log_traffic(home, frame, **options)

    return write


@pytest.fixture
def drifted() -> Callable[[int, int], pd.DataFrame]:
    """``drifted(n, seed)``: applications whose income, credit score and loan amount moved
    (3 of 6 features)."""

    def make(n: int, seed: int) -> pd.DataFrame:
        frame = make_loans(n, seed=seed)
        frame["income"] = frame["income"] * 1.8
        frame["credit_score"] = frame["credit_score"] - 80
        frame["loan_amount"] = frame["loan_amount"] * 1.5
        return frame

    return make

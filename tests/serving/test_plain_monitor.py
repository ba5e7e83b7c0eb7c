"""A model served plainly (``shipyard serve churn@champion``, no deployment) writes an
inference log that a monitor watches, like a deployment's."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from shipyard import monitoring, serving
from shipyard.data import make_loans

FEATURES = ["age", "income", "loan_amount", "term_months", "credit_score", "region"]


def test_a_monitor_watches_a_model_served_plainly(
    store: Path, start_server: Callable[[Any], Any]
) -> None:
    running = start_server(serving.create_app("loans-gbm@champion", poll=0))
    rows = make_loans(120, seed=3)[FEATURES].to_dict("records")
    with httpx.Client(base_url=running.url) as client:
        for row in rows:
            assert client.post("/predict", json=row).status_code == 200
    running.stop()  # the log is written as the server stops
    log = serving.read_requests("loans-gbm")
    assert log is not None and log.num_rows == 120
    target = serving.deployments.served("loans-gbm")
    assert [r.model for r in target.routes] == ["loans-gbm@1"]  # what the log answered with

    monitoring.create_monitor(
        "plain-watch", deployment="loans-gbm", window=60, reference="log:first"
    )
    try:
        done = monitoring.check("plain-watch")
        assert done.rows == 60 and done.reference_rows == 60
        assert done.status in ("ok", "alert"), done.detectors
        for name, verdict in done.detectors.items():
            assert not verdict.get("error"), (name, verdict)
    finally:
        monitoring.delete_monitor("plain-watch")

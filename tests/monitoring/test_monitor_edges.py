"""Monitors at their edges: threads, odd logs and labels, odd datasets, channels that fail.

Each test pins a behaviour a review found broken (see the test names)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import shipyard as sy
from shipyard import monitoring, serving
from shipyard.cli import app
from shipyard.data import make_loans
from shipyard.monitoring import _channels
from shipyard.serving import InferenceLog

FEATURES = ["age", "income", "loan_amount", "term_months", "credit_score", "region"]


def test_the_log_is_read_from_many_threads_at_once(loans: Path, log: Any) -> None:
    log(make_loans(300, seed=1))
    failures: list[BaseException] = []

    def read() -> None:
        try:
            for _ in range(5):
                assert serving.read_requests("loans", last=200).num_rows == 200
        except BaseException as exc:  # collected for the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_a_log_folder_with_glob_characters_is_a_path(loans: Path, tmp_path: Path) -> None:
    folder = tmp_path / "logs[prod]?"
    frame = make_loans(50, seed=2)
    writer = InferenceLog(folder, "loans", flush_seconds=60)
    model = sy.models.load("loans-model@1")
    X = frame[FEATURES]
    columns = {c: X[c].to_numpy() for c in FEATURES}
    writer.request("r1", "main", "loans-model", 1, 0.001, columns, model.predict(X),
                   model.predict_proba(X))  # fmt: skip
    writer.close()
    assert serving.read_requests("loans", folder).num_rows == 50
    monitoring.create_monitor("m", deployment="loans", window=50, detectors=["quality"])
    assert monitoring.check("m", log_dir=folder).status == "ok"


def test_a_window_too_small_to_judge_leaves_the_alert_open(
    drifted: Any, loans: Path, log: Any, hook: Any
) -> None:
    monitoring.create_monitor(
        "m", deployment="loans", window="1h", min_rows=10, cooldown=0,
        detectors=["data_drift"], channels=[f"webhook:{hook.url}"],
    )  # fmt: skip
    log(drifted(500, seed=3))
    first = time.time()
    assert monitoring.check("m", now=first).status == "alert"
    time.sleep(1.1)
    log(drifted(20, seed=4))  # 20 rows: too few for any test of a column
    small = monitoring.check("m", now=first + 3600.5)  # the hour holds only the 20
    assert small.rows == 20 and small.status == "no data"
    assert small.detectors["data_drift"]["flagged"] is None
    assert "no feature could be judged" in small.detectors["data_drift"]["title"]
    (alert,) = monitoring.list_alerts(monitor="m")
    assert alert.status == "open" and hook.events() == ["opened"]


def test_one_label_a_metric_cannot_use_does_not_stop_monitoring(loans: Path, home: Path) -> None:
    monitoring.create_monitor(
        "m", deployment="loans", window=300, detectors=["data_drift", "performance"],
        metric="error_rate",
    )  # fmt: skip
    frame = make_loans(300, seed=5)
    model = sy.models.load("loans-model@1")
    predicted = model.predict(frame[FEATURES])
    writer = InferenceLog(home / "inference", "loans", flush_seconds=60)
    for i in range(300):
        request = uuid.uuid4().hex
        columns = {c: frame[c].to_numpy()[i : i + 1] for c in FEATURES}
        writer.request(request, "main", "loans-model", 1, 0.001, columns, predicted[i : i + 1],
                       None)  # fmt: skip
        label: Any = int(predicted[i]) if i % 10 else "unknown"  # a label of another kind
        if i == 7:
            label = float("nan")
        writer.feedback(request, label=label)
    writer.close()
    done = monitoring.check("m")
    assert done.status == "ok", done.detectors
    found = done.detectors["performance"]["evidence"]
    assert found["labelled_rows"] == 300 and found["value"] == pytest.approx(0.1, abs=0.01)
    json.dumps(done.to_dict(), allow_nan=False)  # strict JSON throughout


def test_regression_labels_that_are_not_numbers_are_left_out_and_counted(
    home: Path, log: Any
) -> None:
    from sklearn.linear_model import LinearRegression

    frame = make_loans(600, seed=6)
    X, y = frame[["age", "income"]], frame["credit_score"].astype(float)
    sy.models.register("score", LinearRegression().fit(X, y), X=X, y=y)
    serving.deployments.create("scores", {"main": "score@1"})
    model = sy.models.load("score@1")
    writer = InferenceLog(home / "inference", "scores", flush_seconds=60)
    rng = np.random.default_rng(0)
    for i in range(600):
        request = uuid.uuid4().hex
        columns = {c: X[c].to_numpy()[i : i + 1] for c in X.columns}
        writer.request(request, "main", "score", 1, 0.001, columns,
                       model.predict(X.iloc[i : i + 1]), None)  # fmt: skip
        noise = float(rng.standard_t(3) * 20)  # heavy tails, never changing
        label: Any = float(y.iloc[i]) + noise if i % 50 else ("n/a" if i % 100 else None)
        writer.feedback(request, label=label)
    writer.close()
    monitoring.create_monitor("s", deployment="scores", window=600, detectors=["performance"])
    found = monitoring.check("s").detectors["performance"]
    assert found["flagged"] is False, found["title"]  # heavy tails are not concept drift
    assert found["evidence"]["metric"] == "mae" and found["evidence"]["unusable_labels"] == 6


def test_numbers_whose_values_are_all_distinct_are_still_judged(home: Path) -> None:
    rng = np.random.default_rng(7)
    before = pd.DataFrame(
        {
            "income_usd": rng.permutation(100_000)[:300] + 20_000,
            "customer_id": np.arange(300),
            "note": [f"n{i}" for i in range(300)],
        }
    )
    after = before.assign(income_usd=before["income_usd"] * 3, customer_id=np.arange(300, 600))
    after["note"] = [f"m{i}" for i in range(300)]
    sy.datasets.register("payments", before)
    sy.datasets.register("payments", after)
    monitoring.create_monitor("p", dataset="payments", reference="payments@1")
    done = monitoring.check("p")
    evidence = done.detectors["data_drift"]["evidence"]
    assert set(evidence["skipped"]) == {"customer_id", "note"}
    assert "income_usd" in evidence["features"] and done.status == "alert"


def test_a_dataset_monitor_notices_columns_the_newest_version_dropped(home: Path) -> None:
    frame = make_loans(500, seed=8)
    sy.datasets.register("apps", frame)
    sy.datasets.register("apps", frame.drop(columns=["income", "credit_score"]))
    monitoring.create_monitor("a", dataset="apps", reference="apps@1")
    issues = monitoring.check("a").detectors["quality"]["evidence"]["issues"]
    assert (
        issues["income"]["issue"]
        == issues["credit_score"]["issue"]
        == ("missing in the current window")
    )


def test_long_column_names_are_stored_on_every_backend(backend: str) -> None:
    long = "x" * 1500
    frame = pd.DataFrame({long: np.arange(200.0), "y" * 300: np.arange(200.0)})
    sy.datasets.register("wide", frame)
    sy.datasets.register("wide", frame + 50)
    monitoring.create_monitor("w", dataset="wide", reference="wide@1")
    assert monitoring.check("w").status == "alert"
    stored = monitoring.series("w", metric="ks")
    assert len(stored) == 2 and stored["feature"].str.len().max() <= 1000
    with pytest.raises(sy.errors.InvalidInput, match="at most 128 characters"):
        monitoring.acknowledge(1, by="z" * 200)


def test_the_schedule_goes_on_past_a_monitor_that_cannot_be_checked(loans: Path, log: Any) -> None:
    monitoring.create_monitor("a-broken", deployment="loans", every="1h",
                              detectors=["prediction_drift"])  # fmt: skip
    monitoring.create_monitor("b-fine", dataset="loans", reference="loans@1", every="1h")
    log(make_loans(100, seed=9))
    serving.deployments.delete("loans")
    done = {c.monitor: c.status for c in monitoring.run_due()}
    assert done == {"a-broken": "failed", "b-fine": "ok"}


# the channels' timeout in the test below (5 s in production), and the slow receiver's delay
TIMEOUT, SLOW = 2.0, 3.0


class _Slow(BaseHTTPRequestHandler):
    posts = 0

    def do_POST(self) -> None:
        type(self).posts += 1
        self.rfile.read(int(self.headers["Content-Length"]))
        time.sleep(SLOW)  # past the channel's timeout, after the body arrived
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_a_notice_that_timed_out_is_not_sent_twice_and_is_offered_again_later(
    drifted: Any, loans: Path, log: Any, hook: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_channels, "TIMEOUT", TIMEOUT)  # two timeouts waited for, not 2 x 5 s
    slow = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    threading.Thread(target=slow.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{slow.server_address[1]}/slow"
        monitoring.create_monitor(
            "m", deployment="loans", window=500, detectors=["data_drift"],
            channels=[f"webhook:{url}", f"webhook:{hook.url}"],
        )  # fmt: skip
        log(drifted(500, seed=10))
        monitoring.check("m")
        assert _Slow.posts == 1  # a timeout after sending: no second copy
        (alert,) = monitoring.list_alerts(monitor="m")
        assert [d["ok"] for d in alert.deliveries] == [False, True]
        monitoring.check("m")  # still flagged: the slow channel is offered "opened" again
        assert _Slow.posts == 2 and hook.events() == ["opened"]
    finally:
        slow.shutdown()
        slow.server_close()


def test_command_line_limits_and_paths_are_checked(loans: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    monitoring.create_monitor("m", deployment="loans")
    # usage errors (exit 2), each naming the option and what it takes, before any work
    for args, message in (
        (["alerts", "list", "--limit", "-1"], "'--limit': '-1' is not an integer from 1 to"),
        (["monitors", "show", "m", "--last", "0"], "'--last': '0' is not an integer from 1 to"),
        (["alerts", "show", "99999999999999999999"], "is not an integer from 1 to"),
        (
            ["monitors", "report", "m", "--html", str(tmp_path / "no" / "x.html")],
            f"folder {tmp_path / 'no'} does not exist",
        ),
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and message in result.output, result.output

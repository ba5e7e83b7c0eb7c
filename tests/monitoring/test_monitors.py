"""Monitors on a deployment's inference log and on datasets, with alerts and channels.

The log is written by the serving layer's own writer (``InferenceLog``) and notices go to a
real HTTP server and a real SMTP server on 127.0.0.1.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import shipyard as sy
from shipyard import monitoring, serving
from shipyard.data import make_loans
from shipyard.errors import Conflict, InvalidInput, NotFound

FEATURES = ["age", "income", "loan_amount", "term_months", "credit_score", "region"]


def test_create_list_show_and_delete_a_monitor(stored: str, hook: Any) -> None:
    made = monitoring.create_monitor(
        "loans-watch", deployment="loans", window=500, every="1h",
        channels=["log", f"webhook:{hook.url}"], thresholds={"income": 0.2},
    )  # fmt: skip
    assert made.reference == "loans@1"  # what the deployed model was trained on
    assert made.window == {"rows": 500.0} and made.every == 3600.0
    assert made.detectors == ("data_drift", "prediction_drift", "quality", "performance")
    assert made.due  # never checked
    assert [m.name for m in monitoring.list_monitors()] == ["loans-watch"]
    paused = monitoring.set_monitor_enabled("loans-watch", False)
    assert not paused.enabled and not paused.due
    monitoring.delete_monitor("loans-watch")
    assert monitoring.list_monitors() == []
    with pytest.raises(NotFound, match="No monitor named 'loans-watch'"):
        monitoring.get_monitor("loans-watch")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"detectors": ["drift"]}, "detectors: unknown"),
        ({"window": "an hour"}, "window must be a duration"),
        ({"window": 0}, "window must be at least one row"),
        ({"every": "-1h"}, "every must be a duration"),
        ({"channels": ["pager"]}, "channels: 'pager' is not a channel"),
        ({"channels": ["webhook:ftp://x"]}, "is not a channel"),
        ({"channels": ["email:nobody"]}, "is not a channel"),
        ({"drift_share": 0}, "drift_share must be a number in"),
        ({"drift_share": "0.5"}, "drift_share must be a number in"),
        ({"window": 10**20}, "at most 1,000,000,000"),
        ({"window": 500.0}, "whole number of rows"),
        ({"every": 10**400}, "every must be at most 10 years"),
        ({"cooldown": "1000w"}, "cooldown must be at most 10 years"),
        ({"thresholds": {"incmoe": 0.1}}, r"does not have: \['incmoe'\]"),
        ({"thresholds": {"income": float("nan")}}, r"thresholds\['income'\]"),
        ({"categorical": "region"}, "categorical must be a list"),
        ({"categorical": ["regoin"]}, r"does not have: \['regoin'\]"),
        ({"metric": "mae"}, "metric mae is for regression"),
        ({"metric_threshold": True}, "metric_threshold must be a number"),
        ({"min_rows": True}, "min_rows must be a positive"),
        ({"detectors": []}, "at least one detector"),
        ({"thresholds": {"age": -1}}, r"thresholds\['age'\]"),
        ({"metric": "f1"}, "metric must be one of"),
        ({"min_rows": 0}, "min_rows must be a positive"),
        ({"reference": "log:last"}, "No dataset named 'log:last'|log:last"),
    ],
)
def test_bad_monitors_are_refused_by_name_and_nothing_is_stored(
    loans: Path, fields: dict[str, Any], message: str
) -> None:
    with pytest.raises((InvalidInput, NotFound), match=message):
        monitoring.create_monitor("bad", deployment="loans", **fields)
    assert monitoring.list_monitors() == []


def test_what_a_monitor_watches_must_exist_and_fit_its_detectors(stored: str) -> None:
    with pytest.raises(NotFound, match="No deployment named 'nope'"):
        monitoring.create_monitor("m", deployment="nope")
    with pytest.raises(InvalidInput, match="give exactly one"):
        monitoring.create_monitor("m", deployment="loans", dataset="loans")
    with pytest.raises(InvalidInput, match="prediction_drift and performance need"):
        monitoring.create_monitor("m", dataset="loans", reference="loans@1",
                                  detectors=["performance"])  # fmt: skip
    with pytest.raises(InvalidInput, match="give one like 'loans@1'"):
        monitoring.create_monitor("m", dataset="loans")
    monitoring.create_monitor("m", deployment="loans")
    with pytest.raises(Conflict, match="Monitor 'm' exists"):
        monitoring.create_monitor("m", deployment="loans")


def test_drift_opens_one_alert_that_deduplicates_and_resolves(
    drifted: Any, stored: str, home: Path, hook: Any, log: Any
) -> None:
    monitoring.create_monitor(
        "loans-watch", deployment="loans", window=600, cooldown=0, drift_share=0.3,
        detectors=["data_drift", "prediction_drift"], channels=[f"webhook:{hook.url}"],
    )  # fmt: skip
    first = monitoring.check("loans-watch")
    assert first.status == "no data" and first.rows == 0

    log(make_loans(600, seed=1))
    calm = monitoring.check("loans-watch")
    assert calm.status == "ok", calm.detectors
    assert calm.rows == 600 and calm.reference_rows == 3000
    assert calm.detectors["data_drift"]["flagged"] is False

    log(drifted(600, seed=2))
    alarm = monitoring.check("loans-watch")
    assert alarm.status == "alert"
    found = alarm.detectors["data_drift"]
    assert found["flagged"] and {"income", "credit_score"} <= set(found["evidence"]["features"])
    assert found["evidence"]["window"]["rows"] == 600
    assert found["evidence"]["reference"] == "loans@1"
    opened = monitoring.list_alerts(monitor="loans-watch", status="open")
    assert sorted(a.detector for a in opened) == ["data_drift", "prediction_drift"]
    assert hook.events() == ["opened", "opened"]
    sent = next(r for r in hook.received if r["alert"]["detector"] == "data_drift")
    assert sent["alert"]["monitor"] == "loans-watch" and "income" in sent["alert"]["title"]

    again = monitoring.check("loans-watch")  # the same window: the same alerts, no notice
    assert again.status == "alert"
    assert hook.events() == ["opened", "opened"]
    data_alert = next(
        a for a in monitoring.list_alerts(monitor="loans-watch") if a.detector == "data_drift"
    )
    assert data_alert.occurrences == 2 and data_alert.last_check_id == again.id
    assert [d["ok"] for d in data_alert.deliveries] == [True]

    log(make_loans(600, seed=3))  # the newest 600 rows are normal again
    recovered = monitoring.check("loans-watch")
    assert recovered.status == "ok"
    assert monitoring.list_alerts(monitor="loans-watch", status="active") == []
    resolved = monitoring.get_alert(data_alert.id)
    assert resolved.status == "resolved" and resolved.resolved_by == "monitor"
    assert hook.events().count("resolved") == 2

    # the time series: one value per check for every feature and statistic
    income = monitoring.series("loans-watch", feature="income", metric="wasserstein_norm")
    assert len(income) == 4 and income["value"].iloc[1] > 0.2 > income["value"].iloc[3]


def test_an_alert_resolves_only_after_the_cooldown_of_recovery(
    drifted: Any, stored: str, home: Path, hook: Any, log: Any
) -> None:
    monitoring.create_monitor(
        "loans-watch", deployment="loans", window=500, cooldown="1h",
        detectors=["data_drift"], channels=[f"webhook:{hook.url}"],
    )  # fmt: skip
    log(drifted(500, seed=4))
    assert monitoring.check("loans-watch").status == "alert"
    (alert,) = monitoring.list_alerts(monitor="loans-watch")
    log(make_loans(500, seed=5))
    now = time.time()
    assert monitoring.check("loans-watch", now=now).status == "ok"
    recovering = monitoring.get_alert(alert.id)
    assert recovering.status == "open" and hook.events() == ["opened"]  # not yet resolved
    log(drifted(500, seed=6))  # back across the threshold within the hour: the same alert
    assert monitoring.check("loans-watch").status == "alert"
    again = monitoring.get_alert(alert.id)
    assert again.status == "open" and again.occurrences == 2
    log(make_loans(500, seed=7))
    later = time.time()
    monitoring.check("loans-watch", now=later)  # recovering again, from now
    assert monitoring.get_alert(alert.id).status == "open"
    monitoring.check("loans-watch", now=later + 3601)  # recovered for the whole cooldown
    resolved = monitoring.get_alert(alert.id)
    assert resolved.status == "resolved" and resolved.resolved_by == "monitor"
    assert hook.events() == ["opened", "resolved"]  # the last notice matches the state
    assert len(monitoring.list_alerts(monitor="loans-watch")) == 1


def test_an_alert_resolved_by_hand_opens_anew_when_the_signal_returns(
    drifted: Any, stored: str, hook: Any, log: Any
) -> None:
    monitoring.create_monitor(
        "loans-watch", deployment="loans", window=500, detectors=["data_drift"],
        channels=[f"webhook:{hook.url}"],
    )  # fmt: skip
    log(drifted(500, seed=8))
    monitoring.check("loans-watch")
    (alert,) = monitoring.list_alerts(monitor="loans-watch")
    resolved = monitoring.resolve(alert.id, by="ana")
    assert resolved.status == "resolved" and resolved.resolved_by == "ana"
    monitoring.check("loans-watch")
    newest, older = monitoring.list_alerts(monitor="loans-watch")
    assert older.id == alert.id and newest.status == "open"
    assert hook.events() == ["opened", "resolved", "opened"]


def test_acknowledged_alerts_are_quiet_until_they_resolve(
    drifted: Any, stored: str, home: Path, hook: Any, log: Any
) -> None:
    monitoring.create_monitor(
        "loans-watch", deployment="loans", window=500, detectors=["data_drift"],
        channels=[f"webhook:{hook.url}"],
    )  # fmt: skip
    log(drifted(500, seed=5))
    monitoring.check("loans-watch")
    (alert,) = monitoring.list_alerts(monitor="loans-watch")
    taken = monitoring.acknowledge(alert.id, by="bo")
    assert taken.status == "acknowledged" and taken.acknowledged_by == "bo"
    with pytest.raises(Conflict, match="only an open alert"):
        monitoring.acknowledge(alert.id)
    monitoring.check("loans-watch")
    assert monitoring.get_alert(alert.id).status == "acknowledged"
    assert hook.events() == ["opened"]
    monitoring.resolve(alert.id)
    with pytest.raises(Conflict, match="already resolved"):
        monitoring.resolve(alert.id)
    with pytest.raises(NotFound, match="No alert 999"):
        monitoring.acknowledge(999)


def test_performance_alerts_on_a_low_metric_and_on_concept_drift(
    loans: Path, home: Path, hook: Any, log: Any
) -> None:
    monitoring.create_monitor(
        "loans-quality", deployment="loans", window=2000, detectors=["performance"],
        metric_threshold=0.75, channels=[f"webhook:{hook.url}"],
    )  # fmt: skip
    frame = make_loans(2000, seed=6)
    model = sy.models.load("loans-model@1")
    predicted = model.predict(frame[FEATURES]).astype(int)
    rng = np.random.default_rng(0)
    # the first 1,000 labels agree with the model 90% of the time, the next 1,000 only 60%
    wrong = np.r_[rng.random(1000) < 0.10, rng.random(1000) < 0.40]
    labels = np.where(wrong, 1 - predicted, predicted)
    log(frame.iloc[:100])  # rows without feedback are not judged
    none = monitoring.check("loans-quality")
    assert none.status == "no data" and none.detectors["performance"]["flagged"] is None
    assert "0 labelled rows in the window" in none.detectors["performance"]["title"]
    log(frame, labels=labels)
    found = monitoring.check("loans-quality").detectors["performance"]
    evidence = found["evidence"]
    assert found["flagged"] and evidence["metric"] == "accuracy"
    assert evidence["labelled_rows"] == 2000  # the newest 2,000 rows, all labelled
    assert evidence["value"] == pytest.approx(0.75, abs=0.05)
    assert evidence["concept_drift"] and 900 <= evidence["change_after_rows"] <= 1400
    accuracy = monitoring.series("loans-quality", metric="accuracy")
    assert list(accuracy["threshold"]) == [0.75]


def test_stable_labels_raise_no_concept_drift(loans: Path, home: Path, log: Any) -> None:
    monitoring.create_monitor(
        "loans-quality", deployment="loans", window=3000, detectors=["performance"]
    )
    frame = make_loans(3000, seed=7)
    predicted = sy.models.load("loans-model@1").predict(frame[FEATURES]).astype(int)
    wrong = np.random.default_rng(1).random(3000) < 0.2
    log(frame, labels=np.where(wrong, 1 - predicted, predicted))
    found = monitoring.check("loans-quality").detectors["performance"]
    assert found["flagged"] is False and found["evidence"]["concept_drift"] is False
    assert found["evidence"]["value"] == pytest.approx(0.8, abs=0.03)


def test_prediction_drift_against_the_models_outputs_on_its_training_data(
    loans: Path, home: Path, log: Any
) -> None:
    monitoring.create_monitor(
        "outputs", deployment="loans", window=800, detectors=["prediction_drift"]
    )
    log(make_loans(800, seed=8))
    calm = monitoring.check("outputs").detectors["prediction_drift"]
    assert calm["flagged"] is False, calm
    # applicants the model sees as risky: the share of predicted defaults rises
    risky = make_loans(800, seed=9)
    risky["credit_score"] = risky["credit_score"] - 150
    log(risky)
    found = monitoring.check("outputs").detectors["prediction_drift"]
    assert found["flagged"] and "probability" in found["evidence"]["features"]


def test_quality_flags_categories_the_reference_never_had(
    loans: Path, home: Path, log: Any
) -> None:
    monitoring.create_monitor("inputs", deployment="loans", window=300, detectors=["quality"])
    frame = make_loans(300, seed=10)
    seen = frame.copy()
    frame["region"] = frame["region"].astype(str)
    frame.loc[:99, "region"] = "atlantis"  # a server built for it would have answered
    log(frame, scored=seen)
    found = monitoring.check("inputs").detectors["quality"]
    assert found["flagged"]
    assert found["evidence"]["issues"]["region"]["issue"] == "categories the reference never had"
    assert "atlantis" in found["evidence"]["issues"]["region"]["examples"]


def test_quality_checks_traffic_against_the_reference_dataset_schema(
    loans: Path, home: Path, log: Any
) -> None:
    monitoring.create_monitor("inputs", deployment="loans", window=400, detectors=["quality"])
    log(make_loans(400, seed=12))
    clean = monitoring.check("inputs").detectors["quality"]
    assert not clean["flagged"]  # the inferred schema: traffic like the training data passes
    narrower = sy.datasets.schema("loans").with_column("credit_score", min=650)
    sy.datasets.set_schema("loans", narrower)  # the dataset's current schema is the one used
    found = monitoring.check("inputs").detectors["quality"]
    assert found["flagged"]
    assert found["evidence"]["issues"]["credit_score"]["issue"] == ("rows outside the schema (min)")
    share = monitoring.series("inputs", feature="credit_score", metric="out_of_schema")
    expected = (make_loans(400, seed=12)["credit_score"] < 650).mean()
    assert share["value"].iloc[-1] == pytest.approx(expected) and expected > 0.05


def test_a_dataset_monitor_checks_the_reference_dataset_schema(home: Path) -> None:
    sy.datasets.register("base", make_loans(1000, seed=0))
    strict = sy.datasets.schema("base").with_column("age", max=40)
    sy.datasets.set_schema("base", strict)
    sy.datasets.register("incoming", make_loans(1000, seed=1))  # its own, inferred schema
    monitoring.create_monitor(
        "incoming-quality", dataset="incoming", reference="base@1", detectors=["quality"]
    )
    issues = monitoring.check("incoming-quality").detectors["quality"]["evidence"]["issues"]
    assert issues["age"]["issue"] == "rows outside the schema (max)"  # as quality("base@1", ...)
    sdk = monitoring.quality("base@1", "incoming@1").set_index("column")
    assert sdk.loc["age", "issue"] == issues["age"]["issue"]


def test_a_time_window_and_a_log_reference(loans: Path, home: Path, log: Any) -> None:
    monitoring.create_monitor(
        "recent", deployment="loans", window="1h", reference="log:first",
        detectors=["data_drift"],
    )  # fmt: skip
    log(make_loans(400, seed=11))
    now = time.time()
    check = monitoring.check("recent", now=now + 1)
    assert check.status == "ok" and check.rows == 400 and check.reference_rows == 400
    later = monitoring.check("recent", now=now + 7200)  # nothing logged in the last hour
    assert later.status == "no data" and later.rows == 0


def test_a_dataset_monitor_compares_the_newest_version(drifted: Any, home: Path, hook: Any) -> None:
    sy.datasets.register("applications", make_loans(2000, seed=0))
    monitoring.create_monitor(
        "applications-drift", dataset="applications", reference="applications@1",
        detectors=["data_drift", "quality"], channels=[f"webhook:{hook.url}"],
    )  # fmt: skip
    same = monitoring.check("applications-drift")
    assert same.status == "ok"
    sy.datasets.register("applications", drifted(2000, seed=1))
    changed = monitoring.check("applications-drift")
    assert changed.status == "alert"
    evidence = changed.detectors["data_drift"]["evidence"]
    assert evidence["reference"] == "applications@1 vs applications@2"
    assert evidence["skipped"] == {
        "application_id": "an identifier: every reference value is distinct",
        "applied_at": "a timestamp: a later window is later by design",
    }
    assert hook.events() == ["opened"]


def test_a_failing_channel_costs_a_delivery_not_the_alert(
    drifted: Any, loans: Path, log: Any, make_hook: Any
) -> None:
    down = make_hook(status=503)
    try:
        monitoring.create_monitor(
            "loans-watch", deployment="loans", window=500, detectors=["data_drift"],
            channels=[f"webhook:{down.url}", "webhook:http://127.0.0.1:9/nobody"],
        )  # fmt: skip
        log(drifted(500, seed=12))
        assert monitoring.check("loans-watch").status == "alert"
        (alert,) = monitoring.list_alerts(monitor="loans-watch")
        assert alert.status == "open"
        assert [d["ok"] for d in alert.deliveries] == [False, False]
        assert "HTTP 503" in alert.deliveries[0]["error"]
        assert len(down.received) == 3  # retried on a 5xx
    finally:
        down.close()


def test_alerts_by_email_through_a_real_smtp_server(
    drifted: Any, loans: Path, home: Path, monkeypatch: pytest.MonkeyPatch, log: Any
) -> None:
    from aiosmtpd.controller import Controller

    from shipyard.config import reset_settings

    class Inbox:
        def __init__(self) -> None:
            self.messages: list[tuple[list[str], str]] = []

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            self.messages.append((list(envelope.rcpt_tos), envelope.content.decode()))
            return "250 OK"

    with socket.socket() as probe:  # a free port on loopback
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        monkeypatch.setenv("SHIPYARD_SMTP_URL", f"smtp://127.0.0.1:{port}")
        monkeypatch.setenv("SHIPYARD_SMTP_FROM", "alerts@shipyard.test")
        reset_settings()
        monitoring.create_monitor(
            "loans-watch", deployment="loans", window=500, detectors=["data_drift"],
            channels=["email:ops@bank.test,risk@bank.test"],
        )  # fmt: skip
        log(drifted(500, seed=13))
        monitoring.check("loans-watch")
        ((recipients, text),) = inbox.messages
        assert recipients == ["ops@bank.test", "risk@bank.test"]
        assert "Subject: [shipyard] opened: loans-watch" in text
        assert "From: alerts@shipyard.test" in text and "income" in text
        (alert,) = monitoring.list_alerts()
        assert alert.deliveries[0]["ok"] and alert.deliveries[0]["channel"].startswith("email:")
    finally:
        controller.stop()


def test_the_schedule_runs_monitors_when_due(loans: Path, home: Path, log: Any) -> None:
    monitoring.create_monitor("hourly", deployment="loans", every="1h", detectors=["quality"])
    monitoring.create_monitor("by-hand", deployment="loans", detectors=["quality"])
    log(make_loans(100, seed=14))
    assert [c.monitor for c in monitoring.run_due()] == ["hourly"]
    assert monitoring.run_due() == []  # checked a moment ago
    assert len(monitoring.checks("hourly")) == 1 and monitoring.checks("by-hand") == []


def test_a_detector_that_fails_fails_alone_and_the_check_is_stored(
    loans: Path, home: Path, log: Any
) -> None:
    monitoring.create_monitor("loans-watch", deployment="loans", window=100)
    log(make_loans(100, seed=15))
    serving.deployments.delete("loans")  # its log stays; its model cannot be found
    failed = monitoring.check("loans-watch")
    assert failed.status == "failed"  # one detector failed; the others still judged
    assert "No deployment named 'loans'" in failed.detectors["prediction_drift"]["error"]
    assert failed.detectors["data_drift"]["flagged"] is False
    assert monitoring.checks("loans-watch")[0].status == "failed"
    assert monitoring.list_alerts() == []


def test_multivariate_drift_finds_what_single_columns_do_not(loans: Path, log: Any) -> None:
    monitoring.create_monitor(
        "joint", deployment="loans", window=2000, detectors=["data_drift", "multivariate"]
    )
    frame = make_loans(2000, seed=16)
    # income no longer goes with age and education: every column keeps its distribution
    frame["income"] = np.random.default_rng(0).permutation(frame["income"].to_numpy())
    log(frame)
    found = monitoring.check("joint").detectors
    assert found["data_drift"]["flagged"] is False
    assert found["multivariate"]["flagged"], found["multivariate"]["title"]
    assert found["multivariate"]["evidence"]["features"][0] == "income"


def test_webhooks_are_signed_and_the_log_channel_carries_the_alert(
    drifted: Any, loans: Path, log: Any, hook: Any, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    import hashlib
    import hmac

    monkeypatch.setenv("SHIPYARD_WEBHOOK_SECRET", "s3cret")
    monitoring.create_monitor(
        "loans-watch", deployment="loans", window=500, detectors=["data_drift"],
        channels=["log", f"webhook:{hook.url}"],
    )  # fmt: skip
    log(drifted(500, seed=17))
    with caplog.at_level("WARNING", logger="shipyard.alerts"):
        monitoring.check("loans-watch")
    (record,) = [r for r in caplog.records if r.name == "shipyard.alerts"]
    assert "opened: loans-watch" in record.getMessage()
    assert record.alert["detector"] == "data_drift" and record.event == "opened"
    (raw,) = hook.bodies
    signature = hook.headers[0]["X-Shipyard-Signature"]
    assert signature == "sha256=" + hmac.new(b"s3cret", raw, hashlib.sha256).hexdigest()
    assert hook.headers[0]["X-Shipyard-Event"] == "opened"


def test_the_verdict_weighs_features_by_how_much_the_model_leans_on_them(
    loans: Path, log: Any
) -> None:
    for name, weighted in (("weighted", True), ("plain", False)):
        monitoring.create_monitor(
            name, deployment="loans", window=1000, detectors=["data_drift"],
            drift_share=0.3, weighted=weighted,
        )  # fmt: skip
    frame = make_loans(1000, seed=18)
    frame["term_months"] = 60  # two of six inputs move, both ones the model barely reads
    frame["age"] = frame["age"] + 15
    log(frame)
    weighted = monitoring.check("weighted").detectors["data_drift"]["evidence"]
    plain = monitoring.check("plain").detectors["data_drift"]["evidence"]
    assert set(weighted["features"]) == set(plain["features"]) == {"term_months", "age"}
    assert plain["share"] == pytest.approx(2 / 6) and not plain["weighted"]
    importance = weighted["importance"]
    assert weighted["weighted"] and set(importance) == set(FEATURES)
    leaned = max(importance, key=importance.get)
    assert leaned not in ("term_months", "age")
    assert weighted["share"] < plain["share"]

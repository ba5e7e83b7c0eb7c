"""``shipyard monitors`` and ``shipyard alerts`` through Typer's runner on a real store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

from shipyard.cli import app
from shipyard.data import make_loans

runner = CliRunner()


def invoke(*args: str, input: str | None = None) -> Result:
    return runner.invoke(app, list(args), input=input, env={"COLUMNS": "200"})


def test_monitors_and_alerts_from_the_command_line(
    loans: Path, log: Any, hook: Any, tmp_path: Path
) -> None:
    made = invoke(
        "monitors", "create", "loans-watch", "--deployment", "loans", "--window", "500",
        "--every", "1h", "--detector", "data_drift", "--detector", "quality",
        "--channel", f"webhook:{hook.url}", "--drift-share", "0.3",
        "--threshold", "income=0.15",
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    assert "Created monitor loans-watch on deployment loans" in made.output
    assert "last 500 rows against loans@1" in made.output

    listed = invoke("monitors", "list")
    assert listed.exit_code == 0 and "loans-watch" in listed.output and "1h" in listed.output
    due = invoke("monitors", "run", "--due")  # never checked: due; nothing logged yet
    assert due.exit_code == 0 and "loans-watch" in due.output and "no data" in due.output
    assert "No monitor is due" in invoke("monitors", "run", "--due").output

    frame = make_loans(500, seed=20)
    frame["income"] = frame["income"] * 2
    frame["credit_score"] = frame["credit_score"] - 90
    log(frame)
    ran = invoke("monitors", "run", "loans-watch")
    assert ran.exit_code == 0, ran.output
    assert "alert" in ran.output and "data drift in" in ran.output and "income" in ran.output
    assert hook.events() == ["opened"]

    alerts = json.loads(invoke("alerts", "list", "--status", "open", "--json").stdout)
    (alert,) = alerts
    assert alert["detector"] == "data_drift" and alert["monitor"] == "loans-watch"
    shown = invoke("alerts", "show", str(alert["id"]))
    assert shown.exit_code == 0 and "Evidence:" in shown.output and "webhook:" in shown.output
    acked = invoke("alerts", "ack", str(alert["id"]), "--by", "ana")
    assert acked.exit_code == 0 and "acknowledged by ana" in acked.output
    resolved = invoke("alerts", "resolve", str(alert["id"]))
    assert resolved.exit_code == 0, resolved.output
    again = invoke("alerts", "resolve", str(alert["id"]))
    assert again.exit_code == 1 and "already resolved" in again.output
    assert hook.events() == ["opened", "resolved"]

    shown = json.loads(invoke("monitors", "show", "loans-watch", "--json").stdout)
    assert shown["monitor"]["thresholds"] == {"income": 0.15}
    assert [c["status"] for c in shown["checks"]] == ["alert", "no data"]

    page = tmp_path / "watch.html"
    reported = invoke("monitors", "report", "loans-watch", "--html", str(page))
    assert reported.exit_code == 0, reported.output
    text = page.read_text()
    assert "Monitor loans-watch" in text and "income: drifted" in text
    assert "statistic per feature over time" in text and "Alerts" in text
    assert page.stat().st_size < 200_000 and (tmp_path / "plotly.min.js").is_file()

    assert invoke("monitors", "pause", "loans-watch").exit_code == 0
    assert "paused" in invoke("monitors", "list").output
    assert invoke("monitors", "resume", "loans-watch").exit_code == 0
    deleted = invoke("monitors", "delete", "loans-watch", "--yes")
    assert deleted.exit_code == 0 and "Deleted loans-watch" in deleted.output


def test_bad_monitor_commands_name_what_is_wrong(loans: Path) -> None:
    bad = invoke("monitors", "create", "m", "--deployment", "loans", "--threshold", "income")
    assert bad.exit_code == 1 and "--threshold must look like FEATURE=NUMBER" in bad.output
    bad = invoke("monitors", "create", "m", "--deployment", "loans", "--channel", "sms:1")
    assert bad.exit_code == 1 and "is not a channel" in bad.output
    neither = invoke("monitors", "run")
    assert neither.exit_code == 1 and "Give a monitor name or --due" in neither.output
    missing = invoke("monitors", "show", "nope")
    assert missing.exit_code == 1 and "No monitor named 'nope'" in missing.output
    assert invoke("alerts", "ack", "7").exit_code == 1

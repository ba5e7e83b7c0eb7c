"""``shipyard pipelines`` on a real SQLite store and real worker processes, through Typer's
runner: list, show (and its HTML chart), run with parameters and a live view, runs, logs,
resume, cancel, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cli_flows as flows
import pandas as pd
import pytest
from typer.testing import CliRunner, Result

import shipyard as sy
from shipyard.cli import app

runner = CliRunner()


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args), env={"COLUMNS": "160"})


def as_json(*args: str) -> Any:
    result = invoke(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def block(home: Path, tmp_path: Path) -> Path:
    """``cli-fan`` and ``cli-fragile`` registered; the file that makes ``fragile`` fail."""
    path = tmp_path / "block"
    path.touch()
    sy.pipelines.register(flows.fan)
    sy.pipelines.register(flows.fragile_pipeline, params={"path": str(path)})
    return path


def test_run_parses_params_shows_each_step_and_records_the_run(block: Path) -> None:
    ran = invoke("pipelines", "run", "cli-fan", "-p", "n=4", "-p", "label=hi", "-p", "ks=[1,2,3]")
    assert ran.exit_code == 0, ran.output
    for step in ("numbers", "power-3", "add_up"):
        assert step in ran.stdout
    assert "succeeded" in ran.stdout and "Run " in ran.stdout
    (run,) = as_json("pipelines", "runs", "cli-fan")
    assert run["status"] == "succeeded"
    assert run["params"] == {"n": 4, "label": "hi", "ks": [1, 2, 3]}
    assert sy.pipelines.output(run["id"], "add_up") == 6 + 14 + 36

    logs = invoke("pipelines", "logs", run["id"], "numbers")
    assert logs.exit_code == 0 and logs.stdout == "making 4 numbers for hi\n"
    again = as_json(
        "pipelines", "run", "cli-fan", "-p", "n=4", "-p", "label=hi", "-p", "ks=[1,2,3]"
    )
    assert {s["status"] for s in again["steps"]} == {"cached"}
    fresh = as_json("pipelines", "run", "cli-fan", "-p", "n=4", "--no-cache")
    assert {s["status"] for s in fresh["steps"]} == {"succeeded"}


def test_list_and_show_name_versions_steps_and_runs(block: Path, tmp_path: Path) -> None:
    invoke("pipelines", "run", "cli-fan")
    listed = invoke("pipelines", "list")
    assert listed.exit_code == 0 and "cli-fan" in listed.stdout and "cli-fragile" in listed.stdout
    summary = {p["name"]: p for p in as_json("pipelines", "list")}
    assert summary["cli-fan"]["last_run_status"] == "succeeded"
    assert summary["cli-fragile"]["last_run_status"] is None

    shown = invoke("pipelines", "show", "cli-fan@1")
    assert shown.exit_code == 0, shown.output
    assert "cli-fan@1" in shown.stdout and "power, power-2" in shown.stdout
    data = as_json("pipelines", "show", "cli-fan")
    assert data["ref"] == "cli-fan@1" and len(data["versions"]) == 1
    assert [n["name"] for n in data["graph"]] == ["numbers", "power", "power-2", "add_up"]
    assert data["runs"][0]["status"] == "succeeded"

    chart = tmp_path / "dag.html"
    drawn = invoke("pipelines", "show", "cli-fan", "--html", str(chart))
    assert drawn.exit_code == 0, drawn.output
    assert "add_up" in chart.read_text(encoding="utf-8")
    other = tmp_path / "other.html"
    first = data["runs"][0]["id"]
    shown = invoke("pipelines", "show", "cli-fan", "--html", str(other), "--run", first)
    assert shown.exit_code == 0, shown.output
    assert first in other.read_text(encoding="utf-8")


def test_a_failed_run_exits_1_and_resumes_once_fixed(block: Path) -> None:
    failed = invoke("pipelines", "run", "cli-fragile")
    assert failed.exit_code == 1
    assert "is in the way" in failed.stderr and "fragile" in failed.stdout
    (run,) = as_json("pipelines", "runs", "--status", "failed")
    logs = invoke("pipelines", "logs", run["id"], "fragile")
    assert logs.exit_code == 0 and "checking" in logs.stdout
    assert "RuntimeError" in logs.stderr

    again = invoke("pipelines", "resume", run["id"])  # still blocked: fails again
    assert again.exit_code == 1
    block.unlink()
    resumed = invoke("pipelines", "resume", run["id"])
    assert resumed.exit_code == 0, resumed.output
    assert "reused" in resumed.stdout
    newest = as_json("pipelines", "runs", "cli-fragile", "--limit", "1")[0]
    assert newest["status"] == "succeeded" and newest["resumed_from"] is not None


def test_cancel_a_queued_run(block: Path) -> None:
    queued = sy.pipelines.enqueue("cli-fan")
    cancelled = invoke("pipelines", "cancel", queued.id)
    assert cancelled.exit_code == 0 and "cancelled" in cancelled.stdout
    assert sy.pipelines.get_run(queued.id).status == "cancelled"


def test_schedule_and_trigger_then_list_them(block: Path) -> None:
    made = as_json(
        "pipelines", "schedule", "cli-fan", "0 3 * * *", "--tz", "Europe/Paris", "-p", "n=5"
    )
    assert made["kind"] == "cron" and made["params"] == {"n": 5}
    sy.datasets.register("numbers", pd.DataFrame({"x": [1, 2, 3]}))
    fired_on = invoke("pipelines", "trigger", "cli-fan", "--on", "dataset:numbers")
    assert fired_on.exit_code == 0 and "on dataset:numbers" in fired_on.stdout
    listed = as_json("pipelines", "schedules", "cli-fan")
    assert [(s["kind"], s["cron"], s["on"]) for s in listed] == [
        ("cron", "0 3 * * *", None),
        ("trigger", None, "dataset:numbers"),
    ]
    table = invoke("pipelines", "schedules")
    assert table.exit_code == 0 and made["id"] in table.stdout
    bad = invoke("pipelines", "schedule", "cli-fan", "every night")
    assert bad.exit_code == 1 and "cron must be five fields" in bad.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "nowhere"], "No pipeline named 'nowhere'"),
        (["run", "cli-fan", "-p", "n"], "--param expects key=value; got 'n'"),
        (["run", "cli-fan", "-p", "bogus=1"], "bad parameters"),
        (["run", "cli-fan", "--executor", "threads"], "executor must be one of"),
        (["runs", "--status", "done"], "--status must be one of"),
        (["logs", "0" * 32, "x"], "No pipeline run"),
        (["show", "cli-fan", "--html", "x.html", "--run", "f" * 32], "No pipeline run"),
    ],
)
def test_errors_are_one_line(block: Path, args: list[str], message: str) -> None:
    result = invoke("pipelines", *args)
    assert result.exit_code == 1
    assert message in result.stderr
    assert "Traceback" not in result.output and len(result.stderr.strip().splitlines()) == 1
    debug = runner.invoke(app, ["--debug", "pipelines", *args])
    assert debug.exit_code == 1 and "Traceback" in debug.stderr

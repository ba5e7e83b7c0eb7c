"""One name per concept (docs/naming.md): the CLI's verbs are the SDK's, and the old
spellings keep working, hidden from help."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

import shipyard as sy
from shipyard.cli import app
from shipyard.data import make_loans

runner = CliRunner()


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args), env={"COLUMNS": "200"})


def _commands(group: str) -> list[str]:
    """The command names a group's --help lists (hidden aliases are not listed)."""
    lines = invoke(group, "--help").output.splitlines()
    return [
        line.strip("│ ").split()[0] for line in lines if line.startswith("│ ") and "--" not in line
    ]


@pytest.fixture
def drifted(home: Path) -> str:
    """A dataset monitor whose newest version drifted from its reference."""
    sy.datasets.register("loans", make_loans(800, seed=0))
    sy.datasets.register("loans", make_loans(800, seed=1, drift=0.9))
    made = invoke(
        "monitors", "create", "loans-data", "--dataset", "loans", "--reference", "loans@1",
        "--every", "1d", "--channel", "log",
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    return "loans-data"


def test_help_lists_the_chosen_verbs_not_the_old_spellings() -> None:
    monitors = _commands("monitors")
    assert "check" in monitors and "run" not in monitors
    alerts = _commands("alerts")
    assert "acknowledge" in alerts and "ack" not in alerts


def test_monitors_check_checks_a_monitor_and_the_due_ones(drifted: str) -> None:
    due = invoke("monitors", "check", "--due", "--json")  # never checked: due
    assert due.exit_code == 0, due.output
    assert [c["monitor"] for c in json.loads(due.stdout)] == [drifted]
    assert "No monitor is due" in invoke("monitors", "check", "--due").output
    checked = invoke("monitors", "check", drifted)
    assert checked.exit_code == 0, checked.output
    assert f"{drifted} check" in checked.output and "alert" in checked.output
    assert invoke("monitors", "check").exit_code == 1  # neither a name nor --due


def test_the_old_monitors_run_still_checks(drifted: str) -> None:
    ran = invoke("monitors", "run", drifted, "--json")
    assert ran.exit_code == 0, ran.output
    (check,) = json.loads(ran.stdout)
    assert check["monitor"] == drifted and check["status"] == "alert"


def _open_alert(monitor: str) -> int:
    assert invoke("monitors", "check", monitor).exit_code == 0
    opened = json.loads(invoke("alerts", "list", "--status", "open", "--json").stdout)
    assert opened, "the drifted month should open an alert"
    return int(opened[0]["id"])


def test_alerts_acknowledge_acknowledges(drifted: str) -> None:
    alert = _open_alert(drifted)
    acked = invoke("alerts", "acknowledge", str(alert), "--by", "ana")
    assert acked.exit_code == 0 and "acknowledged by ana" in acked.output
    assert invoke("alerts", "acknowledge", str(alert)).exit_code == 1  # no longer open


def test_the_old_alerts_ack_still_acknowledges(drifted: str) -> None:
    alert = _open_alert(drifted)
    acked = invoke("alerts", "ack", str(alert), "--by", "bo")
    assert acked.exit_code == 0 and "acknowledged by bo" in acked.output

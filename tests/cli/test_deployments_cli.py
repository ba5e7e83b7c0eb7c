"""``shipyard deployments`` through Typer's runner: the statistical options of the policies,
the reason of the last automatic decision in ``show``, and the A/B statistics table."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

import shipyard as sy
from shipyard.cli import app
from shipyard.cli._deployments import statistics_table
from shipyard.data import make_loans
from shipyard.serving import deployments

runner = CliRunner()


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args), env={"COLUMNS": "160"})


def _models() -> None:
    frame = make_loans(200, seed=0)
    X, y = frame[["age", "income"]], frame["default"]
    for c in (0.1, 1.0):
        sy.models.register("fraud", LogisticRegression(C=c, max_iter=300).fit(X, y), X=X)


def test_statistical_options_and_the_last_decision(home: Path) -> None:
    _models()
    made = invoke(
        "deployments", "create", "c", "--route", "old=fraud@1", "--route", "new=fraud@2",
        "--policy", "canary", "--require-labels", "--alpha", "0.01",
        "--max-metric-drop", "0.05", "--min-labels", "40",
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    policy = deployments.get("c").policy
    assert policy["require_labels"] is True and policy["alpha"] == 0.01
    assert policy["max_metric_drop"] == 0.05 and policy["min_labels"] == 40
    plain = invoke(
        "deployments", "set-policy", "c", "canary", "--no-require-labels", "--alpha", "0.1"
    )
    assert plain.exit_code == 0, plain.output
    assert deployments.get("c").policy["require_labels"] is False
    ab = invoke(
        "deployments", "create", "ab", "--route", "a=fraud@1", "--route", "b=fraud@2",
        "--metric", "reward", "--stop-when-significant",
    )  # fmt: skip
    assert ab.exit_code == 0, ab.output
    assert deployments.get("ab").policy["stop_when_significant"] is True
    bad = invoke("deployments", "set-policy", "ab", "fixed", "--alpha", "2")
    assert bad.exit_code != 0 and "alpha must be between 0 and 1" in bad.output

    current = deployments.get("c")
    why = "accuracy 0.61 vs 0.90: drop 0.29 > 0.05 (p=0.001)"
    deployments.record_decision(
        "c", current.revision, {**current.policy, "status": "rolled_back"},
        {"old": 100.0, "new": 0.0}, "canary-rolled-back", {"why": why},
    )  # fmt: skip
    shown = invoke("deployments", "show", "c")
    assert shown.exit_code == 0, shown.output
    assert "Last decision (canary-rolled-back" in shown.output and why in shown.output


def test_the_statistics_table_shows_each_route_against_the_baseline() -> None:
    found = {
        "metric": "accuracy",
        "higher_is_better": True,
        "alpha": 0.05,
        "baseline": "a",
        "routes": [
            {"route": "a", "n": 400, "estimate": 0.9, "interval": [0.86, 0.93]},
            {
                "route": "b", "n": 380, "estimate": 0.75, "interval": [0.7, 0.8],
                "difference": -0.15, "difference_interval": [-0.22, -0.08],
                "p_value": 0.0004, "significant": True,
            },
            {
                "route": "c", "n": 12, "estimate": None, "interval": [None, None],
                "difference": None, "difference_interval": [None, None],
                "p_value": None, "significant": False,
            },
        ],
        "winner": "a",
    }  # fmt: skip
    out = io.StringIO()
    Console(file=out, width=160).print(statistics_table(found))
    text = out.getvalue()
    assert "accuracy (higher is better)" in text and "winner: a" in text
    lines = {line.split("│")[1].strip(): line for line in text.splitlines() if "│" in line}
    assert "0.9 [0.86, 0.93]" in lines["a (baseline)"]
    b = [cell.strip() for cell in lines["b"].split("│")]
    assert b[1:7] == ["b", "380", "0.75 [0.7, 0.8]", "-0.15 [-0.22, -0.08]", "0.0004", "yes"]
    c = [cell.strip() for cell in lines["c"].split("│")]
    assert c[3] == "-" and c[6] == "no"


def test_show_lists_a_route_change_in_the_history(home: Path) -> None:
    """A route moved to another version (as retraining does) is an event whose ``after``
    is a reference, not a split: ``show`` lists it instead of failing."""
    _models()
    made = invoke("deployments", "create", "r", "--route", "main=fraud@1")
    assert made.exit_code == 0, made.output
    deployments.set_route("r", "main", "fraud@2", reason="retrained")
    shown = invoke("deployments", "show", "r")
    assert shown.exit_code == 0, shown.output
    assert "retrained" in shown.output

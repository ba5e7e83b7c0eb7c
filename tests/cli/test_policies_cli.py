"""``shipyard models policy|check|approve`` and ``--force --reason`` on promote and alias."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

import shipyard as sy
from shipyard.cli import app

runner = CliRunner()
POLICY = "protect: [champion, production]\ngates:\n  min_metric: {auc: 0.9}\n  approval: editor\n"


def test_policy_check_approve_and_force_from_the_shell(home: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.normal(size=50)})
    y = (x["a"] > 0).astype(int)
    sy.models.register("churn", LogisticRegression().fit(x, y), X=x, metrics={"auc": 0.95})
    file = tmp_path / "policy.yaml"
    file.write_text(POLICY)
    done = runner.invoke(app, ["models", "policy", "set", "churn", str(file)])
    assert done.exit_code == 0 and "protect: [champion, production]" in done.output
    shown = runner.invoke(app, ["models", "policy", "show", "churn", "--json"])
    assert json.loads(shown.output)["policy"]["gates"]["approval"] == "editor"
    history = runner.invoke(app, ["models", "policy", "history", "churn"])
    assert "min_metric, approval" in history.output
    checked = runner.invoke(app, ["models", "check", "churn@1", "--to", "champion"])
    assert checked.exit_code == 1 and "no approval by editor or higher" in checked.output
    refused = runner.invoke(app, ["models", "promote", "churn@1", "--to", "production"])
    assert refused.exit_code == 1 and "1 of 2 gates failed: approval" in refused.output
    no_reason = runner.invoke(app, ["models", "promote", "churn@1", "--force"])
    assert no_reason.exit_code == 1 and "needs a reason" in no_reason.output
    forced = runner.invoke(app, ["models", "alias", "churn@1", "champion", "--force", "-r", "demo"])
    assert forced.exit_code == 0 and sy.models.evidence("churn@1", "override")
    approved = runner.invoke(app, ["models", "approve", "churn@1", "--comment", "fine"])
    assert approved.exit_code == 0 and "(admin)" in approved.output
    report = runner.invoke(app, ["models", "check", "churn@1", "--to", "production", "--json"])
    assert report.exit_code == 0 and json.loads(report.output)["passed"] is True
    assert runner.invoke(app, ["models", "promote", "churn@1"]).exit_code == 0

"""``shipyard explain`` and ``shipyard models explain`` on a real store."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import shipyard as sy
from shipyard.cli import app

runner = CliRunner()


def test_local_and_global_explanations_from_the_command_line(store: Path, tmp_path: Path) -> None:
    from sklearn.ensemble import GradientBoostingRegressor

    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(150, 3)), columns=["a", "b", "c"])
    y = 3 * X["a"] - X["b"]
    model = GradientBoostingRegressor(n_estimators=20, random_state=1).fit(X, y)
    sy.models.register("price", model, X=X, y=y)
    rows = tmp_path / "rows.json"
    rows.write_text(json.dumps(X.head(2).to_dict("records")))
    shown = runner.invoke(app, ["explain", "price@1", "--rows", str(rows)])
    assert shown.exit_code == 0, shown.output
    assert "method tree" in shown.output and "row 1" in shown.output
    out = runner.invoke(app, ["explain", "price@1", "--rows", str(rows), "--json"])
    body = json.loads(out.output)
    first = body["rows"][0]
    total = sum(first["contributions"].values()) + body["base_value"]
    assert total == pytest.approx(model.predict(X.head(1))[0], abs=1e-9)
    csv = tmp_path / "rows.csv"
    X.head(3).to_csv(csv, index=False)
    assert runner.invoke(app, ["explain", "price@1", "--rows", str(csv)]).exit_code == 0
    recorded = runner.invoke(app, ["models", "explain", "price@1", "--rows", "100"])
    assert recorded.exit_code == 0, recorded.output
    assert "recorded" in recorded.output and "permutation (r2)" in recorded.output
    latest = sy.governance.explanation("price@1")
    assert latest is not None and latest.rows == 100 and latest.top(1)[0][0] == "a"

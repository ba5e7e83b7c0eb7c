"""``sy.automl`` and ``sy.tune``: tracked trials, budgets, reproducibility, bad input."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

import shipyard as sy
from shipyard.data import make_loans
from shipyard.errors import InvalidInput

DROP = ["application_id"]


@pytest.fixture
def loans(home: Path) -> str:
    return sy.datasets.register("loans", make_loans(600, seed=0)).ref


def test_every_trial_is_a_child_run_and_the_best_registers(loans: str) -> None:
    result = sy.automl(
        dataset=loans,
        target="default",
        drop=DROP,
        n_trials=6,
        time_budget=120,
        families=["linear", "hist_gradient_boosting"],
        seed=1,
    )
    board = result.leaderboard
    assert len(board) == 6 and result.metric == "auc"
    assert set(board["family"]) <= {"linear", "hist_gradient_boosting"}
    complete = board[board["state"] == "complete"]
    assert complete["auc"].is_monotonic_decreasing  # best first
    children = sy.search_runs("automl", filter=f"parent_id = '{result.run_id}'")
    assert len(children) == 6
    parent = sy.get_run(result.run_id)
    assert parent.tags["best_family"] == complete.iloc[0]["family"]
    assert parent.metrics["auc"].value == pytest.approx(complete.iloc[0]["auc"])
    assert "leaderboard.parquet" in {a.path for a in parent.artifacts}
    version = sy.models.register("auto", result)
    assert version.run_id == result.run_id and version.datasets == (loans,)
    raw = make_loans(5, seed=3)
    np.testing.assert_allclose(
        sy.models.load("auto@1").predict_proba(raw),
        result.best.model.predict_proba(raw[result.best.features]),
    )


def test_a_seed_gives_the_same_leaderboard(loans: str) -> None:
    def board() -> list[tuple]:
        found = sy.automl(
            dataset=loans,
            target="default",
            drop=DROP,
            n_trials=5,
            time_budget=120,
            families=["linear", "random_forest"],
            seed=7,
        ).leaderboard
        return list(
            zip(found["family"], found["params"], found["auc"].round(10).fillna(-1.0), strict=True)
        )

    assert board() == board()


def test_the_time_budget_is_kept(loans: str) -> None:
    started = time.monotonic()
    result = sy.automl(
        dataset=loans, target="default", drop=DROP, time_budget=4, families=["linear", "lightgbm"]
    )
    elapsed = time.monotonic() - started
    assert len(result.leaderboard) >= 2
    assert elapsed < 4 * 1.25 + 1.0  # a trial in flight may finish; setup is outside


def test_architecture_search_over_the_mlp_family(loans: str) -> None:
    pytest.importorskip("torch", reason='the PyTorch MLP needs torch: pip install ".[dev,torch]"')
    result = sy.automl(
        dataset=loans,
        target="default",
        drop=DROP,
        n_trials=3,
        time_budget=120,
        families=["mlp"],
        presets="fast",  # the best single MLP, not an ensemble of them
    )
    params = sy.get_run(result.leaderboard.iloc[0]["run_id"]).params
    assert {"mlp.depth", "mlp.width_0", "mlp.activation", "mlp.l2", "mlp.learning_rate"} <= set(
        params
    )
    depth = int(params["mlp.depth"])
    model = result.best.model[-1]
    assert len(model.hidden_layer_sizes) == depth
    # PyTorch is installed with the dev extra: the family searches its MLP, dropout included
    assert type(model).__name__ == "TorchMLPClassifier" and "mlp.dropout" in params
    assert model.validation_curve_ and model.n_epochs_ == len(model.validation_curve_)


def test_regression_minimises_rmse(home: Path) -> None:
    frame = make_loans(500, seed=2)
    result = sy.automl(
        data=frame,
        target="income",
        drop=DROP,
        n_trials=4,
        time_budget=120,
        families=["linear", "hist_gradient_boosting"],
    )
    assert result.metric == "rmse"
    complete = result.leaderboard[result.leaderboard["state"] == "complete"]
    assert complete["rmse"].is_monotonic_increasing


def test_bad_input_names_the_cause(loans: str) -> None:
    with pytest.raises(InvalidInput, match="target 'nope'"):
        sy.automl(dataset=loans, target="nope")
    with pytest.raises(InvalidInput, match="families"):
        sy.automl(dataset=loans, target="default", families=["svm"])
    with pytest.raises(InvalidInput, match="time_budget"):
        sy.automl(dataset=loans, target="default", time_budget=0)
    with pytest.raises(InvalidInput, match="metric 'r2' is not available"):
        sy.automl(
            dataset=loans, target="default", drop=DROP, metric="r2", n_trials=1, families=["linear"]
        )
    with pytest.raises(InvalidInput, match="No trial finished within the time budget"):
        sy.automl(
            dataset=loans, target="default", drop=DROP, time_budget=1e-6, families=["random_forest"]
        )


def test_tune_an_estimator_and_an_objective(home: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    frame = make_loans(400, seed=4)[["age", "income", "credit_score", "region", "default"]]
    board = sy.tune(
        LogisticRegression(max_iter=500),
        {"C": (1e-3, 10.0, "log"), "fit_intercept": [True, False]},
        data=frame,
        target="default",
        n_trials=4,
        sampler="random",
    )
    assert len(board) == 4 and board["score"].is_monotonic_decreasing  # auc: higher first
    assert board["run_id"].notna().all()
    grid = sy.tune(lambda p: (p["x"] - 3) ** 2, {"x": (0, 6)}, n_trials=7, sampler="grid")
    assert grid.iloc[0]["x"] == 3 and grid.iloc[0]["score"] == 0
    with pytest.raises(InvalidInput, match="space\\['x'\\]"):
        sy.tune(lambda p: 0.0, {"x": (5, 1)})
    with pytest.raises(InvalidInput, match="sampler='grid' needs choices"):
        sy.tune(lambda p: 0.0, {"x": (0.0, 1.0)}, sampler="grid")


def test_automl_command_prints_the_leaderboard(loans: str, tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from shipyard.cli import app

    out = CliRunner().invoke(
        app,
        [
            "automl",
            "-d",
            loans,
            "-t",
            "default",
            "--drop",
            "application_id",
            "--trials",
            "3",
            "--family",
            "linear",
            "--register",
            "best",
            "--html",
            str(tmp_path / "search.html"),
            "--json",
        ],
    )
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["metric"] == "auc" and len(data["leaderboard"]) == 3
    assert data["registered"] == "best@1"
    page = (tmp_path / "search.html").read_text()
    assert data["report"] == str(tmp_path / "search.html") and "Plotly.newPlot" in page
    shown = CliRunner().invoke(
        app,
        ["automl", "-d", loans, "-t", "default", "--trials", "2", "--family", "linear"],
        env={"COLUMNS": "160"},
    )
    assert shown.exit_code == 0 and "Leaderboard" in shown.output


def test_the_leaderboard_chart_and_report(loans: str, tmp_path: Path) -> None:
    result = sy.automl(
        dataset=loans,
        target="default",
        drop=DROP,
        n_trials=8,
        time_budget=120,
        families=["linear", "lightgbm"],
        seed=2,
    )
    board = result.leaderboard
    assert board["started"].min() == 0 and (board["started"] >= 0).all()
    figure = result.figure()
    names = {trace.name for trace in figure.data}
    assert {"linear", "lightgbm", "best so far"} <= names
    best_line = next(t for t in figure.data if t.name == "best so far")
    assert list(best_line.y) == sorted(best_line.y)  # AUC: the best so far never falls
    assert best_line.y[-1] == pytest.approx(board["auc"].max())
    bars = next(t for t in figure.data if t.type == "bar")
    assert set(bars.y) == set(board.loc[board["auc"].notna(), "family"])
    written = result.report(tmp_path / "report.html")
    page = written.read_text()
    assert "Plotly.newPlot" in page and "<table" in page
    assert written.stat().st_size < 200_000 and (tmp_path / "plotly.min.js").is_file()
    assert page.count("<tr") == len(board) + 1  # a row per trial, and the header


def test_a_grid_search_walks_every_family_in_turn_then_stops(loans: str) -> None:
    from shipyard.automl._spaces import grid_points

    points = grid_points(["linear", "lightgbm"], "classification")
    assert len(points) == 4 + 8 and [p["family"] for p in points[:4]] == [
        "linear", "lightgbm", "linear", "lightgbm"
    ]  # fmt: skip
    result = sy.automl(
        dataset=loans, target="default", drop=DROP, time_budget=120, sampler="grid",
        families=["linear", "lightgbm"],
    )  # fmt: skip
    board = result.leaderboard
    assert len(board) == 12  # the whole grid, no more
    tried = {(row["family"], row["params"]) for row in board.to_dict("records")}
    assert len(tried) == 12
    with pytest.raises(InvalidInput, match="sampler"):
        sy.automl(dataset=loans, target="default", sampler="bayes")

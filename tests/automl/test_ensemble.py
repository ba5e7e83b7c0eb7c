"""Greedy ensembles of a search's trials: the selection, its keep decision, the model."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

import shipyard as sy
from shipyard import serving
from shipyard.automl._blend_scores import batch_metric, fast_metric
from shipyard.automl._ensemble import refit_members, select
from shipyard.automl._oof import OutOfFold, fold_score
from shipyard.automl._problem import make_splits, score_values
from shipyard.config import reset_settings
from shipyard.errors import InvalidInput


def _oof(y: pd.Series, task: str, metric: str, models: dict[int, np.ndarray]) -> OutOfFold:
    """An out-of-fold store holding these predictions as trials 0, 1, ..."""
    splits = make_splits(pd.DataFrame({"x": np.zeros(len(y))}), y, task, "kfold", 0.2, 3, None, 0)
    oof = OutOfFold(y, task, metric, splits, keep=10)
    for number, matrix in models.items():
        oof.add(number, fold_score(oof, matrix), matrix)
    return oof


@pytest.mark.parametrize("metric", ["auc", "accuracy", "f1", "log_loss", "rmse", "mae", "r2"])
@pytest.mark.parametrize("classes", [2, 3])
def test_the_fast_metrics_are_score_values(metric: str, classes: int) -> None:
    rng = np.random.default_rng(classes)
    if metric in ("rmse", "mae", "r2"):
        y, values = rng.normal(size=200), rng.normal(size=200)
        want = score_values(y, values, "regression")[metric]
        assert fast_metric(metric)(y, values) == pytest.approx(want, rel=1e-9)
        many = np.stack([values, values[::-1]])
        singles = [fast_metric(metric)(y, v) for v in many]
        np.testing.assert_allclose(batch_metric(metric)(y, many), singles, rtol=1e-9)
        return
    codes = rng.integers(0, classes, 200)
    values = rng.dirichlet(np.ones(classes), 200)
    values[:20] = values[20:40]  # ties in the scores
    labels = np.array(["a", "b", "c"][:classes])[codes]
    want = score_values(labels, values, "classification", ["a", "b", "c"][:classes])[metric]
    assert fast_metric(metric)(codes, values) == pytest.approx(want, rel=1e-9)
    many = np.stack([values, values[::-1], np.round(values, 1)])  # ties within rows too
    singles = [fast_metric(metric)(codes, v) for v in many]
    np.testing.assert_allclose(batch_metric(metric)(codes, many), singles, rtol=1e-9)


def test_the_selection_blends_two_models_that_beat_each_other_together() -> None:
    rng = np.random.default_rng(0)
    y = pd.Series(rng.normal(size=300))
    models = {
        0: y.to_numpy() + rng.normal(scale=1.0, size=300),  # two as good, errors independent
        1: y.to_numpy() + rng.normal(scale=1.0, size=300),
        2: y.to_numpy() + rng.normal(scale=3.0, size=300),  # worse
        3: y.to_numpy() + rng.normal(scale=2.0, size=300),
    }
    oof = _oof(y, "regression", "rmse", models)
    selection = select(oof, rounds=20, most=2)
    assert selection is not None and selection.rounds == 20
    weights = selection.weights()
    assert len(weights) <= 2 and sum(weights.values()) == pytest.approx(1.0)
    assert set(weights) == {0, 1} and all(0.3 < w < 0.7 for w in weights.values())
    best = min(oof.values.values())
    assert selection.score() < best * 0.8  # averaging halves the error's variance
    assert selection.cross_validated() < best and selection.beats_single()
    assert selection.fold_metrics()[0]["rmse"] > 0


def test_a_blend_that_only_flatters_itself_is_not_kept() -> None:
    # one real model and noise: adding noise looks better on the rows it was chosen on only
    rng = np.random.default_rng(2)
    y = pd.Series(rng.integers(0, 2, 240))
    good = np.clip(0.5 + 0.25 * (y.to_numpy() - 0.5) + rng.normal(scale=0.2, size=240), 0, 1)
    models = {0: np.stack([1 - good, good], axis=1)}
    for number in range(1, 8):
        noise = rng.random(240)
        models[number] = np.stack([1 - noise, noise], axis=1)
    oof = _oof(y, "classification", "auc", models)
    selection = select(oof, rounds=30, most=8)
    assert selection is not None and len(selection.weights()) > 1
    assert selection.score() > selection.single[1]  # in-sample: better than the best single
    assert selection.cross_validated() < selection.single_cross_validated()  # held out: not
    assert not selection.beats_single()
    twins = select(_oof(y, "classification", "auc", {0: models[0], 1: models[0]}), 10, 2)
    assert twins is not None and not twins.beats_single()  # the same model twice: no gain


def test_members_not_refitted_in_time_are_dropped_and_the_best_single_returned() -> None:
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(1)
    y = pd.Series(rng.normal(size=300))
    models = {n: y.to_numpy() + rng.normal(size=300) for n in range(3)}
    selection = select(_oof(y, "regression", "rmse", models), rounds=10, most=3)
    assert selection is not None and len(selection.weights()) >= 2
    features = pd.DataFrame({"x": rng.normal(size=300)})
    best = selection.single[0]
    fitted = LinearRegression().fit(features, y)

    def build(number: int) -> object:
        from sklearn.pipeline import Pipeline

        return Pipeline([("model", LinearRegression())])

    families = dict.fromkeys(selection.counts, "linear")
    late = refit_members(
        selection, (best, fitted), build, families, {}, (features, y), time.monotonic() - 1
    )
    assert (
        not late.kept and late.model is None and set(late.dropped) == set(selection.counts) - {best}
    )
    estimates = dict.fromkeys(selection.counts, 0.0)
    timely = refit_members(
        selection, (best, fitted), build, families, estimates, (features, y), time.monotonic() + 60
    )
    assert timely.kept and not timely.dropped and timely.weights == selection.weights()
    assert sum(timely.model.weights) == pytest.approx(1.0)


def _complementary(rows: int, seed: int) -> pd.DataFrame:
    """A target with a linear part (linear models) and an interaction (trees): together
    they beat either alone."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 6))
    score = X[:, 0] + X[:, 1] - X[:, 2] + 2 * np.sign(X[:, 3] * X[:, 4]) + rng.normal(size=rows)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(6)])
    frame["y"] = np.where(score > 0, "yes", "no")
    return frame


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, pd.DataFrame]]:
    """One search whose ensemble is kept, in a store of its own (module-wide)."""
    home = tmp_path_factory.mktemp("ensemble-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SHIPYARD_HOME", str(home))
        for var in ("SHIPYARD_DB_URL", "SHIPYARD_ARTIFACTS_URL", "SHIPYARD_CONFIG"):
            patch.delenv(var, raising=False)
        reset_settings()
        frame = _complementary(400, 1)
        result = sy.automl(
            data=frame, target="y", n_trials=5, families=["linear", "hist_gradient_boosting"],
            seed=1, time_budget=120,
        )  # fmt: skip
        yield result, frame
    reset_settings()


def test_the_kept_ensemble_is_a_weighted_vote_on_the_leaderboard(searched: Any) -> None:
    from sklearn.ensemble import VotingClassifier

    result, _ = searched
    ensemble = result.ensemble
    assert ensemble.kept and ensemble.cross_validated > ensemble.single_cross_validated
    assert isinstance(result.best.model, VotingClassifier)
    assert sum(result.best.model.weights) == pytest.approx(1.0)
    assert len(result.best.model.estimators_) == len(ensemble.weights) >= 2
    assert {"linear", "hist_gradient_boosting"} == set(ensemble.families.values())
    top = result.leaderboard.iloc[0]
    assert top["family"] == "ensemble" and top["params"] == ensemble.describe()
    assert top["auc"] == result.best.metrics["auc"] == pytest.approx(ensemble.cross_validated)
    run = sy.get_run(result.run_id)
    assert run.tags["ensemble"] == "kept" and run.tags["best_family"] == "ensemble"
    assert run.params["ensemble"] == ensemble.describe()
    assert run.metrics["ensemble_cv_auc"].value == pytest.approx(ensemble.cross_validated)


def test_the_ensemble_registers_exports_and_serves(searched: Any) -> None:
    result, frame = searched
    X = frame.drop(columns="y")
    version = sy.models.register("blend", result)  # (result.register adds its explanation)
    loaded = sy.models.load(version.ref)
    want = result.best.model.predict_proba(X[:20])
    np.testing.assert_allclose(loaded.predict_proba(X[:20]), want)
    report = sy.models.export(version.ref, "onnx").exports["onnx"].report
    assert report["label_agreement"] >= 0.999 and report["max_diff"] < 1e-4
    record = {k: float(v) for k, v in X.iloc[0].items()}
    (answer,) = asyncio.run(_post(serving.create_app(version.ref, poll=0), [record]))
    assert answer.status_code == 200, answer.text
    served = answer.json()
    assert served["predictions"] == list(result.best.model.predict(X[:1]))
    np.testing.assert_allclose(served["probabilities"], want[:1], atol=1e-4)


async def _post(app: Any, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    """Each body posted to the app's ``/predict``, the app started and stopped."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            return [await client.post("/predict", json=body) for body in bodies]


@pytest.mark.parametrize("options", [{"presets": "fast"}, {"ensemble": 0}])
def test_fast_or_no_ensemble_gives_the_best_single_model(home: Path, options: dict) -> None:
    result = sy.automl(
        data=_complementary(200, 0), target="y", n_trials=3, families=["linear"], **options
    )
    assert result.ensemble is None and result.best.model.steps[-1][0] == "model"
    assert (result.leaderboard["family"] != "ensemble").all()


@pytest.mark.parametrize(
    ("options", "said"),
    [
        ({"ensemble": 1}, "ensemble must be a whole number of members: 0 (none) or at least 2"),
        ({"ensemble": True}, "ensemble must be a whole number"),
        ({"ensemble": 2.5}, "ensemble must be a whole number"),
        ({"presets": "slow"}, "presets must be one of fast, best; got 'slow'"),
    ],
)
def test_bad_presets_or_ensemble_are_one_line(home: Path, options: dict, said: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(said)) as raised:
        sy.automl(dataset="nosuch@1", target="y", **options)
    assert "\n" not in str(raised.value)


def test_the_command_takes_presets_and_ensemble_and_says_what_came_of_it(home: Path) -> None:
    import json

    from typer.testing import CliRunner

    from shipyard.cli import app

    ref = sy.datasets.register("mixed", _complementary(300, 1)).ref
    args = ["automl", "-d", ref, "-t", "y", "--trials", "4", "--seed", "1"]
    args += ["--family", "linear", "--family", "hist_gradient_boosting"]
    out = CliRunner().invoke(app, [*args, "--ensemble", "2", "--json"])
    assert out.exit_code == 0, out.output
    said = json.loads(out.stdout)["ensemble"]
    assert 1 <= len(said["members"]) <= 2 and isinstance(said["kept"], bool)
    assert sum(m["weight"] for m in said["members"]) == pytest.approx(1.0)
    shown = CliRunner().invoke(app, args, env={"COLUMNS": "160"})
    assert (
        shown.exit_code == 0 and "Ensemble " in shown.output and "cross-validated" in shown.output
    )
    assert "Leaderboard (4 trials" in shown.output  # the ensemble's row is not a trial
    assert "Ensemble kept" not in shown.output or " nan " not in shown.output
    fast = CliRunner().invoke(app, [*args, "--presets", "fast", "--json"])
    assert fast.exit_code == 0 and json.loads(fast.stdout)["ensemble"] is None

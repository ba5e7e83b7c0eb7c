"""Fits that stop at a deadline or on a poor validation curve, and the PyTorch MLP."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.metrics import r2_score, roc_auc_score
from sklearn.pipeline import Pipeline

import shipyard as sy
from shipyard.automl._fitting import fit_within
from shipyard.automl._study import curve_bar as _curve_bar
from shipyard.automl._torch_mlp import TorchMLPClassifier, TorchMLPRegressor
from shipyard.errors import InvalidInput

needs_torch = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None,
    reason='the PyTorch MLP needs torch: pip install ".[dev,torch]"',
)


@pytest.fixture(scope="module")
def table() -> tuple[pd.DataFrame, np.ndarray]:
    X, y = make_classification(6000, 12, n_informative=6, random_state=0)
    return pd.DataFrame(X, columns=[f"f{i}" for i in range(12)]), y


@pytest.mark.parametrize(
    "model",
    [
        RandomForestClassifier(n_estimators=45, random_state=0, n_jobs=1),
        HistGradientBoostingClassifier(max_iter=70, early_stopping=True, random_state=0),
        HistGradientBoostingClassifier(max_iter=35, early_stopping=False, random_state=0),
    ],
    ids=["forest", "hgb-early-stopping", "hgb"],
)
def test_grown_in_chunks_equals_one_fit(model: object, table: tuple) -> None:
    X, y = table
    whole = Pipeline([("model", clone(model))]).fit(X, y)
    chunked = Pipeline([("model", clone(model))])
    assert fit_within(chunked, X, y, deadline=time.time() + 600) is None
    np.testing.assert_array_equal(whole.predict_proba(X), chunked.predict_proba(X))
    # the fitted model reads like one fitted at once
    assert chunked[-1].get_params() == whole[-1].get_params()


@pytest.mark.parametrize(
    "make",
    [
        lambda: RandomForestClassifier(n_estimators=5000, random_state=0, n_jobs=1),
        lambda: HistGradientBoostingClassifier(
            max_iter=5000, early_stopping=False, max_leaf_nodes=127, random_state=0
        ),
        lambda: __import__("lightgbm").LGBMClassifier(n_estimators=100_000, verbose=-1),
        lambda: __import__("xgboost").XGBClassifier(n_estimators=100_000, n_jobs=1),
        pytest.param(
            lambda: TorchMLPClassifier((128, 128), max_epochs=100_000, patience=100_000),
            marks=needs_torch,
        ),
    ],
    ids=["forest", "hgb", "lightgbm", "xgboost", "torch-mlp"],
)
def test_a_fit_stops_at_its_deadline_and_still_predicts(make: object, table: tuple) -> None:
    X, y = table
    pipeline = Pipeline([("model", make())])  # type: ignore[operator]
    if type(pipeline[-1]).__name__.startswith("TorchMLP"):
        import torch  # noqa: F401  (seconds to import: the stop is timed here, not the import)
    started = time.time()
    assert fit_within(pipeline, X, y, deadline=started + 1.5) == "deadline"
    # it stops before the step that would overrun; the slack is for a loaded machine
    assert time.time() - started < 1.5 + 1.0
    assert roc_auc_score(y, pipeline.predict_proba(X)[:, 1]) > 0.7


@needs_torch
def test_torch_mlp_learns_and_keeps_its_validation_curve(table: tuple) -> None:
    X, y = table
    make = dict(dropout=0.1, random_state=3, max_epochs=25, batch_size=256)
    model = TorchMLPClassifier((64, 32), **make).fit(X[:5000], y[:5000])
    proba = model.predict_proba(X[5000:])
    assert proba.shape == (1000, 2) and np.allclose(proba.sum(axis=1), 1.0)
    assert roc_auc_score(y[5000:], proba[:, 1]) > 0.9
    assert model.stopped_ in ("plateau", "max_epochs")
    assert len(model.validation_curve_) == model.n_epochs_ >= 1
    assert set(model.predict(X[:10])) <= {0, 1}
    again = TorchMLPClassifier((64, 32), **make).fit(X[:5000], y[:5000])
    np.testing.assert_array_equal(model.predict_proba(X), again.predict_proba(X))  # seeded


@needs_torch
def test_torch_mlp_regressor_predicts_on_the_target_scale() -> None:
    X, y = make_regression(2000, 8, noise=3.0, random_state=0)
    y = y * 50 + 1000  # far from the standardised scale it trains on
    model = TorchMLPRegressor((64,), learning_rate=1e-2, max_epochs=60).fit(X[:1600], y[:1600])
    assert r2_score(y[1600:], model.predict(X[1600:])) > 0.9


@needs_torch
def test_a_curve_worse_than_the_bar_is_pruned_after_the_warmup(table: tuple) -> None:
    X, y = table
    model = TorchMLPClassifier((16,), max_epochs=100).fit(X, y, curve_bar=[0.0] * 100)
    assert model.stopped_ == "pruned" and model.n_epochs_ == 11  # warm-up epochs, then one
    assert fit_within(Pipeline([("model", model)]), X, y, curve_bar=[0.0] * 100) == "pruned"


def test_the_curve_bar_is_the_median_of_the_best_so_far() -> None:
    assert _curve_bar([[1.0], [2.0]]) is None  # too few curves to judge
    bar = _curve_bar([[0.9, 0.5, 0.7], [1.0, 0.8], [0.7, 0.6, 0.4, 0.3]])
    # best so far, padded: [.9 .5 .5 .5], [1 .8 .8 .8], [.7 .6 .4 .3]
    assert bar == pytest.approx((0.9, 0.6, 0.5, 0.5))


@needs_torch
def test_torch_mlp_rejects_bad_parameters_by_name(table: tuple) -> None:
    X, y = table
    with pytest.raises(InvalidInput, match="dropout"):
        TorchMLPClassifier(dropout=1.5).fit(X, y)
    with pytest.raises(InvalidInput, match="activation"):
        TorchMLPClassifier(activation="sigmoidal").fit(X, y)
    with pytest.raises(InvalidInput, match="missing or infinite"):
        TorchMLPClassifier().fit(np.full((10, 2), np.nan), [0, 1] * 5)
    model = TorchMLPClassifier((8,), max_epochs=2).fit(X, y)
    with pytest.raises(InvalidInput, match="12"):
        model.predict(X.iloc[:, :3])


@needs_torch
def test_a_registered_torch_mlp_loads_and_predicts_the_same(home: Path) -> None:
    frame = sy.data.make_loans(800, seed=0)
    result = sy.train("torch_mlp", data=frame, target="default", drop=["application_id"], seed=0)
    version = sy.models.register("loans-nn", result)
    loaded = sy.models.load(f"loans-nn@{version.version}")
    rows = frame.drop(columns=["default", "application_id"]).head(50)
    np.testing.assert_allclose(
        loaded.predict_proba(rows), result.model.predict_proba(rows), rtol=1e-6
    )

"""An ensemble (a vote of several models, as ``sy.automl`` keeps) is explained by the
model-agnostic method over fewer background rows, in seconds, and still adds up."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import VotingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.tree import DecisionTreeClassifier

import shipyard as sy
from shipyard.governance._explain_methods import shap_module


def test_a_vote_of_three_models_is_explained_over_fewer_background_rows(store: Path) -> None:
    rng = np.random.default_rng(3)
    X = pd.DataFrame(rng.normal(size=(200, 4)), columns=["a", "b", "c", "d"])
    y = (X["a"] - X["b"] + 0.5 * rng.normal(size=200) > 0).astype(int)
    members = [
        ("linear", LogisticRegression()),
        ("tree", DecisionTreeClassifier(max_depth=3, random_state=0)),
        ("knn", KNeighborsClassifier(5)),
    ]
    vote = VotingClassifier(members, voting="soft", weights=[0.5, 0.3, 0.2]).fit(X, y)
    sy.models.register("vote", vote, X=X, y=y)
    rows = X.head(3)
    e = sy.explain("vote@1", rows)
    assert e.method == "exact" and e.output == "probability"
    assert e.note is not None and "over 16 background rows (an ensemble of 3 models)" in e.note
    output = vote.predict_proba(rows)[:, 1]
    np.testing.assert_allclose(e.values.sum(axis=1) + np.asarray(e.base_value), output, atol=1e-6)
    background = sy.models.sample("vote@1")[list(X.columns)].head(16).to_numpy()

    def f(matrix: np.ndarray) -> np.ndarray:
        return vote.predict_proba(pd.DataFrame(matrix, columns=X.columns))[:, 1]

    expected = (
        shap_module()
        .KernelExplainer(f, background)
        .shap_values(rows.to_numpy(), nsamples=2**4, silent=True)
    )
    np.testing.assert_allclose(e.values, expected, atol=1e-9)

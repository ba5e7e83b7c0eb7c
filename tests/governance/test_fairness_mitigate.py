"""Mitigation: on a seeded synthetic set where a model is unfair by proxy, Fairlearn's
ThresholdOptimizer and ExponentiatedGradient give a NEW candidate version (never promoted)
whose disparity is lower, with the before/after trade-off recorded on it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import shipyard as sy
from shipyard import governance
from shipyard.config import reset_settings
from shipyard.errors import InvalidInput

FEATURES = ["income", "tenure", "channel"]


def unfair(n: int, seed: int) -> pd.DataFrame:
    """``income`` is higher for ``group`` b, and ``hired`` follows income: a model that never
    reads ``group`` still selects b far more often."""
    rng = np.random.default_rng(seed)
    group = rng.choice(["a", "b"], n)
    income = rng.normal(0, 1, n) + np.where(group == "b", 1.2, 0.0)
    tenure = rng.normal(0, 1, n)
    channel = rng.choice(["web", "branch"], n)
    hired = (income + 0.5 * tenure + rng.normal(0, 1, n) > 0.6).astype(np.int64)
    frame = {"income": income, "tenure": tenure, "channel": channel, "group": group}
    return pd.DataFrame({**frame, "hired": np.where(hired == 1, "yes", "no")})


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Dataset ``jobs@1`` (``group`` declared sensitive), pipeline classifier ``hire@1``
    (one-hot + logistic regression, string labels), regressor ``pay@1``."""
    root = tmp_path_factory.mktemp("mitigate") / "home"
    with pytest.MonkeyPatch.context() as patch:
        for var in [k for k in os.environ if k.startswith("SHIPYARD_")]:
            patch.delenv(var)
        patch.setenv("SHIPYARD_HOME", str(root))
        reset_settings()
        try:
            df = unfair(600, seed=7)
            sy.datasets.register("jobs", df, tags={"sensitive": "group"})
            encode = make_column_transformer(
                (StandardScaler(), ["income", "tenure"]), (OneHotEncoder(), ["channel"])
            )
            model = make_pipeline(encode, LogisticRegression()).fit(df[FEATURES], df["hired"])
            sy.models.register("hire", model, X=df[FEATURES], y=df["hired"], aliases=["champion"])
            pay = LinearRegression().fit(df[["income", "tenure"]], df["income"] * 3)
            sy.models.register("pay", pay, X=df[["income", "tenure"]])
        finally:
            reset_settings()
    yield root


@pytest.fixture
def shared(store: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for var in [k for k in os.environ if k.startswith("SHIPYARD_")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("SHIPYARD_HOME", str(store))
    reset_settings()
    try:
        yield store
    finally:
        reset_settings()


def test_threshold_optimizer_gives_a_fairer_candidate_version(shared: Path) -> None:
    held_out = unfair(400, seed=8)
    new = governance.mitigate("hire@champion", "jobs@1", target="hired", evaluate_on=held_out)
    assert new.name == "hire" and new.version > 1
    assert new.aliases == () and new.stage == "none"  # a candidate: the gates decide
    assert sy.models.get("hire@champion").version == 1
    assert new.tags == {
        "mitigation": "threshold_optimizer",
        "mitigated_from": "hire@1",
        "sensitive": "group",
    }
    assert new.signature is not None and new.signature.names == [*FEATURES, "group"]
    assert new.datasets == ("jobs@1",)
    record = sy.models.evidence(new.ref, "mitigation")[0].data
    assert record["method"] == "threshold_optimizer" and record["from"] == "hire@1"
    assert record["constraint"] == "demographic_parity" and record["sensitive"] == ["group"]
    assert record["rows"] == 400 and record["evaluated_on"] is None  # a frame, not a version
    before, after = record["before"], record["after"]
    assert before["demographic_parity_difference"] > 0.3
    assert after["demographic_parity_difference"] < before["demographic_parity_difference"] / 3
    assert 0.5 < after["accuracy"] <= 1.0 and "equalized_odds_difference" in after
    fairness = governance.fairness_report(new.ref)  # what the max_disparity gate reads
    assert fairness is not None
    assert (
        fairness.disparities["demographic_parity_difference"]
        == (after["demographic_parity_difference"])
    )
    loaded = sy.models.load(new.ref)
    first = loaded.predict(held_out)
    assert set(first) <= {"yes", "no"}  # the base model's labels
    assert list(first) == list(loaded.predict(held_out))  # seeded: the same batch, same answers


def test_exponentiated_gradient_refits_under_equalized_odds(shared: Path) -> None:
    new = governance.mitigate(
        "hire@1",
        "jobs@1",
        target="hired",
        method="exponentiated_gradient",
        constraint="equalized_odds",
    )
    assert new.signature is not None and new.signature.names == FEATURES  # reads no group
    record = sy.models.evidence(new.ref, "mitigation")[0].data
    assert record["method"] == "exponentiated_gradient" and record["data"] == "jobs@1"
    before, after = record["before"], record["after"]
    assert after["equalized_odds_difference"] < before["equalized_odds_difference"]
    assert sy.models.load(new.ref).predict(unfair(5, seed=9)).shape == (5,)


@pytest.mark.parametrize(
    ("ref", "kwargs", "said"),
    [
        ("hire@1", {"method": "reweigh"}, "method: expected one of threshold_optimizer"),
        ("hire@1", {"constraint": "parity"}, "constraint: expected one of demographic_parity"),
        ("hire@1", {"sensitive": "race"}, "sensitive: column 'race' is not in the data"),
        ("hire@1", {"target": "label"}, "target: column 'label' is not in the data"),
        ("hire@1", {"seed": -2}, "seed: expected a whole number >= 0"),
        ("pay@1", {}, "ref: pay@1 is not a binary classifier"),
    ],
)
def test_bad_input_registers_nothing(
    shared: Path, ref: str, kwargs: dict[str, object], said: str
) -> None:
    before = [len(sy.models.versions(name)) for name in ("hire", "pay")]
    arguments: dict[str, object] = {"target": "hired"}
    arguments.update(kwargs)
    with pytest.raises(InvalidInput) as raised:
        governance.mitigate(ref, "jobs@1", **arguments)  # type: ignore[arg-type]
    assert said in str(raised.value) and "\n" not in str(raised.value)
    assert [len(sy.models.versions(name)) for name in ("hire", "pay")] == before


def test_a_lightgbm_booster_is_post_processed_and_not_refitted(shared: Path) -> None:
    import lightgbm

    df = unfair(400, seed=11)
    X = df[["income", "tenure"]]
    booster = lightgbm.LGBMClassifier(n_estimators=15, n_jobs=1, verbose=-1).fit(X, df["hired"])
    first = sy.models.register("hire-gbm", booster, X=X, y=df["hired"])
    new = governance.mitigate(first.ref, df, target="hired", sensitive="group")
    loaded = sy.models.load(new.ref)  # the booster's predictor is rebuilt on load
    assert set(loaded.predict(df)) <= {"yes", "no"}
    after = sy.models.evidence(new.ref, "mitigation")[0].data["after"]
    assert after["demographic_parity_difference"] < 0.1
    with pytest.raises(InvalidInput, match=r"Booster is not a scikit-learn compatible"):
        governance.mitigate(
            first.ref, df, target="hired", sensitive=["group"], method="exponentiated_gradient"
        )
    assert len(sy.models.versions("hire-gbm")) == 2

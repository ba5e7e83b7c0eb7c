"""Environment capture: what a version needs, read from installed package metadata."""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from shipyard import models
from shipyard.data import make_loans
from shipyard.models._env import capture, differences, packages_of


def test_a_pipeline_step_from_another_library_is_captured(home: Path) -> None:
    loans = make_loans(300, seed=5)
    x = loans[["age", "income", "credit_score"]]
    pipeline = make_pipeline(
        StandardScaler(), lgb.LGBMClassifier(n_estimators=5, n_jobs=1, verbose=-1)
    ).fit(x, loans["default"])
    assert "lightgbm" in packages_of(pipeline)
    version = models.register("p", pipeline, X=x, requirements=["pandas>=2"])
    packages = version.environment["packages"]
    assert {"scikit-learn", "lightgbm", "skops", "pandas"} <= set(packages)
    assert version.environment["requirements"] == ["pandas>=2"]


def test_differences_name_missing_and_moved_packages() -> None:
    recorded = capture(["numpy"], ["not-a-real-distribution-xyz==1.0"])
    assert "not-a-real-distribution-xyz" not in recorded["packages"]  # not installed
    moved = {**recorded, "packages": {"numpy": "0.1.0", "not-installed-abc": "1.0"}}
    found = differences(moved, "skops")
    assert any("numpy is" in f and "0.1.0" in f for f in found)
    assert any("not-installed-abc 1.0 is not installed" in f for f in found)
    assert differences(recorded, "skops") == []
    python = {**recorded, "python": "2.7.18"}
    assert differences(python, "skops") == []  # Python's version matters for pickle only
    assert any("Python is" in f for f in differences(python, "pickle"))

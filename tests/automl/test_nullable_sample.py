"""A model trained by sy.train on a column with a rare missing value serves that column's
nulls (issue 17: non-nullable columns now refuse nulls for every type, floats included, so
the registration sample must show every column's missing values to the signature)."""

from __future__ import annotations

import numpy as np
import pandas as pd

import shipyard as sy
from shipyard.automl._train import SAMPLE_ROWS, registration_sample


def test_the_sample_holds_a_missing_value_of_every_column_that_has_one():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=50_000), "b": ["x"] * 50_000})
    frame.loc[31_337, "a"] = np.nan
    frame.loc[7, "b"] = None
    sample = registration_sample(frame, seed=0)
    assert len(sample) == SAMPLE_ROWS and sample.index.is_unique
    assert sample.isna().sum().to_dict() == {"a": 1, "b": 1}
    clean = frame.dropna()
    assert registration_sample(clean, seed=0).equals(clean.sample(SAMPLE_ROWS, random_state=0))


def test_a_trained_model_accepts_the_nulls_it_was_trained_with(home):
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"income": rng.normal(50, 10, 20_000), "age": rng.normal(40, 9, 20_000)})
    frame["default"] = (frame["age"] > 40).astype(int)
    frame.loc[12_345, "income"] = np.nan  # one row in 20,000: a 1,000-row sample misses it
    result = sy.train("hist_gradient_boosting", data=frame, target="default")
    version = sy.models.register("rare-nulls", result)
    spec = {s.name: s.nullable for s in version.signature.inputs}
    assert spec == {"income": True, "age": False}
    model = sy.models.load(version.ref)
    assert model.predict({"income": None, "age": 60.0}).tolist() == [1]

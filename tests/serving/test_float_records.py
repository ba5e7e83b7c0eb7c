"""One-record bodies for a model of float inputs take a one-step path
(``Signature.record_columns``): the answers, refusals and inference-log rows must be
exactly those of the general path."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

import shipyard as sy
from shipyard import serving

NAMES = [f"f{i}" for i in range(6)]


@pytest.fixture
def floats(home: Path) -> pd.DataFrame:
    """``floats@champion``: a classifier of six float columns, served through ONNX."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(600, len(NAMES))), columns=NAMES)
    y = pd.Series((X["f0"] + X["f1"] > 0).astype(int), name="y")
    model = HistGradientBoostingClassifier(max_iter=10, random_state=0).fit(X, y)
    sy.models.register("floats", model, X=X, y=y, aliases=["champion"])
    sy.models.export("floats@1", "onnx")
    return X


def test_one_record_answers_and_log_rows_match_the_general_path(
    floats: pd.DataFrame, tmp_path: Path
) -> None:
    rows = floats.head(5)
    records = rows.to_dict(orient="records")
    native = sy.models.load("floats@champion", format="native")
    app = serving.create_app("floats@champion", poll=0, log_dir=tmp_path)
    with serving.background(app) as url, httpx.Client(base_url=url) as client:
        one = [client.post("/predict", json=r).json() for r in records]  # the fast path
        many = client.post("/predict", json={"records": records}).json()  # the general one
        wrong = client.post("/predict", json={**records[0], "f0": True})
        extra = client.post("/predict", json={**records[0], "note": [1]})
    assert [o["predictions"][0] for o in one] == many["predictions"]
    assert [o["probabilities"][0] for o in one] == many["probabilities"]
    assert np.allclose(many["probabilities"], native.predict_proba(rows), atol=1e-5)
    assert all(o["classes"] == [0, 1] and o["version"] == 1 for o in one)
    assert wrong.status_code == 422 and "f0" in wrong.json()["error"]
    assert extra.status_code == 400  # a record's values must be single values
    logged = serving.read_requests("floats", folder=tmp_path).to_pandas()
    fast = logged[logged["request_id"].isin([o["id"] for o in one])]
    slow = logged[logged["request_id"] == many["id"]]
    assert len(fast) == 5 and len(slow) == 5
    for part in (fast, slow):
        assert part[NAMES].to_numpy().tolist() == rows[NAMES].to_numpy().tolist()
        assert part["prediction"].tolist() == many["predictions"]
        assert str(part["f0"].dtype) == "float64"

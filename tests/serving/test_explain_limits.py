"""``POST /explain`` bounds the work one request may ask: a one-line 413 beyond the rows
an explanation method may take (few for the model-agnostic one, a row costing thousands of
model calls), never minutes of CPU for one client."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pandas as pd
from sklearn.neighbors import KNeighborsClassifier

import shipyard as sy
from shipyard import serving
from shipyard.serving._explain import AGNOSTIC_FEATURES, AGNOSTIC_ROWS, MAX_ROWS


def test_explain_refuses_more_rows_than_its_method_may_take(home: Path) -> None:
    rng = np.random.default_rng(2)
    x = pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60)})
    y = (x["a"] > 0).astype(int)
    sy.models.register("knn", KNeighborsClassifier(3).fit(x, y), X=x)
    records = x.head(AGNOSTIC_ROWS + 1).to_dict("records")
    many = pd.concat([x] * (MAX_ROWS // 60 + 1)).to_dict("records")
    with (
        serving.background(serving.create_app("knn@1", poll=0)) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        agnostic = client.post("/explain", json={"records": records})
        huge = client.post("/predict?explain=true", json={"records": many})
        few = client.post("/explain", json={"records": records[:2]})
    assert agnostic.status_code == 413, agnostic.text
    assert f"at most {AGNOSTIC_ROWS} rows" in agnostic.json()["error"]
    assert "model-agnostic" in agnostic.json()["error"]
    assert huge.status_code == 413 and f"at most {MAX_ROWS:,} rows" in huge.json()["error"]
    assert few.status_code == 200 and len(few.json()["explanation"]["rows"]) == 2


def test_explain_refuses_a_model_too_wide_for_the_model_agnostic_method(home: Path) -> None:
    rng = np.random.default_rng(4)
    x = pd.DataFrame(rng.normal(size=(30, AGNOSTIC_FEATURES + 1))).add_prefix("f")
    sy.models.register("wide", KNeighborsClassifier(3).fit(x, x["f0"] > 0), X=x)
    with (
        serving.background(serving.create_app("wide@1", poll=0)) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        refused = client.post("/explain", json={"records": x.head(1).to_dict("records")})
    assert refused.status_code == 422, refused.text
    assert f"has {AGNOSTIC_FEATURES + 1} input features" in refused.json()["error"]

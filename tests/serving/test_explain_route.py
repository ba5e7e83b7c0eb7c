"""``POST /explain`` and ``POST /predict?explain=true`` on a real model server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

import shipyard as sy
from shipyard import serving
from shipyard.config import reset_settings
from shipyard.data import make_loans

FEATURES = ["age", "income", "loan_amount", "term_months", "credit_score", "region"]


@pytest.fixture(scope="module")
def server(registry: Path, start_module_server: Any) -> Iterator[str]:
    """``loans-gbm@champion`` (the HGB pipeline, served in its ONNX form)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SHIPYARD_HOME", str(registry))
        reset_settings()
        yield start_module_server(serving.create_app("loans-gbm@champion", poll=0)).url
    reset_settings()


def rows(n: int) -> list[dict[str, Any]]:
    return make_loans(n, seed=5)[FEATURES].to_dict("records")


def test_explain_answers_the_prediction_and_its_contributions(server: str) -> None:
    batch = rows(3)
    with httpx.Client(base_url=server, timeout=60) as client:
        answer = client.post("/explain", json={"records": batch})
        plain = client.post("/predict", json={"records": batch}).json()
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["predictions"] == plain["predictions"] and body["version"] == 1
    explained = body["explanation"]
    assert explained["method"] == "tree" and explained["output"] == "log-odds"
    assert explained["features"] == FEATURES and "explanation" not in plain
    local = sy.explain("loans-gbm@1", batch)
    for i, row in enumerate(explained["rows"]):
        assert row["contributions"] == pytest.approx(local.contributions(i), abs=1e-9)
        total = sum(row["contributions"].values()) + explained["base_value"]
        p = body["probabilities"][i][1]  # the ONNX form's, rounded to 6 digits
        assert total == pytest.approx(np.log(p / (1 - p)), abs=1e-3)
        assert total == pytest.approx(row["prediction"], abs=1e-9)


def test_predict_with_explain_true_and_a_single_record(server: str) -> None:
    with httpx.Client(base_url=server, timeout=60) as client:
        one = client.post("/predict?explain=true", json=rows(1)[0]).json()
        off = client.post("/predict?explain=false", json=rows(1)[0]).json()
        bad = client.post("/predict?explain=maybe", json=rows(1)[0])
    assert len(one["explanation"]["rows"]) == 1 and "explanation" not in off
    assert bad.status_code == 400 and "explain" in bad.json()["error"]


def test_bad_bodies_are_refused_like_predict(server: str) -> None:
    with httpx.Client(base_url=server, timeout=60) as client:
        missing = client.post("/explain", json={"age": 30})
        not_rows = client.post("/explain", json=[1, 2])
        spec = client.get("/openapi.json").json()
    assert missing.status_code == 422 and "income" in missing.json()["error"]
    assert not_rows.status_code == 400
    assert "/explain" in spec["paths"]
    names = [p["name"] for p in spec["paths"]["/predict"]["post"].get("parameters", [])]
    assert "explain" in names

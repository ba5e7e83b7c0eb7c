"""A null in a float column the model was trained without nulls in answers 422 naming the
column and the row, as every other type does (issue 17: ``income=None`` answered 200)."""

from __future__ import annotations

from typing import Any

import httpx

from shipyard.testing.servers import LOAN_ROW

ROW = LOAN_ROW  # one loan application, as the served model takes it


def test_a_null_float_is_refused_like_any_other_null(served: Any) -> None:
    with httpx.Client(base_url=served.url) as client:
        answers = {
            column: client.post("/predict", json={**ROW, column: None})
            for column in ("income", "age", "region")
        }
        batch = client.post("/predict", json=[ROW, {**ROW, "loan_amount": None}, ROW])
        tensor = client.post(
            "/v2/models/loans-gbm/infer",
            json={
                "inputs": [
                    {
                        "name": name,
                        "shape": [2],
                        "datatype": "BYTES" if name == "region" else "FP64",
                        "data": [value, None if name == "income" else value],
                    }
                    for name, value in ROW.items()
                ]
            },
        )
        fine = client.post("/predict", json=ROW)
    for column, answer in answers.items():
        assert answer.status_code == 422, (column, answer.text)
        assert f"'{column}'" in answer.json()["error"] and "null at row 0" in answer.json()["error"]
    assert batch.status_code == 422
    assert "'loan_amount'" in batch.json()["error"] and "row 1" in batch.json()["error"]
    assert tensor.status_code in (400, 422) and "income" in tensor.text
    assert fine.status_code == 200

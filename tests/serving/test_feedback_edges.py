"""Edge cases of answers and feedback over real HTTP: a model with several outputs is
answered (its first row's outputs are the ticket's prediction), and feedback that carries
nothing is refused naming the item."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import numpy as np

import shipyard as sy
from shipyard import serving
from shipyard.data import make_loans

FEATURES = ["age", "income", "loan_amount", "term_months", "credit_score", "region"]


class TwoOutputs(sy.models.PythonModel):
    """Predicts two outputs per row (a 2-D answer)."""

    def predict(self, df: Any) -> Any:
        return np.stack([np.ones(len(df)), np.zeros(len(df))], axis=1)


def test_a_model_with_several_outputs_is_answered_and_labelled(
    store: Path, start_server: Any
) -> None:
    frame = make_loans(50, seed=0)[FEATURES]
    sy.models.register("two-outputs", TwoOutputs(), X=frame)
    running = start_server(serving.create_app("two-outputs@latest", poll=0))
    with httpx.Client(base_url=running.url, timeout=30) as client:
        answer = client.post("/predict", json=frame.to_dict("records")[0])
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"] == [[1.0, 0.0]]
        fed = client.post("/feedback", json={"id": answer.json()["id"], "label": [1.0, 0.0]})
        assert fed.json() == {"accepted": 1, "matched": 1}


def test_feedback_with_a_null_label_and_no_reward_is_refused(served: Any) -> None:
    with httpx.Client(base_url=served.url, timeout=30) as client:
        answer = client.post("/predict", json=make_loans(1, seed=0)[FEATURES].to_dict("records"))
        given = answer.json()["id"]
        refused = client.post(
            "/feedback", json=[{"id": given, "label": 1}, {"id": given, "label": None}]
        )
        assert refused.status_code == 400
        assert refused.json() == {"error": "feedback[1] needs a label or a reward."}
        kept = client.post("/feedback", json={"id": given, "label": None, "reward": 0.5})
        assert kept.json() == {"accepted": 1, "matched": 1}
        flood = client.post("/feedback", json=[{"id": f"x{i}", "label": 1} for i in range(10_001)])
        assert flood.status_code == 400 and "at most 10,000 items" in flood.json()["error"]


def test_a_long_request_id_from_a_header_is_kept_by_its_hash(
    store: Path, start_server: Any
) -> None:
    """A client's ``x-request-id`` may be tens of kilobytes: the server keeps the tickets of
    100,000 requests, so it keeps each long id by its hash, and feedback still finds it."""
    app = serving.create_app("loans-gbm@champion", poll=0)
    running = start_server(app)
    long_id = "x" * 60_000
    with httpx.Client(base_url=running.url, timeout=30) as client:
        row = make_loans(1, seed=0)[FEATURES].to_dict("records")[0]
        answer = client.post("/predict", json=row, headers={"x-request-id": long_id})
        assert answer.json()["id"] == long_id
        fed = client.post("/feedback", json={"id": long_id, "label": 1})
        assert fed.json() == {"accepted": 1, "matched": 1}
    kept = app.state.server.pool.tickets._items
    assert len(kept) == 1 and all(len(request_id) < 100 for request_id in kept)

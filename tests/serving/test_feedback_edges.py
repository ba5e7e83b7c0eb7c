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


def test_a_request_id_header_is_at_most_128_printable_characters(
    store: Path, start_server: Any
) -> None:
    """A client's ``x-request-id`` names its request (feedback finds it) when it is 1 to 128
    printable characters, as the body's ``id``; a longer one, or one with control
    characters, is refused (400) and never echoed into a header, kept or logged."""
    app = serving.create_app("loans-gbm@champion", poll=0)
    running = start_server(app)
    longest = "x" * 128
    with httpx.Client(base_url=running.url, timeout=30) as client:
        row = make_loans(1, seed=0)[FEATURES].to_dict("records")[0]
        answer = client.post("/predict", json=row, headers={"x-request-id": longest})
        assert answer.json()["id"] == longest and answer.headers["x-request-id"] == longest
        fed = client.post("/feedback", json={"id": longest, "label": 1})
        assert fed.json() == {"accepted": 1, "matched": 1}
        for bad in ("x" * 129, "x" * 60_000, "a\tb"):  # (DEL: the HTTP parser refuses it)
            refused = client.post("/predict", json=row, headers={"x-request-id": bad})
            assert refused.status_code == 400, bad[:20]
            assert "X-Request-ID must be 1 to 128 printable" in refused.json()["error"]
            assert refused.headers["x-request-id"] != bad
        assert client.get("/v2/health/ready").status_code == 200


def test_a_label_nested_a_thousand_levels_deep_is_refused(store: Path, start_server: Any) -> None:
    app = serving.create_app("loans-gbm@champion", poll=0)
    running = start_server(app)
    with httpx.Client(base_url=running.url, timeout=30) as client:
        row = make_loans(1, seed=0)[FEATURES].to_dict("records")[0]
        answered = client.post("/predict", json=row).json()["id"]
        for depth in (990, 9):
            label = "[" * depth + "1" + "]" * depth
            body = f'{{"id": "{answered}", "label": {label}}}'
            refused = client.post(
                "/feedback", content=body, headers={"content-type": "application/json"}
            )
            assert refused.status_code == 400, (depth, refused.text[:200])
            assert "feedback[0].label nests more than 8 levels" in refused.json()["error"]
        fine = client.post("/feedback", json={"id": answered, "label": [1]})
        assert fine.status_code == 200

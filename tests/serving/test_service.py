"""The inference service driven directly, without HTTP: gate, route, validate, predict,
log, feedback and metadata answer as the server's endpoints do."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from shipyard import serving
from shipyard.errors import (
    Forbidden,
    InvalidRequest,
    NotFound,
    TooManyRequests,
    Unauthorized,
    Unavailable,
)
from shipyard.serving._service import InferenceService

ROW = {
    "age": 41,
    "income": 52000.0,
    "loan_amount": 12000.0,
    "term_months": 36,
    "credit_score": 690.0,
    "region": "north",
}
T = TypeVar("T")


def run(steps: Callable[[InferenceService], Awaitable[T]], service: InferenceService) -> T:
    """Start the service, run ``steps`` on it, stop it: all on one event loop."""

    async def main() -> T:
        await service.start()
        try:
            return await steps(service)
        finally:
            await service.stop()

    return asyncio.run(main())


def test_a_request_is_predicted_counted_and_logged(store: Path, tmp_path: Path) -> None:
    service = InferenceService.create("loans-gbm@champion", poll=0, log_dir=tmp_path)

    async def steps(service: InferenceService) -> Any:
        one = await service.infer(ROW, headers={"x-request-id": "r-1"})
        many = await service.infer({"records": [ROW, ROW]}, endpoint="predict")
        oip = await service.infer(
            {"id": "oip-1", "inputs": [
                {"name": k, "shape": [1], "datatype": "BYTES" if isinstance(v, str) else "FP64",
                 "data": [v]} for k, v in ROW.items()
            ]},
            endpoint="infer", name="loans-gbm",
        )  # fmt: skip
        return one, many, oip

    one, many, oip = run(steps, service)
    assert one.status == 200 and one.request_id == "r-1" and one.payload["version"] == 1
    assert len(one.payload["predictions"]) == 1 and one.payload["model"] == "loans-gbm"
    assert many.status == 200 and len(many.payload["predictions"]) == 2
    assert oip.status == 200 and oip.request_id == "oip-1" and oip.payload["id"] == "oip-1"
    assert service.stats["main"].requests == 3
    log = serving.read_requests("loans-gbm", tmp_path).to_pandas()
    assert len(log) == 4 and set(log["route"]) == {"main"} and not log["shadow"].any()


def test_bad_requests_are_answered_with_their_status(store: Path) -> None:
    service = InferenceService.create("loans-gbm@champion", poll=0, log_sample=0)

    async def steps(service: InferenceService) -> list[Any]:
        return [
            await service.infer([]),  # no rows: the protocol's fault
            await service.infer({**ROW, "region": "mars"}),  # the signature's
            await service.infer(ROW, endpoint="infer", name="other"),
            await service.infer(ROW, version="9"),
        ]

    empty, odd, other, version = run(steps, service)
    assert empty.status == 400 and "no rows" in empty.payload["error"]
    assert odd.status == 422 and "region" in odd.payload["error"]
    assert other.status == 404 and "not served here" in other.payload["error"]
    assert version.status == 404 and "'9'" in version.payload["error"]
    assert service.stats["main"].errors == 0  # refused input is not the model failing


def test_nothing_is_answered_before_a_model_is_ready(store: Path) -> None:
    service = InferenceService.create("loans-gbm@champion", poll=0, log_sample=0)
    with pytest.raises(Unavailable, match="No model is ready"):
        service.router_for()
    answer = asyncio.run(service.infer(ROW))
    assert answer.status == 503 and not service.ready


def test_the_gate_refuses_overload_and_missing_keys(store: Path) -> None:
    service = InferenceService.create("loans-gbm@champion", poll=0, max_inflight=1)
    service.inflight = 1
    with pytest.raises(Unavailable) as overloaded:
        service.gate({}, "predict")
    assert overloaded.value.http_status == 503
    assert overloaded.value.http_headers == {"retry-after": "1"}
    service.inflight = 0
    assert service.gate({}, "predict") is None  # no auth: anyone

    key = serving.create_key("service-reader", ["predict"], rate_limit=1)
    guarded = InferenceService.create("loans-gbm@champion", poll=0, auth=True)
    with pytest.raises(Unauthorized) as missing:
        guarded.gate({}, "predict")
    assert missing.value.http_status == 401
    assert missing.value.http_headers["www-authenticate"] == "Bearer"
    with pytest.raises(Unauthorized, match="Unknown or revoked"):
        guarded.gate({"x-api-key": "sy_nope"}, "predict")
    with pytest.raises(Forbidden, match="admin"):
        guarded.gate({"authorization": f"Bearer {key}"}, "admin")
    found = guarded.gate({"authorization": f"Bearer {key}"}, "predict")
    assert found is not None and found.name == "service-reader"
    with pytest.raises(TooManyRequests) as limited:
        guarded.gate({"x-api-key": key}, "predict")
    assert int(limited.value.http_headers["retry-after"]) >= 1
    serving.revoke_key("service-reader")


def test_feedback_is_matched_once_and_checked(store: Path, tmp_path: Path) -> None:
    service = InferenceService.create("loans-gbm@champion", poll=0, log_dir=tmp_path)

    async def steps(service: InferenceService) -> Any:
        answer = await service.infer(ROW, headers={"x-request-id": "fb-1"})
        label = answer.payload["predictions"][0]
        first = await service.feedback({"id": "fb-1", "label": label, "reward": 1})
        again = await service.feedback(
            [{"id": "fb-1", "label": label}, {"id": "gone", "reward": 0}]
        )
        with pytest.raises(InvalidRequest, match="reward"):
            await service.feedback({"id": "fb-1", "reward": 2})
        with pytest.raises(InvalidRequest, match="label or a reward"):
            await service.feedback({"id": "fb-1"})
        return first, again

    first, again = run(steps, service)
    assert first == {"accepted": 1, "matched": 1} and again == {"accepted": 2, "matched": 1}
    stats = service.stats["main"]
    assert stats.labelled == 1 and stats.correct == 1.0 and stats.rewarded == 1
    assert len(serving.read_feedback("loans-gbm", tmp_path)) == 3


def test_metadata_names_the_versions_served(store: Path) -> None:
    service = InferenceService.create("loans-gbm@champion", poll=0, log_sample=0)

    async def steps(service: InferenceService) -> Any:
        with pytest.raises(NotFound):
            service.metadata("loans-gbm", "7")
        with pytest.raises(NotFound):
            service.metadata("other")
        return service.metadata("loans-gbm"), service.metrics()

    meta, metrics = run(steps, service)
    assert meta["name"] == "loans-gbm" and meta["versions"] == ["1"]
    assert [i["name"] for i in meta["inputs"]][:2] == ["age", "income"]
    assert b"shipyard_model_load_seconds" in metrics

"""Review of issue 17 on a real server: a body form that slipped past --max-rows, and an
Inference-Header-Content-Length that answered 500 ("the model failed") instead of 400, and
other doors the review found open."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from shipyard import serving
from shipyard.errors import InvalidInput

FEATURES = ["age", "income", "loan_amount", "term_months", "credit_score", "region"]
ROW = {"age": 30, "income": 5e4, "loan_amount": 1e4, "term_months": 36, "credit_score": 700}
LIMIT = 10


@pytest.fixture(scope="module")
def server(registry: Path, start_module_server: Callable[[Any], Any]) -> str:
    app = serving.create_app("loans-gbm@champion", poll=0, max_rows=LIMIT, log_sample=0)
    return str(start_module_server(app).url)


def test_columns_beside_a_short_records_list_still_count_against_max_rows(server: str) -> None:
    # "columns" is what /predict reads when both keys are there: its rows are what count
    columns = {c: [v] * (LIMIT + 5) for c, v in {**ROW, "region": "east"}.items()}
    with httpx.Client(base_url=server, timeout=30) as client:
        for records in ([], [{}], "x"):
            answer = client.post("/predict", json={"records": records, "columns": columns})
            assert answer.status_code == 413, (records, answer.text[:200])
            assert f"{LIMIT + 5:,} rows" in answer.json()["error"]


@pytest.mark.parametrize("header", [b"\xb2", b"9" * 5000, b"\xd9\xa1"])
def test_a_header_length_that_is_no_ascii_number_is_a_400(server: str, header: bytes) -> None:
    # "²".isdigit() is true and int() refuses 4,300+ digits: both answered 500 before
    tensors = [
        {"name": c, "shape": [1], "datatype": "BYTES" if c == "region" else "FP64", "data": [v]}
        for c, v in {**ROW, "region": "east"}.items()
    ]
    body = orjson.dumps({"inputs": tensors})
    with httpx.Client(base_url=server, timeout=30) as client:
        answer = client.post(
            "/v2/models/loans-gbm/infer",
            content=body,
            headers={"content-type": "application/json", "inference-header-content-length": header},
        )
    assert answer.status_code == 400, answer.text[:200]
    assert "Inference-Header-Content-Length" in answer.json()["error"]


def test_an_input_tensor_sent_twice_is_a_400(server: str) -> None:
    # the last one silently won before: the client cannot know which values were used
    tensors = [
        {"name": c, "shape": [1], "datatype": "BYTES" if c == "region" else "FP64", "data": [v]}
        for c, v in {**ROW, "region": "east"}.items()
    ]
    again = {"name": "age", "shape": [1], "datatype": "FP64", "data": [90.0]}
    with httpx.Client(base_url=server, timeout=30) as client:
        answer = client.post("/v2/models/loans-gbm/infer", json={"inputs": [*tensors, again]})
    assert answer.status_code == 400, answer.text[:200]
    assert answer.json()["error"] == "input 'age' is sent twice; send each input tensor once."


@pytest.mark.parametrize("path", ["/predict", "/v2/models/loans-gbm/infer"])
def test_a_compressed_body_is_a_415_naming_the_encoding(server: str, path: str) -> None:
    # tritonclient's request_compression_algorithm="gzip" sends this: it answered 400 "The
    # body is not valid JSON: str is not valid UTF-8", which says nothing of the cause
    import gzip

    body = gzip.compress(orjson.dumps({**ROW, "region": "east"}))
    headers = {"content-type": "application/json", "content-encoding": "gzip"}
    with httpx.Client(base_url=server, timeout=30) as client:
        answer = client.post(path, content=body, headers=headers)
        plain = client.post("/predict", json={**ROW, "region": "east"}, headers={
            "content-encoding": "identity"
        })  # fmt: skip
    assert answer.status_code == 415, answer.text[:200]
    assert answer.json()["error"].startswith("Content-Encoding 'gzip' is not accepted")
    assert plain.status_code == 200, plain.text[:200]


def _binary(tensor: dict[str, Any], data: bytes) -> tuple[bytes, dict[str, str]]:
    head = orjson.dumps({"inputs": [{**tensor, "parameters": {"binary_data_size": len(data)}}]})
    return head + data, {"inference-header-content-length": str(len(head))}


def test_the_row_limit_is_checked_before_binary_values_are_decoded(server: str) -> None:
    # 4 bytes a BYTES value: 60 MB decoded to 15 million Python strings (~4 s, ~0.5 GB)
    # before the limit refused the request; the data here is cut inside a length prefix,
    # so decoding first answers 400 about the bytes, checking first the row limit's 413
    tensor = {"name": "region", "shape": [LIMIT + 1], "datatype": "BYTES"}
    body, headers = _binary(tensor, b"\x00\x00\x00\x00" * (LIMIT + 1) + b"\x01")
    with httpx.Client(base_url=server, timeout=30) as client:
        answer = client.post("/v2/models/loans-gbm/infer", content=body, headers=headers)
    assert answer.status_code == 413, answer.text[:200]
    assert "--max-rows" in answer.json()["error"]


def test_bytes_beyond_the_shapes_count_are_not_decoded(server: str) -> None:
    tensor = {"name": "region", "shape": [2], "datatype": "BYTES"}
    body, headers = _binary(tensor, b"\x00\x00\x00\x00" * 5_000)
    with httpx.Client(base_url=server, timeout=30) as client:
        answer = client.post("/v2/models/loans-gbm/infer", content=body, headers=headers)
    assert answer.status_code == 400, answer.text[:200]
    assert answer.json()["error"] == (
        "input 'region': its binary data holds more BYTES values than its shape's 2."
    )


def test_background_refuses_an_app_without_keys_beyond_loopback(server: str) -> None:
    # the SDK's way to serve (notebooks, scripts) bound 0.0.0.0 open, without a word,
    # where ``shipyard serve`` and ``shipyard server`` refuse it without --insecure
    app = serving.create_app("loans-gbm@champion", poll=0, log_sample=0)
    with pytest.raises(InvalidInput, match="--auth"), serving.background(app, host="0.0.0.0"):
        pass
    with serving.background(app) as url:
        assert httpx.get(f"{url}/v2/health/live", timeout=30).status_code == 200

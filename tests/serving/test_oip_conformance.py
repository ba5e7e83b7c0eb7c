"""Open Inference Protocol v2 under a strict client (issue 17), over raw HTTP on real servers:
metadata and answers agree for every output, flavor and format; exactly the outputs asked
for; ragged or too deeply nested data refused; the binary tensor data extension; the single
``[rows, columns]`` input advertised where every column is numeric; non-scalar values in
plain ``/predict`` bodies refused (400) before any model sees them."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

import shipyard as sy
from shipyard import serving
from shipyard.config import reset_settings
from shipyard.data import make_loans

NUMERIC = ["age", "income", "loan_amount", "term_months", "credit_score"]
MIXED = [*NUMERIC, "region"]
# model name: (features, expected datatype of ``predict``)
MODELS = {
    "labels-int": (NUMERIC, "INT64"),
    "labels-text": (MIXED, "BYTES"),
    "value": (NUMERIC, "FP64"),
}
FORMATS = ["native", "onnx"]


@pytest.fixture(scope="module")
def oip_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Three models, each registered and exported to ONNX: a classifier of integer labels
    (numeric inputs), one of text labels (a category input too) and a regressor."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    root = tmp_path_factory.mktemp("oip-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SHIPYARD_HOME", str(root))
        for var in ("SHIPYARD_DB_URL", "SHIPYARD_ARTIFACTS_URL", "SHIPYARD_CONFIG"):
            patch.delenv(var, raising=False)
        reset_settings()
        frame = make_loans(600, seed=3)
        scaled = Pipeline([("s", StandardScaler()), ("m", LogisticRegression(max_iter=300))])
        sy.models.register("labels-int", scaled.fit(frame[NUMERIC], frame["default"]),
                           X=frame[NUMERIC], y=frame["default"])  # fmt: skip
        text = frame["default"].map({0: "repaid", 1: "defaulted"})
        encode = ColumnTransformer(
            [("num", StandardScaler(), NUMERIC), ("cat", OneHotEncoder(), ["region"])]
        )
        mixed = Pipeline([("pre", encode), ("m", LogisticRegression(max_iter=300))])
        sy.models.register("labels-text", mixed.fit(frame[MIXED], text), X=frame[MIXED], y=text)
        regressor = LinearRegression().fit(frame[NUMERIC], frame["income"] / 1000)
        sy.models.register("value", regressor, X=frame[NUMERIC], y=frame["income"] / 1000)
        for name in MODELS:
            sy.models.export(f"{name}@1", "onnx")
        yield root
        sy.models.clear_cache()
    reset_settings()


@pytest.fixture(scope="module")
def urls(
    oip_home: Path, start_module_server: Callable[[Any], Any]
) -> Iterator[dict[tuple[str, str], str]]:
    """A server for each model in each format (native, ONNX): (name, format) -> URL."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SHIPYARD_HOME", str(oip_home))
        reset_settings()
        found = {}
        for name in MODELS:
            for fmt in FORMATS:
                app = serving.create_app(f"{name}@1", format=fmt, poll=0, max_body=200_000)
                found[name, fmt] = start_module_server(app).url
        yield found
    reset_settings()


def rows(features: list[str], n: int = 4) -> dict[str, list[Any]]:
    frame = make_loans(n, seed=11)[features]
    return {c: frame[c].tolist() for c in features}


def tensors(columns: dict[str, list[Any]]) -> list[dict[str, Any]]:
    kinds = {int: "INT64", float: "FP64", str: "BYTES"}
    return [
        {"name": k, "shape": [len(v)], "datatype": kinds[type(v[0])], "data": v}
        for k, v in columns.items()
    ]


def infer(url: str, name: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    return httpx.post(f"{url}/v2/models/{name}/infer", json=body, headers=headers)


# -- 1. metadata and answers agree ------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", list(MODELS))
def test_metadata_declares_what_infer_answers(urls: dict[Any, str], name: str, fmt: str) -> None:
    url = urls[name, fmt]
    features, expected = MODELS[name]
    meta = httpx.get(f"{url}/v2/models/{name}").json()
    assert meta["platform"].endswith(fmt)
    declared = {o["name"]: o["datatype"] for o in meta["outputs"]}
    answer = infer(url, name, {"inputs": tensors(rows(features))})
    assert answer.status_code == 200, answer.text
    answered = {o["name"]: o["datatype"] for o in answer.json()["outputs"]}
    assert answered == declared
    assert declared["predict"] == expected
    python = {"INT64": int, "BYTES": str, "FP64": float}[expected]
    predict = next(o for o in answer.json()["outputs"] if o["name"] == "predict")
    assert {type(v) for v in predict["data"]} == {python}
    if name != "value":
        assert declared["predict_proba"] == "FP64"


def test_bool_labels_are_bool(oip_home: Path, start_server: Callable[[Any], Any]) -> None:
    from sklearn.linear_model import LogisticRegression

    frame = make_loans(300, seed=5)
    y = frame["default"].astype(bool)
    sy.models.register("labels-bool", LogisticRegression(max_iter=300).fit(frame[NUMERIC], y),
                       X=frame[NUMERIC], y=y)  # fmt: skip
    url = start_server(serving.create_app("labels-bool@1", poll=0)).url
    meta = httpx.get(f"{url}/v2/models/labels-bool").json()
    answer = infer(url, "labels-bool", {"inputs": tensors(rows(NUMERIC))}).json()
    assert meta["outputs"][0]["datatype"] == answer["outputs"][0]["datatype"] == "BOOL"
    assert {type(v) for v in answer["outputs"][0]["data"]} == {bool}


# -- 2. exactly the outputs asked for -------------------------------------------------


def test_only_the_requested_outputs_are_answered(urls: dict[Any, str]) -> None:
    url = urls["labels-int", "native"]
    body = {"inputs": tensors(rows(NUMERIC))}
    for wanted in (["predict_proba"], ["predict"], ["predict_proba", "predict"]):
        outputs = [{"name": n} for n in wanted]
        got = infer(url, "labels-int", {**body, "outputs": outputs}).json()["outputs"]
        assert [o["name"] for o in got] == wanted
    everything = infer(url, "labels-int", body).json()["outputs"]
    assert [o["name"] for o in everything] == ["predict", "predict_proba"]


@pytest.mark.parametrize(
    ("outputs", "said"),
    [
        ([{"name": "probabilities"}], "no output 'probabilities'"),
        ([{"name": "predict_proba"}, {"name": "nope"}], "no output 'nope'"),
        ([{}], 'must be an object with a "name"'),
        (["predict"], 'must be an object with a "name"'),
        ([{"name": 3}], 'must be an object with a "name"'),
        ("predict", "non-empty list"),
        ([], "non-empty list"),
        ([{"name": "predict"}, {"name": "predict"}], "asked for twice"),
        ([{"name": "predict", "parameters": {"binary_data": "yes"}}], "true or false"),
        ([{"name": "predict", "parameters": []}], "must be an object"),
        ([{"name": "predict", "parameters": {"classification": 2}}], "not supported"),
    ],
)
def test_a_bad_output_request_is_refused(urls: dict[Any, str], outputs: Any, said: str) -> None:
    url = urls["labels-int", "onnx"]
    answer = infer(url, "labels-int", {"inputs": tensors(rows(NUMERIC)), "outputs": outputs})
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert said in error
    if "no output" in said:
        assert "predict, predict_proba" in error  # the outputs it has


def test_a_regressor_has_no_probabilities_to_ask_for(urls: dict[Any, str]) -> None:
    body = {"inputs": tensors(rows(NUMERIC)), "outputs": [{"name": "predict_proba"}]}
    answer = infer(urls["value", "native"], "value", body)
    assert answer.status_code == 400
    assert "outputs are predict." in answer.json()["error"]


# -- 3. ragged and nested data --------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "data"),
    [
        ([3], [[40, 41], [42]]),  # ragged, the right count flattened: was accepted
        ([2, 2], [[40, 41], [42]]),
        ([2, 2], [[40, 41], 42, 43]),
        ([2], [[40], [41]]),  # nested deeper than a [rows] shape
        ([2, 1], [[40], [[41]]]),  # deeper than [rows, 1]
        ([2], [40, {"a": 1}]),
    ],
)
def test_ragged_or_too_deep_data_is_refused(
    urls: dict[Any, str], shape: list[int], data: list[Any]
) -> None:
    columns = rows(NUMERIC, n=shape[0])
    inputs = [t for t in tensors(columns) if t["name"] != "age"]
    inputs.append({"name": "age", "shape": shape, "datatype": "INT64", "data": data})
    answer = infer(urls["labels-int", "native"], "labels-int", {"inputs": inputs})
    assert answer.status_code == 400, answer.text
    assert "'age'" in answer.json()["error"]


def test_nested_data_matching_the_shape_is_accepted(urls: dict[Any, str]) -> None:
    columns = rows(NUMERIC, n=2)
    inputs = [
        {"name": k, "shape": [2, 1], "datatype": "FP64", "data": [[v] for v in vs]}
        for k, vs in columns.items()
    ]
    flat = infer(urls["labels-int", "native"], "labels-int", {"inputs": tensors(columns)})
    nested = infer(urls["labels-int", "native"], "labels-int", {"inputs": inputs})
    assert nested.status_code == 200
    assert nested.json()["outputs"] == flat.json()["outputs"]


FULL = dict.fromkeys(NUMERIC, 1)


@pytest.mark.parametrize(
    ("body", "column"),
    [
        ({"columns": {"age": [47, []]}}, "age"),
        ({"columns": {"income": [1.0, 2.0], "age": [47, {"x": 1}]}}, "age"),
        ({"columns": {k: [1, 1] for k in [*NUMERIC, "note"]} | {"note": [1, [2]]}}, "note"),
        ({"age": [47]}, "age"),
        ({"records": [{"age": 47, "income": 1.0}, {"age": [], "income": 2.0}]}, "age"),
        ([{**FULL, "age": [1]}, FULL], "age"),  # every record has every input
        ([{"age": {"a": 1}}, {"income": 3.0}], "age"),  # records with different keys
        ([FULL, {**FULL, "note": ["x"]}], "note"),  # a column the model does not take
    ],
)
def test_non_scalar_values_in_plain_bodies_are_refused(
    urls: dict[Any, str], body: Any, column: str
) -> None:
    # was a 500 (issue 17's fuzzing): a list reached the model
    answer = httpx.post(urls["labels-int", "native"] + "/predict", json=body)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert f"'{column}'" in error or f'"columns.{column}"' in error


def test_a_nested_tensor_the_model_does_not_take_is_refused(urls: dict[Any, str]) -> None:
    inputs = tensors(rows(NUMERIC, n=2))
    inputs.append({"name": "note", "shape": [2], "datatype": "BYTES", "data": ["a", ["b"]]})
    answer = infer(urls["labels-int", "native"], "labels-int", {"inputs": inputs})
    assert answer.status_code == 400 and "input 'note'" in answer.json()["error"]


# -- 4. binary tensor data ------------------------------------------------------------


def binary_request(
    header: dict[str, Any], blobs: list[bytes], claim: int | None = None
) -> tuple[bytes, dict[str, str]]:
    head = json.dumps(header).encode()
    length = str(len(head) if claim is None else claim)
    return head + b"".join(blobs), {"inference-header-content-length": length}


def split(answer: httpx.Response) -> tuple[dict[str, Any], bytes]:
    length = int(answer.headers["inference-header-content-length"])
    return json.loads(answer.content[:length]), answer.content[length:]


def strings(values: list[str]) -> bytes:
    return b"".join(struct.pack("<I", len(v.encode())) + v.encode() for v in values)


def test_binary_inputs_and_outputs_match_json(urls: dict[Any, str]) -> None:
    url = urls["labels-text", "onnx"]
    columns = rows(MIXED, n=5)
    blobs, inputs = [], []
    for name in MIXED:
        values = columns[name]
        if name == "region":
            blob, datatype = strings(values), "BYTES"
        else:
            blob, datatype = np.asarray(values, dtype="<f4").tobytes(), "FP32"
        blobs.append(blob)
        size = {"binary_data_size": len(blob)}
        inputs.append({"name": name, "shape": [5], "datatype": datatype, "parameters": size})
    outputs = [{"name": "predict_proba", "parameters": {"binary_data": True}}, {"name": "predict"}]
    content, headers = binary_request({"inputs": inputs, "outputs": outputs}, blobs)
    answer = httpx.post(f"{url}/v2/models/labels-text/infer", content=content, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/octet-stream"
    head, rest = split(answer)
    proba_out, predict_out = head["outputs"]
    assert proba_out["parameters"]["binary_data_size"] == len(rest) == 5 * 2 * 8
    assert "data" not in proba_out and predict_out["datatype"] == "BYTES"
    proba = np.frombuffer(rest, dtype="<f8").reshape(proba_out["shape"])
    plain = infer(url, "labels-text", {"inputs": tensors(columns)}).json()["outputs"]
    assert predict_out["data"] == plain[0]["data"]
    assert np.allclose(proba, np.asarray(plain[1]["data"]).reshape(5, 2), atol=1e-5)

    # every output binary, from the request's parameters; text as length-prefixed bytes
    everything = {"inputs": inputs, "parameters": {"binary_data_output": True}}
    content, headers = binary_request(everything, blobs)
    answer = httpx.post(f"{url}/v2/models/labels-text/infer", content=content, headers=headers)
    head, rest = split(answer)
    size = head["outputs"][0]["parameters"]["binary_data_size"]
    assert rest[:size] == strings(predict_out["data"])


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"claim": 10**6}, "Inference-Header-Content-Length"),
        ({"claim": "x"}, "Inference-Header-Content-Length"),
        ({"extra": b"\0" * 8}, "bytes follow the binary inputs"),
        ({"size": 48}, "runs past the end"),
        ({"size": 38, "extra": b"\0" * 2}, "whole number of FP64"),
        ({"size": 32, "cut": 32}, "shape [5] holds 5 values; data has 4"),
        ({"size": -1}, "binary_data_size must be a number"),
        ({"data": True}, "both data and binary_data_size"),
        ({"claim": "none"}, "needs the Inference-Header-Content-Length header"),
    ],
)
def test_inconsistent_binary_sizes_are_refused(
    urls: dict[Any, str], change: dict[str, Any], said: str
) -> None:
    url = urls["value", "native"]
    columns = rows(NUMERIC, n=5)
    inputs = tensors(columns)
    blob = np.asarray(columns["income"], dtype="<f8").tobytes()
    income = next(t for t in inputs if t["name"] == "income")
    del income["data"]
    income["datatype"] = "FP64"
    income["parameters"] = {"binary_data_size": change.get("size", len(blob))}
    if change.get("data"):
        income["data"] = columns["income"]
    blobs = [blob[: change.get("cut", len(blob))] + change.get("extra", b"")]
    content, headers = binary_request({"inputs": inputs}, blobs, change.get("claim"))
    if change.get("claim") == "none":  # the header left out: the body is read as JSON
        content, headers = json.dumps({"inputs": inputs}).encode(), {}
    answer = httpx.post(f"{url}/v2/models/value/infer", content=content, headers=headers)
    assert answer.status_code == 400, answer.text
    assert said in answer.json()["error"]


def test_binary_bodies_keep_the_body_limit(urls: dict[Any, str]) -> None:
    blob = np.zeros(30_000 * 5, dtype="<f8").tobytes()  # 1.2 MB against 200 kB
    size = {"binary_data_size": len(blob)}
    tensor = {"name": "x", "shape": [30_000, 5], "datatype": "FP64", "parameters": size}
    content, headers = binary_request({"inputs": [tensor]}, [blob])
    answer = httpx.post(urls["value", "native"] + "/v2/models/value/infer", content=content,
                        headers=headers)  # fmt: skip
    assert answer.status_code == 413


def test_the_server_advertises_binary_tensor_data(urls: dict[Any, str]) -> None:
    server = httpx.get(urls["value", "native"] + "/v2").json()
    assert "binary_tensor_data" in server["extensions"]


# -- 5. the [rows, columns] input -----------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_numeric_model_advertises_and_takes_one_matrix(urls: dict[Any, str], fmt: str) -> None:
    url = urls["labels-int", fmt]
    meta = httpx.get(f"{url}/v2/models/labels-int").json()
    assert [i["name"] for i in meta["inputs"]] == NUMERIC  # one tensor per column still
    params = meta["parameters"]
    assert params["matrix_input_shape"] == "[-1, 5]"
    assert params["matrix_input_datatypes"] == "FP32,FP64"
    assert params["matrix_input_columns"].split(",") == NUMERIC
    columns = rows(NUMERIC, n=3)
    matrix = np.column_stack([columns[c] for c in NUMERIC]).astype("<f4")
    blob = matrix.tobytes()
    tensor = {"name": "input", "shape": [3, 5], "datatype": "FP32",
              "parameters": {"binary_data_size": len(blob)}}  # fmt: skip
    content, headers = binary_request({"inputs": [tensor]}, [blob])
    binary = httpx.post(f"{url}/v2/models/labels-int/infer", content=content, headers=headers)
    as_json = {"name": "input", "shape": [3, 5], "datatype": "FP64", "data": matrix.tolist()}
    plain = infer(url, "labels-int", {"inputs": [as_json]})
    assert binary.status_code == plain.status_code == 200, binary.text
    assert binary.json()["outputs"][0] == plain.json()["outputs"][0]
    assert "parameters" not in httpx.get(urls["labels-text", fmt] + "/v2/models/labels-text").json()


def test_a_model_of_unknown_task_is_typed_from_its_sample(
    oip_home: Path, start_server: Callable[[Any], Any]
) -> None:
    """No classes and no regression (a clustering): the output's datatype comes from a
    prediction on a stored row, and answers are converted to it."""
    from sklearn.cluster import KMeans

    frame = make_loans(200, seed=6)[NUMERIC]
    sy.models.register("clusters", KMeans(3, n_init=2, random_state=0).fit(frame), X=frame)
    assert sy.models.get("clusters@1").signature.task is None
    url = start_server(serving.create_app("clusters@1", poll=0)).url
    meta = httpx.get(f"{url}/v2/models/clusters").json()
    answer = infer(url, "clusters", {"inputs": tensors(rows(NUMERIC))}).json()
    assert [o["name"] for o in meta["outputs"]] == ["predict"]
    assert meta["outputs"][0]["datatype"] == answer["outputs"][0]["datatype"] == "INT64"

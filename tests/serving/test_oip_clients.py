"""The Open Inference Protocol with the real clients against a real server (issue 17):
Triton's ``tritonclient[http]`` in this process, KServe's ``InferenceRESTClient`` in a
subprocess of a Python that has it (kserve 0.21 pins pandas < 3, so it does not install
beside Shipyard: set ``SHIPYARD_KSERVE_PYTHON`` to such an interpreter, or the test skips).
JSON and binary inputs and outputs, requested outputs, metadata, readiness."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import shipyard as sy
from shipyard import serving
from shipyard.config import reset_settings
from shipyard.data import make_loans

triton = pytest.importorskip("tritonclient.http")
from tritonclient.utils import InferenceServerException  # noqa: E402

NUMERIC = ["age", "income", "loan_amount", "term_months", "credit_score"]
MIXED = [*NUMERIC, "region"]
NUMPY = {"INT64": np.int64, "FP64": np.float64, "BYTES": np.object_}


@pytest.fixture(scope="module")
def clients_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``labels-int`` (integer labels, numeric inputs, exported to ONNX) and
    ``labels-text`` (text labels, a category input too)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    root = tmp_path_factory.mktemp("oip-clients-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SHIPYARD_HOME", str(root))
        for var in ("SHIPYARD_DB_URL", "SHIPYARD_ARTIFACTS_URL", "SHIPYARD_CONFIG"):
            patch.delenv(var, raising=False)
        reset_settings()
        frame = make_loans(600, seed=4)
        scaled = Pipeline([("s", StandardScaler()), ("m", LogisticRegression(max_iter=300))])
        y = frame["default"]
        sy.models.register("labels-int", scaled.fit(frame[NUMERIC], y), X=frame[NUMERIC], y=y)
        sy.models.export("labels-int@1", "onnx")
        text = y.map({0: "repaid", 1: "defaulted"})
        encode = ColumnTransformer(
            [("num", StandardScaler(), NUMERIC), ("cat", OneHotEncoder(), ["region"])]
        )
        mixed = Pipeline([("pre", encode), ("m", LogisticRegression(max_iter=300))])
        sy.models.register("labels-text", mixed.fit(frame[MIXED], text), X=frame[MIXED], y=text)
        yield root
        sy.models.clear_cache()
    reset_settings()


@pytest.fixture(scope="module")
def hosts(clients_home: Path, start_module_server: Callable[[Any], Any]) -> dict[str, str]:
    """Model name -> ``host:port`` of a server answering it."""
    found = {}
    for name in ("labels-int", "labels-text"):
        url = start_module_server(serving.create_app(f"{name}@1", poll=0)).url
        found[name] = url.removeprefix("http://")
    return found


def sample(n: int = 6) -> dict[str, list[Any]]:
    frame = make_loans(n, seed=12)[MIXED]
    return {c: frame[c].tolist() for c in MIXED}


def expected(clients_home: Path, name: str, columns: dict[str, list[Any]]) -> Any:
    model = sy.models.load(f"{name}@1")
    return model.predict(columns), model.predict_proba(columns)


# -- tritonclient -------------------------------------------------------------------


def test_tritonclient_reads_the_server_and_model_metadata(hosts: dict[str, str]) -> None:
    client = triton.InferenceServerClient(hosts["labels-text"])
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("labels-text")
    assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
    meta = client.get_model_metadata("labels-text")
    assert [o["datatype"] for o in meta["outputs"]] == ["BYTES", "FP64"]
    assert [i["name"] for i in meta["inputs"]] == MIXED


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_tritonclient_infers_from_the_metadata(
    hosts: dict[str, str], clients_home: Path, binary: bool
) -> None:
    client = triton.InferenceServerClient(hosts["labels-text"])
    meta = client.get_model_metadata("labels-text")
    columns = sample()
    inputs = []
    for spec in meta["inputs"]:  # built from what the metadata declares
        tensor = triton.InferInput(spec["name"], [6], spec["datatype"])
        tensor.set_data_from_numpy(
            np.asarray(columns[spec["name"]], dtype=NUMPY[spec["datatype"]]), binary_data=binary
        )
        inputs.append(tensor)
    labels, proba = expected(clients_home, "labels-text", columns)

    asked = [triton.InferRequestedOutput("predict_proba", binary_data=binary)]
    result = client.infer("labels-text", inputs, outputs=asked)
    assert [o["name"] for o in result.get_response()["outputs"]] == ["predict_proba"]
    assert np.allclose(result.as_numpy("predict_proba"), proba, atol=1e-5)

    result = client.infer("labels-text", inputs)  # no outputs named: all, as binary data
    got = result.as_numpy("predict")
    assert [v.decode() if isinstance(v, bytes) else v for v in got] == list(labels)
    assert result.as_numpy("predict_proba").shape == (6, 2)

    with pytest.raises(InferenceServerException, match="no output 'proba'"):
        client.infer("labels-text", inputs, outputs=[triton.InferRequestedOutput("proba")])


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_tritonclient_sends_one_matrix(
    hosts: dict[str, str], clients_home: Path, binary: bool
) -> None:
    client = triton.InferenceServerClient(hosts["labels-int"])
    params = client.get_model_metadata("labels-int")["parameters"]
    order = params["matrix_input_columns"].split(",")
    columns = sample()
    matrix = np.column_stack([columns[c] for c in order]).astype(np.float32)
    tensor = triton.InferInput("input", list(matrix.shape), "FP32")
    tensor.set_data_from_numpy(matrix, binary_data=binary)
    result = client.infer("labels-int", [tensor])
    labels, _ = expected(clients_home, "labels-int", columns)
    assert result.as_numpy("predict").dtype == np.int64
    assert result.as_numpy("predict").tolist() == labels.tolist()


# -- KServe ---------------------------------------------------------------------------

KSERVE_SCRIPT = r"""
import asyncio, json, sys
import httpx
import numpy as np
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig
from kserve.protocol.infer_type import RequestedOutput

NUMPY = {"INT64": np.int64, "FP64": np.float64, "BYTES": np.object_}

async def main(url, columns):
    client = InferenceRESTClient(RESTConfig(protocol="v2", retries=0, timeout=30))
    out = {"live": await client.is_server_live(url),
           "ready": await client.is_model_ready(url, "labels-text")}
    for binary in (False, True):
        inputs = []
        for name, (datatype, values) in columns.items():
            tensor = InferInput(name, [len(values)], datatype)
            tensor.set_data_from_numpy(np.asarray(values, dtype=NUMPY[datatype]),
                                       binary_data=binary)
            inputs.append(tensor)
        for asked in (None, ["predict_proba"]):
            wanted = asked and [RequestedOutput(n, {"binary_data": binary}) for n in asked]
            request = InferRequest("labels-text", inputs, request_outputs=wanted,
                                   parameters={"binary_data_output": binary})
            response = await client.infer(url, request, model_name="labels-text")
            out[f"binary={binary} asked={asked}"] = [
                {"name": o.name, "datatype": o.datatype, "shape": list(o.shape),
                 "data": [v.decode() if isinstance(v, bytes) else v
                          for v in o.as_numpy().ravel().tolist()]}
                for o in response.outputs
            ]
    try:
        wanted = [RequestedOutput("proba")]
        await client.infer(url, InferRequest("labels-text", inputs, request_outputs=wanted),
                           model_name="labels-text")
    except httpx.HTTPStatusError as exc:
        out["unknown"] = [exc.response.status_code, exc.response.json()["error"]]
    await client.close()
    print(json.dumps(out))

asyncio.run(main(sys.argv[1], json.loads(sys.argv[2])))
"""


def kserve_python() -> str:
    """An interpreter with kserve: this one, else ``SHIPYARD_KSERVE_PYTHON`` (a venv of its
    own, as ``.ci/run`` builds: kserve 0.21 needs pandas < 3)."""
    if importlib.util.find_spec("kserve") is not None:
        return sys.executable
    other = os.environ.get("SHIPYARD_KSERVE_PYTHON", "")
    if not (other and Path(other).is_file()):
        pytest.skip(
            "kserve is not installed here and no SHIPYARD_KSERVE_PYTHON interpreter has it "
            "(kserve 0.21 requires pandas<3: install it in a venv of its own)"
        )
    return other


def test_kserve_rest_client(hosts: dict[str, str], clients_home: Path) -> None:
    python = kserve_python()
    meta = triton.InferenceServerClient(hosts["labels-text"]).get_model_metadata("labels-text")
    columns = sample()
    typed = {i["name"]: (i["datatype"], columns[i["name"]]) for i in meta["inputs"]}
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [python, "-c", KSERVE_SCRIPT, "http://" + hosts["labels-text"], json.dumps(typed)],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["live"] and got["ready"]
    labels, proba = expected(clients_home, "labels-text", columns)
    for binary in (False, True):
        both = got[f"binary={binary} asked=None"]
        assert [(o["name"], o["datatype"]) for o in both] == [
            ("predict", "BYTES"),
            ("predict_proba", "FP64"),
        ]
        assert both[0]["data"] == list(labels)
        only = got[f"binary={binary} asked=['predict_proba']"]
        assert [o["name"] for o in only] == ["predict_proba"] and only[0]["shape"] == [6, 2]
        assert np.allclose(np.reshape(only[0]["data"], (6, 2)), proba, atol=1e-5)
    status, error = got["unknown"]
    assert status == 400 and "no output 'proba'" in error

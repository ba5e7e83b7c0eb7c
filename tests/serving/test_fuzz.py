"""The inference server fuzzed from its own OpenAPI description (schemathesis), with and
without auth: no input gets a 5xx, every answer's status and content type is documented for
its operation, and every answer's body conforms (all of schemathesis' checks).

Deterministic: Hypothesis derandomized, a fixed number of examples per operation and
generation mode, no example database; ``bench/fuzz.py`` runs the randomized version with
many more examples by hand. Schemathesis' pytest plugin does not run on this pytest; its
Hypothesis strategies are used directly, one property per operation and mode.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable

from shipyard import serving
from shipyard.config import reset_settings

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is in the dev extra")
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.config import CheckConfig, PositiveDataAcceptanceConfig  # noqa: E402

KNOWN = {"name": "fuzz", "version": "1"}
FEATURES = ["age", "income", "loan_amount", "term_months", "credit_score", "region"]
# a cell: a value of the column's type (first: Hypothesis tries it most), else any JSON value,
# lists of them too (what a client may send where a value belongs)
_ANY = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=2),
    max_leaves=3,
)
_AMOUNT = st.floats(0, 1e6, allow_nan=False)
_TYPED = {"age": st.integers(18, 90), "income": _AMOUNT, "loan_amount": _AMOUNT}
_TYPED |= {"term_months": st.integers(6, 72), "credit_score": st.integers(300, 850)}
_TYPED["region"] = st.sampled_from(["north", "south", "east", "west", "central"])
_CELLS = {c: _TYPED[c] | _ANY for c in FEATURES}
_RECORD = st.fixed_dictionaries(_CELLS)
# /predict bodies naming the signature's columns, in each of the body forms: they get past
# the column check to the type checks and the model, where a schema-generated body never does
ROWS = st.one_of(
    _RECORD,
    st.lists(_RECORD, min_size=1, max_size=3),
    st.fixed_dictionaries({"records": st.lists(_RECORD, min_size=1, max_size=3)}),
    st.integers(1, 3).flatmap(
        lambda n: st.fixed_dictionaries(
            {
                "columns": st.fixed_dictionaries(
                    {c: st.lists(_CELLS[c], min_size=n, max_size=n) for c in FEATURES}
                )
            }
        )
    ),
)
EXAMPLES = 10  # per operation and mode: 12 operations x 2 modes x 2 apps in ~15 s


@pytest.fixture(scope="module")
def apps(registry: Path, start_module_server: Any) -> Iterator[dict[str, Any]]:
    """The loans model served as a deployment (A/B over two versions) by two servers, one
    with auth (and a key holding every scope), one without."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SHIPYARD_HOME", str(registry))
        reset_settings()
        serving.deployments.create(
            "fuzz", {"a": "loans-gbm@1", "b": "loans-gbm@2"}, split={"a": 50, "b": 50}
        )
        key = serving.create_key("fuzzer", ["predict", "feedback", "admin"])
        servers = {}
        for auth in (False, True):
            app = serving.create_app(deployment="fuzz", poll=0, log_sample=0, auth=auth)
            servers[auth] = (app.openapi(), start_module_server(app))
        try:
            yield {"servers": servers, "key": key}
        finally:
            for _schema, running in servers.values():
                running.stop()
            serving.deployments.delete("fuzz")
            serving.revoke_key("fuzzer")
    reset_settings()


def fuzz(raw: dict[str, Any], url: str, key: str | None) -> dict[str, set[int]]:
    """Every operation of ``raw`` fuzzed against ``url`` with all of schemathesis' checks;
    with ``key``, most requests carry it and some none. The statuses seen per operation."""
    schema = schemathesis.openapi.from_dict(raw)
    schema.config.update(base_url=url)
    # a body the schema allows may still break a rule JSON Schema cannot state (a tensor's
    # shape matches its data, at least one row) or name a column the model's signature
    # refuses: a documented 400 or 422 is an acceptable answer to schema-valid data too, and
    # so is 413 for a tensor whose shape declares more rows than the server's --max-rows
    schema.config.checks.positive_data_acceptance = PositiveDataAcceptanceConfig(
        expected_statuses=["2xx", "400", "401", "403", "404", "409", "413", "422", "429"]
    )
    # a body the schema refuses may be refused for its size first (413: --max-rows)
    schema.config.checks.negative_data_rejection = CheckConfig(
        expected_statuses=[
            "400",
            "401",
            "403",
            "404",
            "405",
            "406",
            "409",
            "413",
            "415",
            "422",
            "428",
            "429",
        ]
    )
    seen: dict[str, set[int]] = {}
    with requests.Session() as session:
        for result in schema.get_all_operations():
            operation = result.ok()
            codes = seen.setdefault(operation.label, set())
            # a share of the cases name the served deployment and a version of it
            known = {p.name: KNOWN[p.name] for p in operation.path_parameters}
            takes_input = any(True for _ in operation.iter_parameters()) or bool(operation.body)
            modes = [GenerationMode.POSITIVE] + [GenerationMode.NEGATIVE] * takes_input
            for mode in modes:
                cases = operation.as_strategy(mode)
                if known:
                    cases = cases | operation.as_strategy(mode, path_parameters=known)
                if operation.label == "POST /predict" and mode is GenerationMode.POSITIVE:
                    cases = cases | ROWS.flatmap(lambda rows: operation.as_strategy(body=rows))  # noqa: B023
                keyed = st.sampled_from([True, True, False]) if key else st.just(False)

                @given(case=cases, with_key=keyed)
                @settings(
                    max_examples=EXAMPLES,
                    derandomize=True,
                    database=None,
                    deadline=None,
                    suppress_health_check=list(HealthCheck),
                )
                def conforms(case: Any, with_key: bool) -> None:
                    headers = {"Authorization": f"Bearer {key}"} if with_key else None
                    response = case.call_and_validate(session=session, headers=headers)
                    codes.add(response.status_code)  # noqa: B023 - called before the loop moves on

                try:
                    conforms()
                except Unsatisfiable:
                    # nothing in the operation's input can be made invalid (a string path
                    # parameter takes any string): no negative example exists
                    assert mode is GenerationMode.NEGATIVE, operation.label
    return seen


@pytest.mark.parametrize("auth", [False, True], ids=["open", "auth"])
def test_every_answer_is_documented_and_none_is_a_server_error(
    apps: dict[str, Any], auth: bool
) -> None:
    raw, running = apps["servers"][auth]
    seen = fuzz(raw, running.url, apps["key"] if auth else None)
    assert {"POST /predict", "POST /v2/models/{name}/infer", "POST /feedback"} <= set(seen)
    # the generated bodies reached the parsers and the signature checks
    assert {400, 422} <= seen["POST /predict"] | seen["POST /v2/models/{name}/infer"]
    assert 200 in seen["POST /predict"]  # and the model answered some
    if auth:  # the key was used, and a request without one refused
        assert 200 in seen["GET /metrics"] and 401 in seen["GET /metrics"]


def test_a_body_id_no_header_can_carry_is_not_echoed_as_one(apps: dict[str, Any]) -> None:
    """Found by the fuzzer: an OIP body's ``id`` outside Latin-1 became the X-Request-ID
    header of the answer, which cannot carry it (500). The server names the request itself."""
    row = {"age": 41, "income": 52000.0, "loan_amount": 12000.0, "term_months": 36}
    kinds = {"age": "INT64", "term_months": "INT64"}
    inputs = [
        {"name": k, "shape": [1], "datatype": kinds.get(k, "FP64"), "data": [v]}
        for k, v in {**row, "credit_score": 640}.items()
    ] + [{"name": "region", "shape": [1], "datatype": "BYTES", "data": ["north"]}]
    _schema, running = apps["servers"][False]
    for named in ("\U00017adc", "r\u20ac1"):  # beyond Latin-1
        answer = requests.post(
            running.url + "/v2/models/fuzz/infer", json={"id": named, "inputs": inputs}, timeout=30
        )
        assert answer.status_code == 200, answer.text
        assert answer.headers["x-request-id"] != named and answer.headers["x-request-id"]
    kept = requests.post(
        running.url + "/v2/models/fuzz/infer", json={"id": "r-é", "inputs": inputs}, timeout=30
    )  # Latin-1 fits a header: the client's id is kept, as before
    assert kept.status_code == 200 and kept.headers["x-request-id"] == "r-é"

"""The platform server's API fuzzed from its own OpenAPI description (schemathesis), with
and without auth, on real servers: no input gets a 5xx, every answer's status and content
type is documented for its operation, and every answer's body conforms (all of
schemathesis' checks, ``--checks all``; with auth, ``ignored_auth`` too: an operation
declaring the bearer token refuses a request without one).

The store holds runs, datasets, models, a monitor with an open alert, a canary deployment
and users, and a share of the examples names them, so requests reach past the 404 of an
unknown name. Deterministic:
Hypothesis derandomized, a fixed number of examples per operation and generation mode, no
example database; ``bench/fuzz.py`` runs the randomized version with many more by hand.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable

import shipyard as sy
from shipyard import monitoring, server, serving
from shipyard.data import make_loans
from shipyard.server import create_app

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is in the dev extra")
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.config import PositiveDataAcceptanceConfig  # noqa: E402
from schemathesis.core.parameters import ParameterLocation  # noqa: E402

EXAMPLES = 4  # per operation and mode (open: valid input only), ~45 s for 33 operations


def _seed() -> dict[str, Any]:
    """A monitor with an open alert and a deployment over two versions: the names a share
    of the generated requests use."""
    from sklearn.linear_model import LogisticRegression

    frame = make_loans(600, seed=0)
    X, y = frame[["age", "income", "credit_score"]], frame["default"]
    for c in (0.1, 1.0):
        sy.models.register("fuzz-model", LogisticRegression(C=c).fit(X, y), X=X, y=y)
    serving.deployments.create("fuzz", {"a": "fuzz-model@1", "b": "fuzz-model@2"})
    sy.datasets.register("applications", make_loans(600, seed=0))
    monitoring.create_monitor(
        "drift", dataset="applications", reference="applications@1",
        detectors=["data_drift"], drift_share=0.1,
    )  # fmt: skip
    moved = make_loans(600, seed=1)
    moved["income"] = moved["income"] * 1.8
    moved["credit_score"] = moved["credit_score"] - 80
    sy.datasets.register("applications", moved)
    monitoring.check("drift")
    alert = monitoring.list_alerts()[0].id
    with sy.start_run(experiment="fuzz", name="r1") as run:
        run.log_params({"C": 0.1})
        run.log_metrics({"auc": 0.7}, step=1)
    server.create_user("drift", "viewer")  # a user sharing the names the examples use
    return {
        "name": "drift", "alert_id": alert, "ref": "drift", "run_id": run.id, "step": "x",
        "experiment": "fuzz", "version": "1", "user": "drift",
    }  # fmt: skip


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Two platform servers over one seeded store, one with auth (an admin's token), one
    without."""
    from shipyard.config import reset_settings

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SHIPYARD_HOME", str(tmp_path_factory.mktemp("fuzz-api-home")))
        for var in ("SHIPYARD_DB_URL", "SHIPYARD_ARTIFACTS_URL", "SHIPYARD_CONFIG", "SHIPYARD_URL"):
            patch.delenv(var, raising=False)
        reset_settings()
        known = _seed()
        server.create_user("fuzzer", "admin")
        key = server.create_token("fuzzer")
        with (
            serving.background(create_app()) as open_url,
            serving.background(create_app(auth=True)) as keyed_url,
        ):
            yield {
                "known": known,
                "key": key,
                False: (create_app().openapi(), open_url),
                True: (create_app(auth=True).openapi(), keyed_url),
            }
    reset_settings()


def fuzz(raw: dict[str, Any], url: str, key: str | None, known: dict[str, Any]) -> dict:
    """Every operation of ``raw`` fuzzed against ``url`` with all of schemathesis' checks,
    a share of the cases with the seeded names as path parameters; with ``key`` (a token),
    most requests carry it and some none. The statuses seen per operation."""
    schema = schemathesis.openapi.from_dict(raw)
    schema.config.update(base_url=url)
    # a value the schema allows may still be refused by a rule it does not state (a status
    # filter's words): a documented 400 or 422 answers schema-valid data too
    schema.config.checks.positive_data_acceptance = PositiveDataAcceptanceConfig(
        expected_statuses=["2xx", "400", "401", "403", "404", "409", "422", "429"]
    )
    seen: dict[str, set[int]] = {}
    with requests.Session() as session:
        for result in schema.get_all_operations():
            operation = result.ok()
            codes = seen.setdefault(operation.label, set())
            names = {p.name: known[p.name] for p in operation.path_parameters if p.name in known}
            takes_input = any(True for _ in operation.iter_parameters()) or bool(operation.body)
            # invalid input takes the same paths with auth or without: tried once, with it
            negative = takes_input and key is not None
            modes = [GenerationMode.POSITIVE] + [GenerationMode.NEGATIVE] * negative
            for mode in modes:
                cases = operation.as_strategy(mode)
                if names:
                    cases = cases | operation.as_strategy(mode, path_parameters=names)
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
                    # a case whose headers are made invalid on purpose (the token left
                    # out) is sent as made
                    header = case.meta.components.get(ParameterLocation.HEADER)
                    spoilt = header is not None and header.mode is GenerationMode.NEGATIVE
                    keep = with_key and not spoilt
                    headers = {"Authorization": f"Bearer {key}"} if keep else None
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
    api: dict[str, Any], auth: bool
) -> None:
    raw, url = api[auth]
    seen = fuzz(raw, url, api["key"] if auth else None, api["known"])
    assert len(seen) >= 30
    # the seeded names were reached
    assert 200 in seen["GET /api/monitors/{name}"] and 200 in seen["GET /api/alerts/{alert_id}"]
    if auth:
        assert 401 in seen["GET /api/monitors"] and 401 in seen["GET /api/users"]
    assert 200 in seen["GET /api/users/{name}"]

"""The server fuzzed from its own OpenAPI description (schemathesis): no input gets a 5xx.

Schemathesis' pytest plugin does not run on this pytest; its Hypothesis strategies are used
directly instead, one property per API operation.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from shipyard import serving
from shipyard.config import reset_settings

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is in the dev extra")


@pytest.fixture(scope="module")
def fuzzed(registry: Path, start_module_server: Any) -> Iterator[Any]:
    """The served loans model (deployment mode: A/B over two versions), its OpenAPI schema."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SHIPYARD_HOME", str(registry))
        reset_settings()
        serving.deployments.create(
            "fuzz", {"a": "loans-gbm@1", "b": "loans-gbm@2"}, split={"a": 50, "b": 50}
        )
        app = serving.create_app(deployment="fuzz", poll=0, log_sample=0)
        running = start_module_server(app)
        try:
            yield schemathesis.openapi.from_url(running.url + "/openapi.json")
        finally:
            running.stop()
            serving.deployments.delete("fuzz")
    reset_settings()


def test_no_generated_request_gets_a_server_error(fuzzed: Any) -> None:
    operations = [result.ok() for result in fuzzed.get_all_operations()]
    labels = {f"{op.method.upper()} {op.path}" for op in operations}
    assert {"POST /predict", "POST /v2/models/{name}/infer", "POST /feedback"} <= labels
    seen: dict[str, set[int]] = {}
    for operation in operations:
        codes = seen.setdefault(f"{operation.method.upper()} {operation.path}", set())

        @given(case=operation.as_strategy())
        @settings(
            max_examples=60,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def no_server_error(case: Any) -> None:
            response = case.call()
            codes.add(response.status_code)  # noqa: B023 - called before the loop moves on
            assert response.status_code < 500, (
                case.method, case.formatted_path, case.body, response.text[:300]
            )  # fmt: skip

        no_server_error()
    # the generated bodies reached the parsers and the signature checks
    assert {400, 422} <= seen["POST /predict"] | seen["POST /v2/models/{name}/infer"]

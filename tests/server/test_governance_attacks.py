"""A hostile client of the governance routes: what it may not record or move."""

from __future__ import annotations

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import shipyard as sy
from shipyard.errors import InvalidInput
from shipyard.models import GatesFailed


def test_an_evaluation_cannot_be_forged_to_pass_max_drop(remote: str) -> None:
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"a": rng.normal(size=80)})
    frame["label"] = (frame["a"] > 0).astype(int)
    data = sy.data.register("forged-loans", frame).ref
    x, y = frame[["a"]], frame["label"]
    sy.models.register("forged", LogisticRegression().fit(x, y), X=x, aliases=["champion"])
    weak = sy.models.register("forged", LogisticRegression().fit(x, 1 - y), X=x).ref
    drop = {"metric": "auc", "by": 0.01, "data": data, "target": "label"}
    sy.models.set_policy("forged", {"protect": ["champion"], "gates": {"max_drop": drop}})
    claim = {"data": data, "target": "label", "rows": 80,
             "metrics": {"auc": {"value": 1.0, "low": 1.0, "high": 1.0}}}  # fmt: skip
    forged = httpx.post(
        f"{remote}/api/models/forged/versions/2/evidence",
        json={"kind": "evaluation", "data": claim},
        timeout=30,
    )
    assert forged.status_code == 422 and "kind" in forged.json()["error"]
    with pytest.raises(InvalidInput, match="kind"):
        sy.models.record_evidence(weak, "evaluation", claim)
    with pytest.raises(GatesFailed, match="max_drop"):
        sy.models.set_alias(weak, "champion")
    assert sy.models.get("forged@champion").version == 1


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("version=99999999999999999999", "version"),
        ("version=2147483648", "version"),
        ("after=9223372036854775808", "after"),
    ],
)
def test_audit_filters_beyond_the_columns_range_are_a_422(
    remote: str, query: str, field: str
) -> None:
    answer = httpx.get(f"{remote}/api/audit?name=churn&{query}", timeout=30)
    assert answer.status_code == 422 and field in answer.json()["error"]
    with pytest.raises(InvalidInput, match=f"^{field}: expected at most"):
        sy.governance.audit_log(name="churn", **{field: int(query.split("=")[1])})


def test_a_policy_version_beyond_the_columns_range_is_a_422(remote: str) -> None:
    rng = np.random.default_rng(6)
    x = pd.DataFrame({"a": rng.normal(size=30)})
    sy.models.register("ranged", LogisticRegression().fit(x, x["a"] > 0), X=x)
    sy.models.set_policy("ranged", {"gates": {}})
    answer = httpx.get(f"{remote}/api/models/ranged/policies?version={2**70}", timeout=30)
    assert answer.status_code == 422 and "version" in answer.json()["error"]
    with pytest.raises(InvalidInput, match=r"^version: expected a policy version number"):
        sy.models.policy("ranged", 2**70)

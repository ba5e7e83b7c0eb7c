"""Fairness and mitigation in remote mode: the data, the model and the evidence live on the
platform server; the metrics are computed in this process, the same as locally."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

import shipyard as sy
from shipyard import governance


def test_a_report_and_a_mitigation_go_through_the_server(remote: str) -> None:
    rng = np.random.default_rng(5)
    group = rng.choice(["a", "b"], 400)
    income = rng.normal(0, 1, 400) + np.where(group == "b", 1.0, 0.0)
    label = (income + rng.normal(0, 1, 400) > 0.5).astype(np.int64)
    df = pd.DataFrame({"income": income, "group": group, "label": label})
    sy.datasets.register("people", df, tags={"sensitive": "group"})
    model = LogisticRegression().fit(df[["income"]], df["label"])
    sy.models.register("pick", model, X=df[["income"]], y=df["label"])

    report = governance.fairness("pick@1", "people@1", target="label", boot=10)
    assert report.sensitive == ("group",) and [g.count for g in report.groups] == [
        int((group == "a").sum()),
        int((group == "b").sum()),
    ]
    assert governance.fairness_report("pick@1") == report  # read back from the server

    new = governance.mitigate("pick@1", "people@1", target="label")
    assert new.ref == "pick@2" and new.tags["mitigated_from"] == "pick@1"
    record = sy.models.evidence("pick@2", "mitigation")[0].data
    assert (
        record["after"]["demographic_parity_difference"]
        < record["before"]["demographic_parity_difference"]
    )
    assert sy.models.load("pick@2").predict(df.head(3)).shape == (3,)

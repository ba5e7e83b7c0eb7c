"""Model cards: every section gathered from the registry, the run, the datasets and the
recorded evidence (written here with ``record_evidence`` in the formats of the explanation,
fairness and gate code), as Markdown and a self-contained HTML page; the user-written
sections through ``set_card`` (merged, validated); the CLI; remote mode."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

import shipyard as sy
from shipyard import governance, models
from shipyard.cli import app
from shipyard.errors import InvalidInput, NotFound

runner = CliRunner()

EXPLANATION: dict[str, Any] = {
    "method": "linear",
    "note": None,
    "output": "log-odds",
    "data": "sample",
    "rows": 4,
    "features": ["income", "age", "region"],
    "mean_abs_shap": {"income": 0.8, "age": 0.1, "region": 0.35},
    "base_value": -0.2,
    "classes": [0, 1],
    "permutation": {"income": {"mean": 0.12, "std": 0.01}, "age": {"mean": 0.0, "std": 0.002}},
    "scoring": "roc_auc",
    "sample": {"shap": [[0.5, -0.1, 0.2]] * 4, "values": [[1.0, 30, "north"]] * 4},
}


def _group(region: str, count: int, rate: float, small: bool = False) -> dict[str, Any]:
    ci = {"value": rate, "low": rate - 0.05, "high": rate + 0.05}
    return {
        "group": {"region": region},
        "count": count,
        "small": small,
        "metrics": {"selection_rate": ci, "true_positive_rate": ci, "accuracy": ci},
    }


FAIRNESS: dict[str, Any] = {
    "data": "people@1",
    "target": "label",
    "sensitive": ["region"],
    "rows": 140,
    "task": "binary",
    "confidence": 0.95,
    "min_group_size": 30,
    "groups": [_group("north", 120, 0.6), _group("south", 20, 0.3, small=True)],
    "disparities": {
        "demographic_parity_difference": 0.3,
        "demographic_parity_ratio": 0.5,
        "equalized_odds_difference": 0.25,
    },
    "notes": ["region=south: 20 rows, fewer than 30: its intervals are wide."],
}
EVALUATION = {
    "data": "people@1",
    "target": "label",
    "rows": 140,
    "metrics": {"accuracy": {"value": 0.81, "low": 0.75, "high": 0.87}},
}


@pytest.fixture
def trained(home: Path) -> str:
    """Version people-model@1, trained in a run on dataset people@1 (tagged sensitive)."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "income": rng.normal(50, 10, 140),
            "age": rng.integers(18, 80, 140),
            "region": rng.choice(["north", "south"], 140),
        }
    )
    frame["label"] = (frame["income"] > 50).astype(int)
    sy.datasets.register("people", frame, tags={"sensitive": "region"})
    X = frame[["income", "age"]]
    with sy.start_run(name="fit people") as run:
        sy.log_params({"C": 0.5})
        sy.datasets.get("people@1")  # recorded as the run's input
        model = LogisticRegression(C=0.5).fit(X, frame["label"])
        version = sy.models.register("people-model", model, X=X, y=frame["label"], run=run)
    return version.ref


def test_a_bare_card_says_what_is_missing(trained: str) -> None:
    found = governance.card(trained)
    assert (found.model, found.version) == ("people-model", 1)
    assert found.missing == ["intended_use", "limitations"] and not found.complete
    assert found.training["params"] == {"C": "0.5"}
    assert found.training["run"]["name"] == "fit people"
    assert [d["ref"] for d in found.data] == ["people@1"]
    assert {c["name"] for c in found.data[0]["profile"]} == {"income", "age", "region", "label"}
    assert found.sensitive == ["region"]  # the dataset's tag
    assert found.fairness is None and found.explanation is None
    assert found.gates["note"] in ("the model has no policy", "no promotion gates in this registry")
    assert [e["kind"] for e in found.lineage["events"]] == ["registered"]
    text = found.markdown()
    for heading in ("Intended use", "Data", "Training", "Metrics", "Fairness", "Explanations"):
        assert f"## {heading}" in text
    assert "Not written yet: shipyard models card-set people-model@1 --intended-use" in text
    json.dumps(found.to_dict())  # plain JSON data


def test_set_card_merges_and_refuses_bad_sections(trained: str) -> None:
    governance.set_card(trained, intended_use="Score loan applications.")
    governance.set_card(trained, limitations="Trained on one region's data.\n\nNot for minors.")
    found = governance.card(trained, check=False)
    assert found.intended_use == "Score loan applications."
    assert found.limitations == "Trained on one region's data.\n\nNot for minors."
    assert found.complete and found.missing == []
    record = models.evidence(trained, "card")[0].data
    assert record == {
        "intended_use": "Score loan applications.",
        "limitations": "Trained on one region's data.\n\nNot for minors.",
        "ethical_considerations": None,
        "owners": None,
    }
    governance.set_card(trained, limitations="  ")  # clears it
    assert governance.card(trained, check=False).missing == ["limitations"]

    before = len(models.evidence(trained))
    for kwargs, field in (
        ({}, "card"),
        ({"owners": 7}, "owners"),
        ({"intended_use": "x" * 20_001}, "intended_use"),
    ):
        with pytest.raises(InvalidInput, match=f"^{field}: "):
            governance.set_card(trained, **kwargs)
    with pytest.raises(NotFound):
        governance.set_card("people-model@9", owners="me")
    assert len(models.evidence(trained)) == before


def test_a_full_card_as_markdown_and_html(trained: str) -> None:
    for kind, data in (
        ("explanation", EXPLANATION),
        ("fairness", FAIRNESS),
        ("evaluation", EVALUATION),
        ("approval", {"role": "admin", "comment": "looks fine", "for": "production"}),
        (
            "override",
            {"to": "production", "failed": ["approval"], "reason": "hotfix", "policy_version": 1},
        ),
        (
            "mitigation",
            {
                "method": "threshold_optimizer",
                "constraint": "demographic_parity",
                "from": "people-model@1",
                "data": "people@1",
                "before": {"accuracy": 0.8, "demographic_parity_difference": 0.3},
                "after": {"accuracy": 0.78, "demographic_parity_difference": 0.05},
            },
        ),
    ):
        models.record_evidence(trained, kind, data)
    governance.set_card(trained, intended_use="Triage <b>only</b>.", owners="risk team")
    found = governance.card(trained)
    assert [t["feature"] for t in found.explanation["top"]] == ["income", "region", "age"]
    assert found.metrics[0] == {
        "name": "accuracy", "value": 0.81, "low": 0.75, "high": 0.87,
        "data": "people@1", "rows": 140, "source": "evaluation",
    }  # fmt: skip
    assert found.approvals[0]["comment"] == "looks fine"
    assert found.overrides[0]["reason"] == "hotfix"
    assert found.lineage["derived_from"] == "people-model@1"

    text = found.markdown()
    assert "| accuracy | 0.81 | [0.75, 0.87] | people@1 | evaluation |" in text
    assert "| region=south | 20 (small) | 0.3 [0.25, 0.35] |" in text
    assert "| demographic parity difference | 0.3 |" in text
    assert "| income | 0.8 | 0.12 ± 0.01 |" in text
    assert "| admin@" not in text and "looks fine" in text and "hotfix" in text
    assert "Made from people-model@1 by threshold_optimizer" in text

    page = found.html()
    assert page.startswith("<!doctype html>")
    assert "<script" not in page and not re.search(r"""(src|href)=["']?https?:""", page)
    assert "Triage &lt;b&gt;only&lt;/b&gt;." in page  # user text is escaped
    assert page.count('<svg class="bars"') == 3  # metrics, selection rate, mean |SHAP|
    assert '<tr class="warn">' in page  # the small group and the override
    assert 'id="intended-use"' in page


@pytest.mark.skipif(not hasattr(models, "set_policy"), reason="promotion gates not in the registry")
def test_the_card_reports_the_policys_gates(trained: str) -> None:
    assert governance.card(trained).gates["note"] == "the model has no policy"
    policy = models.Policy(card_complete=True, explanation=True)  # type: ignore[attr-defined]
    models.set_policy("people-model", policy)  # type: ignore[attr-defined]
    found = governance.card(trained, to="production")
    assert found.gates["checked"] and not found.gates["passed"]
    failed = {r["name"]: r["detail"] for r in found.gates["results"] if not r["passed"]}
    assert set(failed) == {"card_complete", "explanation"}
    assert "## Gates (for production)" in found.markdown()
    governance.set_card(trained, intended_use="Demo.", limitations="Demo data.")
    models.record_evidence(trained, "explanation", EXPLANATION)
    gates = governance.card(trained).gates
    assert gates["passed"] and gates["to"] is None
    assert "All gates pass (policy version 1)." in governance.card(trained).markdown()


def test_cli_prints_writes_and_sets_the_card(trained: str, tmp_path: Path) -> None:
    done = runner.invoke(
        app,
        [
            "models",
            "card-set",
            trained,
            "--intended-use",
            "Demo use.",
            "--limitations",
            "Few rows.",
        ],
    )
    assert done.exit_code == 0, done.output
    assert "complete" in done.output
    done = runner.invoke(app, ["models", "card", trained])
    assert done.exit_code == 0, done.output
    assert "# Model card: people-model@1" in done.output and "Demo use." in done.output
    target = tmp_path / "card.html"
    done = runner.invoke(app, ["models", "card", trained, "--html", "--output", str(target)])
    assert done.exit_code == 0, done.output
    assert "Demo use." in target.read_text() and str(target) in done.output
    done = runner.invoke(app, ["models", "card", trained, "--json"])
    assert json.loads(done.output)["complete"] is True


def test_cards_in_remote_mode(remote: str) -> None:
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"a": rng.normal(size=40), "b": rng.normal(size=40)})
    version = sy.models.register("remote-card", LogisticRegression().fit(X, X["a"] > 0), X=X)
    governance.set_card(version.ref, intended_use="Remote.", limitations="None known.")
    models.record_evidence(version.ref, "explanation", EXPLANATION)
    found = governance.card(version.ref)
    assert found.complete and found.explanation is not None
    assert "Remote." in found.html()

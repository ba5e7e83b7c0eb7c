"""Promotion policies: Python, dict and YAML forms, one-line errors naming the field, stored
versioned with an audit entry, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sqlalchemy import text

import shipyard as sy
from shipyard.errors import InvalidInput, NotFound
from shipyard.models import MaxDrop, Policy
from shipyard.store import default_database

YAML = """\
protect: [champion, production]
gates:
  min_metric: {auc: 0.8}
  max_drop: {metric: auc, by: 0.02, data: loans@1, target: label}
  max_disparity: {demographic_parity_difference: 0.1}
  explanation: true
  data_validated: true
  card_complete: true
  approval: editor
"""


def _register(name: str = "churn") -> sy.models.ModelVersion:
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60)})
    y = (x["a"] > 0).astype(int)
    return sy.models.register(name, LogisticRegression().fit(x, y), X=x, y=y)


def test_the_three_forms_give_the_same_policy(tmp_path: Path) -> None:
    from_yaml = Policy.from_yaml(YAML)
    python = Policy(
        protect=("champion", "production"),
        min_metric={"auc": 0.8},
        max_drop=MaxDrop("auc", 0.02, "loans@1", "label"),
        max_disparity={"demographic_parity_difference": 0.1},
        explanation=True,
        data_validated=True,
        card_complete=True,
        approval="editor",
    )
    assert from_yaml == python
    assert Policy.from_dict(python.to_dict()) == python
    assert Policy.from_yaml(python.to_yaml()) == python
    assert python.gates == (
        "min_metric", "max_drop", "max_disparity", "explanation", "data_validated",
        "card_complete", "approval",
    )  # fmt: skip
    assert python.protects("champion") and not python.protects("staging")
    assert Policy().protect == ("production", "champion") and Policy().gates == ()


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("gates: [min_metric", "policy: not valid YAML (line 1"),
        ("- a\n- b\n", "policy: expected a mapping with protect and gates"),
        ("gate: {}", "policy: expected only the keys protect and gates"),
        ("gates: {min_metrics: {auc: 1}}", "policy.gates: expected gates among min_metric"),
        ("gates: {min_metric: {auc: high}}", "policy.gates.min_metric.auc: expected a finite"),
        ("gates: {min_metric: 0.8}", "policy.gates.min_metric: expected a mapping"),
        ("gates: {approval: boss}", "policy.gates.approval: expected one of viewer, editor"),
        ("gates: {explanation: yes please}", "policy.gates.explanation: expected true or false"),
        ("protect: champion", "policy.protect: expected a list of aliases and stages"),
        ("protect: []", "policy.protect: expected at least one alias or stage"),
        (
            "gates: {max_drop: {metric: auc, by: -1, data: loans@1, target: y}}",
            "policy.gates.max_drop.by: expected a number >= 0",
        ),
        (
            "gates: {max_drop: {metric: speed, by: 1, data: loans@1, target: y}}",
            "policy.gates.max_drop.metric: expected one of accuracy, auc",
        ),
        (
            "gates: {max_drop: {metric: auc, by: 0.1, target: y}}",
            "policy.gates.max_drop.data: required, missing.",
        ),
        (
            "gates: {max_drop: {metric: auc, by: 0.1, data: loans, target: y}}",
            "policy.gates.max_drop.data: expected a dataset version reference",
        ),
    ],
)
def test_a_malformed_policy_is_one_line_naming_the_field(source: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        Policy.from_yaml(source)
    assert str(caught.value).startswith(message), str(caught.value)
    assert "\n" not in str(caught.value)


def test_policies_are_stored_versioned_with_an_audit_entry(backend: str, tmp_path: Path) -> None:
    _register()
    assert sy.models.policy("churn") is None and sy.models.policies("churn") == []
    file = tmp_path / "policy.yaml"
    file.write_text(YAML)
    first = sy.models.set_policy("churn", file)
    assert (first.version, first.source, first.policy.approval) == (1, YAML, "editor")
    second = sy.models.set_policy("churn", {"gates": {"min_metric": {"auc": 0.9}}})
    assert (second.version, second.source) == (2, None)
    third = sy.models.set_policy("churn", Policy(approval="admin"))
    assert sy.models.policy("churn") == third
    assert sy.models.policy("churn", 1) == first
    assert [p.version for p in sy.models.policies("churn")] == [3, 2, 1]
    with default_database().read() as conn:
        rows = conn.execute(
            text("SELECT action, name, before, after FROM audit_log WHERE action = 'policy-set'")
        ).all()
    assert [r.name for r in rows] == ["churn"] * 3
    assert '"policy_version":2' in rows[2].before.replace(" ", "")


def test_bad_policy_calls_change_nothing(home: Path) -> None:
    _register()
    with pytest.raises(InvalidInput, match=r"policy\.gates\.approval"):
        sy.models.set_policy("churn", "gates: {approval: boss}")
    with pytest.raises(InvalidInput, match="policy: cannot read"):
        sy.models.set_policy("churn", "missing.yaml")
    with pytest.raises(NotFound):
        sy.models.set_policy("nobody", Policy())
    with pytest.raises(NotFound, match="no policy version 4"):
        sy.models.policy("churn", 4)
    with pytest.raises(InvalidInput, match="version: expected a policy version"):
        sy.models.policy("churn", "1")  # type: ignore[arg-type]
    assert sy.models.policies("churn") == []

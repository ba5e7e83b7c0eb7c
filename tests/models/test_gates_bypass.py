"""Ways around the promotion gates a hostile editor might try, and a check that must not
write: registering straight into a protected alias or stage (the store refuses it in the
registration's transaction, whoever calls it), and the read-only check a card view runs."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import shipyard as sy
from shipyard.errors import Conflict
from shipyard.models import GatesFailed
from shipyard.models._api import _store
from shipyard.models._backend import NewModelVersion


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    x = pd.DataFrame({"a": rng.normal(size=120), "b": rng.normal(size=120)})
    return x.assign(label=(x["a"] > 0).astype(int))


def _copy_of(ref: str, **changes: object) -> NewModelVersion:
    v = sy.models.get(ref)
    fields = dict(
        flavor=v.flavor, digest=v.digest, size=v.size, flavor_meta=v.flavor_meta,
        signature=v.signature, environment=v.environment, sample_digest=v.sample_digest,
        metrics=v.metrics, run_id=v.run_id, source_commit=v.source_commit, created_by="mallory",
    )  # fmt: skip
    return NewModelVersion(**fields, **changes)  # type: ignore[arg-type]


def test_the_store_refuses_a_new_version_in_a_protected_alias_or_stage(home: Path) -> None:
    frame = _frame()
    x, y = frame[["a", "b"]], frame["label"]
    first = sy.models.register("churn", LogisticRegression().fit(x, y), X=x).ref
    sy.models.set_policy("churn", {"protect": ["champion", "production"], "gates": {}})
    store = _store()  # what POST /api/models/churn/versions calls, past the SDK's own check
    with pytest.raises(Conflict, match="champion of model 'churn' protected by its policy"):
        store.add_version("churn", _copy_of(first, aliases=("champion",)))
    with pytest.raises(Conflict, match="production of model 'churn' protected"):
        store.add_version("churn", _copy_of(first, stage="production"))
    assert [v.version for v in sy.models.versions("churn")] == [1]
    assert store.add_version("churn", _copy_of(first, aliases=("shadow",))).version == 2


def test_a_read_only_check_and_a_card_view_record_no_evaluation(home: Path) -> None:
    frame = _frame()
    data = sy.data.register("loans", frame).ref
    x, y = frame[["a", "b"]], frame["label"]
    model = LogisticRegression().fit(x, y)
    good = sy.models.register("churn", model, X=x, aliases=["champion"]).ref
    new = sy.models.register("churn", model, X=x).ref
    drop = {"metric": "auc", "by": 0.05, "data": data, "target": "label"}
    sy.models.set_policy("churn", {"gates": {"max_drop": drop}})
    (result,) = sy.models.check(new, "champion", score=False).results
    assert not result.passed and "not scored on loans@1 yet" in result.detail
    sy.governance.card(new, to="champion")
    sy.governance.card(good)
    assert sy.models.evidence(new) == [] and sy.models.evidence(good) == []
    assert sy.models.check(new, "champion").passed  # scoring records both evaluations
    assert len(sy.models.evidence(new, "evaluation")) == 1
    (seen,) = sy.models.check(new, "champion", score=False).results
    assert seen.passed and "against" in seen.detail


def test_a_rollback_puts_back_only_a_version_the_policy_in_force_lets_in(home: Path) -> None:
    frame = _frame()
    x, y = frame[["a", "b"]], frame["label"]
    model = LogisticRegression().fit(x, y)
    old = sy.models.register("churn", model, X=x, stage="production").ref  # before the policy
    new = sy.models.register("churn", model, X=x).ref
    sy.models.set_policy("churn", {"protect": ["production"], "gates": {"approval": "admin"}})
    sy.models.approve(new)
    sy.models.promote(new, "production")
    with pytest.raises(GatesFailed, match=r"Rollback: churn@1 for production: 1 of 1 gates failed"):
        sy.models.rollback("churn", reason="the new one misbehaves")
    assert sy.models.get("churn@production").ref == new
    sy.models.approve(old, for_="production")
    assert sy.models.rollback("churn", reason="approved now").ref == old
    assert sy.models.get("churn@production").ref == old


def _alias_bomb(levels: int) -> str:
    """A YAML policy whose protect list shares one value 9**levels times (a few lines)."""
    names = [f"l{i}" for i in range(levels)]
    first = f"&{names[0]} [" + ", ".join(["x"] * 9) + "]"
    rest = [f"&{n} [" + ", ".join([f"*{p}"] * 9) + "]" for p, n in itertools.pairwise(names)]
    return "protect:\n  - [" + ", ".join([first, *rest]) + "]\n"


def test_a_policy_file_is_bounded_and_an_alias_bomb_is_refused_at_once() -> None:
    import time

    from shipyard.errors import InvalidInput
    from shipyard.models._policies import MAX_YAML, Policy

    with pytest.raises(
        InvalidInput, match=f"policy: 70,000 characters of YAML; at most {MAX_YAML:,}"
    ):
        Policy.from_yaml("#" * 70_000)
    start = time.perf_counter()
    with pytest.raises(InvalidInput, match=r"^policy\.protect: expected a non-empty string") as bad:
        Policy.from_yaml(_alias_bomb(8))
    assert time.perf_counter() - start < 1.0 and len(str(bad.value)) < 200

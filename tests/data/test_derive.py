"""SQL over versions, transforms with caching, lineage and diffs."""

from __future__ import annotations

import pandas as pd
import pytest

import shipyard as sy
from shipyard.data import make_loans
from shipyard.errors import InvalidInput, NotFound


@pytest.fixture
def loans(home) -> sy.datasets.DatasetVersion:
    return sy.datasets.register("loans", make_loans(3_000, seed=2))


def test_query_returns_a_frame(loans):
    df = make_loans(3_000, seed=2)
    out = sy.datasets.query(
        "SELECT region, avg(income) AS income FROM loans@1 GROUP BY 1 ORDER BY 1"
    )
    expected = df.groupby("region", observed=True)["income"].mean().sort_index()
    assert list(out["region"]) == list(expected.index)
    assert out["income"].tolist() == pytest.approx(expected.tolist())


def test_query_joins_versions_and_ignores_refs_in_strings(loans):
    sy.datasets.register("loans", make_loans(500, seed=9))
    out = sy.datasets.query(
        "SELECT count(*) AS n, 'not@ref' AS s FROM loans@1 a JOIN loans@2 b "
        "ON a.region = b.region WHERE a.age > 90"
    )
    assert out["s"].iloc[0] == "not@ref"


def test_query_registers_with_lineage(loans):
    out = sy.datasets.query(
        "SELECT * FROM loans@1 WHERE credit_score > 700", register_as="good_credit"
    )
    assert isinstance(out, sy.datasets.DatasetVersion)
    assert out.parents == (loans.id,)
    assert out.to_pandas()["credit_score"].min() > 700
    graph = sy.datasets.lineage("good_credit@1")
    assert [(e.parent, e.child) for e in graph.upstream] == [("loans@1", "good_credit@1")]
    down = sy.datasets.lineage("loans@1").downstream
    assert [(e.parent, e.child) for e in down] == [("loans@1", "good_credit@1")]


def test_query_errors_are_clear(loans):
    with pytest.raises(NotFound, match="no version 5"):
        sy.datasets.query("SELECT * FROM loans@5")
    with pytest.raises(InvalidInput, match="SQL failed"):
        sy.datasets.query("SELEC nonsense FROM loans@1")


calls: list[int] = []


def clean(df: pd.DataFrame, min_age: int = 18) -> pd.DataFrame:
    calls.append(1)
    return df[df["age"] >= min_age].dropna(subset=["employment_years"])


def test_python_transform_is_cached_by_code_inputs_and_params(loans):
    calls.clear()
    sy.datasets.register_transform("clean", clean)
    first = sy.datasets.run_transform(
        "clean", ["loans@1"], output="loans_clean", params={"min_age": 25}
    )
    again = sy.datasets.run_transform(
        "clean", ["loans@1"], output="loans_clean", params={"min_age": 25}
    )
    assert first.id == again.id and len(calls) == 1
    assert first.to_pandas()["age"].min() >= 25
    assert first.parents == (loans.id,)
    assert first.transform_params == {"min_age": 25}
    other = sy.datasets.run_transform(
        "clean", ["loans@1"], output="loans_clean", params={"min_age": 30}
    )
    assert other.id != first.id and len(calls) == 2
    graph = sy.datasets.lineage(other.ref)
    assert graph.upstream[0].transform == "clean"


def test_sql_transform_reads_inputs_by_name(loans):
    sy.datasets.register_transform(
        "by_region", "SELECT region, count(*) AS n FROM loans WHERE age > $min_age GROUP BY 1"
    )
    out = sy.datasets.run_transform(
        "by_region", ["loans@1"], output="regions", params={"min_age": 30}
    )
    df = make_loans(3_000, seed=2)
    assert out.to_pandas()["n"].sum() == (df["age"] > 30).sum()


def test_transform_errors(loans):
    with pytest.raises(NotFound, match="No transform named 'ghost'"):
        sy.datasets.run_transform("ghost", ["loans@1"], output="x")
    sy.datasets.register_transform("bad", lambda df: 42)
    with pytest.raises(InvalidInput, match="returned int"):
        sy.datasets.run_transform("bad", ["loans@1"], output="x")


def test_diff_reports_schema_rows_and_moved_statistics(loans):
    drifted = make_loans(3_000, seed=2, drift=1.0).drop(columns=["open_accounts"])
    drifted["region"] = drifted["region"].astype(str)
    sy.datasets.register("loans", drifted)
    d = sy.datasets.diff("loans@1", "loans@2")
    assert d.rows == (3_000, 3_000)
    assert "column 'open_accounts' removed (was int64)" in d.schema_changes
    assert "column 'region' type category -> string" in d.schema_changes
    moved = set(zip(d.stats["column"], d.stats["stat"], strict=True))
    assert ("income", "mean") in moved and ("credit_score", "mean") in moved
    same = sy.datasets.diff("loans@1", "loans@1")
    assert same.same_content

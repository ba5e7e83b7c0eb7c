"""Regressions found in review: caching, races, files, SQL comments, hashing, labels, errors."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import shipyard as sy
from shipyard.cli import app
from shipyard.data import make_loans
from shipyard.errors import InvalidInput, NotFound


def test_transform_cache_keys_on_output_and_argument_names(home):
    sy.datasets.register("left", pd.DataFrame({"v": [10]}))
    sy.datasets.register("right", pd.DataFrame({"v": [1]}))
    sy.datasets.register_transform("minus", subtract)
    a = sy.datasets.run_transform("minus", ["left@1"], output="out_a")
    b = sy.datasets.run_transform("minus", ["left@1"], output="out_b")
    assert (a.name, b.name) == ("out_a", "out_b")
    sy.datasets.register_transform("diff2", difference)
    first = sy.datasets.run_transform("diff2", {"a": "left@1", "b": "right@1"}, output="d")
    swapped = sy.datasets.run_transform("diff2", {"b": "left@1", "a": "right@1"}, output="d")
    assert first.to_pandas()["v"].tolist() == [9]
    assert swapped.to_pandas()["v"].tolist() == [-9]


def subtract(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(v=df["v"] - 1)


def difference(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"v": a["v"] - b["v"]})


FACTOR = 2


def scaled(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(v=df["v"] * FACTOR)


def test_transform_sees_globals_it_reads_and_refuses_opaque_params(home):
    global FACTOR
    sy.datasets.register("nums", pd.DataFrame({"v": [1, 2]}))
    sy.datasets.register_transform("scale", scaled)
    assert sy.datasets.run_transform("scale", ["nums@1"], output="s").to_pandas()["v"].tolist() == [
        2,
        4,
    ]
    FACTOR = 100
    try:
        sy.datasets.register_transform("scale", scaled)
        out = sy.datasets.run_transform("scale", ["nums@1"], output="s")
        assert out.to_pandas()["v"].tolist() == [100, 200]
    finally:
        FACTOR = 2
    with pytest.raises(InvalidInput, match="plain JSON"):
        sy.datasets.run_transform("scale", ["nums@1"], output="s", params={"w": np.zeros(3)})


def test_concurrent_registrations_get_distinct_versions(backend):
    sy.datasets.register("race", pd.DataFrame({"x": [0]}))
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for k in range(5):
                sy.datasets.register("race", pd.DataFrame({"x": [n * 100 + k + 1]}))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    numbers = sorted(v.version for v in sy.datasets.versions("race"))
    assert numbers == list(range(1, 22))


def test_policy_given_at_registration_is_honoured(home):
    sy.datasets.register("t", pd.DataFrame({"x": [1, 1, 3]}))  # not an id: x gets a range
    with pytest.raises(InvalidInput, match="policy"):
        sy.datasets.register("t", pd.DataFrame({"x": [4]}), policy="rejct")
    with pytest.raises(InvalidInput, match="rejected"):
        sy.datasets.register("t", pd.DataFrame({"x": [500]}), policy="reject")
    assert len(sy.datasets.versions("t")) == 1


def test_tsv_hive_partitions_and_mismatched_folders(home, tmp_path: Path):
    (tmp_path / "a.tsv").write_text("a\tb\n1\tx\n2\ty\n")
    assert sy.datasets.register("tsv", tmp_path / "a.tsv").columns == 2
    for year in (2024, 2025):
        part = tmp_path / "hive" / f"year={year}"
        part.mkdir(parents=True)
        pq.write_table(pa.table({"x": [1.0, 2.0]}), part / "p.parquet")
    hive = sy.datasets.register("hive", tmp_path / "hive")
    assert "year" in hive.to_pandas().columns and hive.rows == 4
    odd = tmp_path / "odd"
    odd.mkdir()
    pq.write_table(pa.table({"x": [1]}), odd / "a.parquet")
    pq.write_table(pa.table({"x": [2], "extra": ["e"]}), odd / "b.parquet")
    with pytest.raises(InvalidInput, match="different columns"):
        sy.datasets.register("odd", odd)


def test_references_in_sql_comments_are_ignored(home):
    sy.datasets.register("loans", make_loans(200, seed=1))
    out = sy.datasets.query(
        "SELECT count(*) AS n FROM loans@1 -- ask bob@example.com, don't use loans@7\n"
        "/* was loans@9 */ WHERE age > 0"
    )
    assert out["n"].iloc[0] == 200


def test_lineage_walks_a_diamond_once(home):
    root = sy.datasets.register("root", pd.DataFrame({"x": [1]}))
    a = sy.datasets.register("a", pd.DataFrame({"x": [2]}), parents=[root.id])
    b = sy.datasets.register("b", pd.DataFrame({"x": [3]}), parents=[a.id])
    c = sy.datasets.register("c", pd.DataFrame({"x": [4]}), parents=[a.id])
    sy.datasets.register("d", pd.DataFrame({"x": [5]}), parents=[b.id, c.id])
    edges = [(e.parent, e.child) for e in sy.datasets.lineage("d@1").upstream]
    assert len(edges) == len(set(edges)) == 5


def test_same_content_compares_hashes(home):
    df = pd.DataFrame({"x": np.arange(1000.0)})
    sy.datasets.register("h", df)
    changed = df.copy()
    changed.loc[500, "x"] = 500.5
    sy.datasets.register("h", changed)
    assert not sy.datasets.diff("h@1", "h@2").same_content
    assert sy.datasets.diff("h@1", "h@1").same_content


def test_data_read_back_hashes_the_same(home):
    df = make_loans(500, seed=3)
    df["maybe"] = pd.array([1, None] * 250, dtype="Int64")
    first = sy.datasets.register("loans", df)
    again = sy.datasets.register("loans", first.to_arrow())
    assert again.id == first.id


def test_identical_content_still_gets_new_aliases_and_tags(home):
    df = pd.DataFrame({"x": [1, 2]})
    sy.datasets.register("t", df)
    again = sy.datasets.register("t", df, aliases=["golden"], tags={"team": "risk"})
    assert again.version == 1 and again.aliases == ("golden",) and again.tags == {"team": "risk"}


def test_bad_inputs_are_refused_before_anything_is_stored(home):
    df = pd.DataFrame({"x": [1, 2]})
    with pytest.raises(InvalidInput, match="reserved"):
        sy.datasets.register("t", df, aliases=["golden", "latest"])
    with pytest.raises(InvalidInput, match="parents"):
        sy.datasets.register("t", df, parents=["src@1"])
    never = {"never": (None, lambda frame: False)}
    with pytest.raises(InvalidInput, match="rejected"):
        sy.datasets.register("t", df, policy="reject", checks=never)
    assert sy.datasets.list_datasets() == []


def test_error_messages_name_what_failed(home):
    sy.datasets.register("t", pd.DataFrame({"x": [1]}))
    with pytest.raises(InvalidInput, match="versions run from 1"):
        sy.datasets.get("t@99999999999999999999")
    assert sy.datasets.tag("t@1").tags == {}
    with pytest.raises(NotFound, match="Dataset 't' has no alias 'nope' to remove"):
        sy.datasets.remove_alias("t", "nope")


def test_cli_query_json_with_nulls(home):
    sy.datasets.register("n", pd.DataFrame({"x": [1.0, None]}))
    result = CliRunner().invoke(app, ["data", "query", "SELECT x FROM n@1", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == [{"x": 1.0}, {"x": None}]

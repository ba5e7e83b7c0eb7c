"""Dataset versions: content addressing, references, aliases, tags, schema policy, handles."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import shipyard as sy
from shipyard.data import make_loans
from shipyard.errors import IntegrityError, InvalidInput, NotFound


@pytest.fixture
def loans() -> pd.DataFrame:
    return make_loans(2_000, seed=1)


def _objects(home: Path) -> int:
    return sum(1 for p in (home / "artifacts" / "objects").rglob("*") if p.is_file())


def test_register_get_and_load(backend, loans):
    v1 = sy.datasets.register("loans", loans, description="first", tags={"source": "gen"})
    assert (v1.version, v1.rows, v1.columns) == (1, 2_000, loans.shape[1])
    back = sy.datasets.get("loans@1").to_pandas()
    # Values and dtypes survive (Parquet stores second-resolution times as milliseconds).
    pd.testing.assert_frame_equal(back, loans.astype({"applied_at": "datetime64[ms]"}))
    assert sy.datasets.get("loans").id == v1.id
    assert sy.datasets.get("loans@v1").id == v1.id
    assert sy.datasets.get("loans@latest").tags == {"source": "gen"}
    assert sy.datasets.get("loans").to_arrow(columns=["income"]).num_columns == 1
    assert sy.datasets.get("loans").scan().aggregate("count(*)").fetchall()[0][0] == 2_000
    assert sy.datasets.get("loans").dataset().count_rows() == 2_000


def test_identical_data_is_stored_once(home, loans):
    first = sy.datasets.register("loans", loans)
    stored = _objects(home)
    again = sy.datasets.register("loans", pa.Table.from_pandas(loans, preserve_index=False))
    assert again.id == first.id and again.version == 1
    assert _objects(home) == stored  # no new bytes
    second = sy.datasets.register("loans", loans.head(100))
    assert second.version == 2
    assert [v.version for v in sy.datasets.versions("loans")] == [2, 1]


def test_files_folders_and_formats(home, tmp_path, loans):
    small = loans.head(300).copy()
    small["applied_at"] = small["applied_at"].astype(str)
    for col in ("gender", "education", "home_ownership", "purpose", "region"):
        small[col] = small[col].astype(str)
    small.to_csv(tmp_path / "a.csv", index=False)
    small.to_json(tmp_path / "a.jsonl", orient="records", lines=True)
    folder = tmp_path / "parts"
    folder.mkdir()
    pq.write_table(
        pa.Table.from_pandas(small.head(100), preserve_index=False), folder / "p1.parquet"
    )
    pq.write_table(
        pa.Table.from_pandas(small.tail(200), preserve_index=False), folder / "p2.parquet"
    )
    assert sy.datasets.register("csv", tmp_path / "a.csv").rows == 300
    assert sy.datasets.register("jsonl", str(tmp_path / "a.jsonl")).rows == 300
    assert sy.datasets.register("folder", folder).rows == 300


def test_aliases_and_tags(backend, loans):
    sy.datasets.register("loans", loans)
    v2 = sy.datasets.register("loans", loans.head(10), aliases=["candidate"])
    sy.datasets.set_alias("loans@1", "golden")
    assert sy.datasets.get("loans@golden").version == 1
    assert sy.datasets.get("loans@candidate").id == v2.id
    sy.datasets.set_alias("loans@2", "golden")  # moves
    assert sy.datasets.get("loans@golden").version == 2
    tagged = sy.datasets.tag("loans@1", reviewed="yes")
    assert tagged.tags == {"reviewed": "yes"}
    with pytest.raises(InvalidInput, match="reserved"):
        sy.datasets.set_alias("loans@1", "latest")
    sy.datasets.remove_alias("loans", "golden")
    with pytest.raises(NotFound, match="no alias 'golden'"):
        sy.datasets.get("loans@golden")


def test_bad_references_and_inputs_are_clear(home, loans, tmp_path):
    sy.datasets.register("loans", loans)
    with pytest.raises(NotFound, match="no version 7 \\(latest is 1\\)"):
        sy.datasets.get("loans@7")
    with pytest.raises(NotFound, match="No dataset named 'nope'"):
        sy.datasets.get("nope@1")
    with pytest.raises(InvalidInput, match="not valid"):
        sy.datasets.get("bad name@1")
    with pytest.raises(NotFound, match="no such file"):
        sy.datasets.register("x", tmp_path / "missing.csv")
    (tmp_path / "broken.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(InvalidInput, match=r"broken\.parquet"):
        sy.datasets.register("x", tmp_path / "broken.parquet")
    with pytest.raises(InvalidInput, match="no rows"):
        sy.datasets.register("x", loans.head(0))
    mixed = pd.DataFrame({"ok": [1, 2], "mixed": [1, "two"]})
    with pytest.raises(InvalidInput, match="'mixed'"):
        sy.datasets.register("x", mixed)
    with pytest.raises(InvalidInput, match="expected a pandas"):
        sy.datasets.register("x", [1, 2, 3])
    assert [d.name for d in sy.datasets.list_datasets()] == ["loans"]  # nothing half-registered


def test_schema_inferred_then_enforced_by_policy(backend, loans):
    sy.datasets.register("loans", loans, policy="reject")
    schema = sy.datasets.schema("loans")
    assert schema.column("application_id").unique
    broken = loans.head(50).copy()
    broken.loc[broken.index[:5], "age"] = 300
    before = len(sy.datasets.versions("loans"))
    with pytest.raises(InvalidInput, match="age") as info:
        sy.datasets.register("loans", broken)
    assert "nothing was stored" in str(info.value)
    assert len(sy.datasets.versions("loans")) == before
    sy.datasets.set_policy("loans", "warn")
    accepted = sy.datasets.register("loans", broken)
    assert accepted.validation and accepted.validation["failures"]
    widened = schema.with_column("age", max=400)
    assert sy.datasets.set_schema("loans", widened) == 2
    clean = sy.datasets.register("loans", broken.assign(age=broken["age"].clip(upper=120)))
    assert clean.schema_version == 2 and not clean.validation["failures"]


def test_validate_a_serving_batch(home, loans):
    sy.datasets.register("loans", loans)
    assert sy.datasets.validate(loans.head(20), against="loans").ok
    bad = loans.head(20).drop(columns=["income"])
    report = sy.datasets.validate(bad, against="loans")
    assert not report.ok
    assert any(f.column == "income" for f in report.failures)
    stricter = sy.datasets.schema("loans").with_column("age", max=30)  # a Schema, not a name
    report = sy.datasets.validate(loans.head(20), against=stricter)
    assert [f.check for f in report.failures] == ["max"]
    assert report.failures[0].rows == int((loans.head(20)["age"] > 30).sum()) > 0


def test_profile_is_stored_with_the_version(home, loans):
    v = sy.datasets.register("loans", loans)
    prof = sy.datasets.profile("loans@1")
    assert prof.rows == 2_000
    assert prof.column("income").mean == pytest.approx(loans["income"].mean())
    assert v.profile_digest


def test_a_run_records_what_it_read(home, loans):
    sy.datasets.register("loans", loans)
    with sy.start_run(experiment="uses-data") as run:
        sy.datasets.get("loans@1")
        sy.datasets.get("loans@1")
    graph = sy.datasets.lineage("loans@1")
    assert [r["id"] for r in graph.readers["loans@1"]] == [run.id]


def test_user_checks_at_registration(home, loans):
    positive = {"positive_income": ("income", lambda df: df["income"] > 0)}
    sy.datasets.register("loans", loans, policy="reject", checks=positive)
    bad = loans.head(30).assign(income=-1.0)
    with pytest.raises(InvalidInput, match="positive_income"):
        sy.datasets.register("loans", bad, checks=positive)
    assert len(sy.datasets.versions("loans")) == 1


def test_register_from_an_fsspec_url(home, loans):
    import fsspec

    fs = fsspec.filesystem("memory")
    with fs.open("/shipyard-test/loans/part-0.parquet", "wb") as fh:
        loans.head(120).to_parquet(fh)
    with fs.open("/shipyard-test/loans/part-1.parquet", "wb") as fh:
        loans.tail(80).to_parquet(fh)
    version = sy.datasets.register("remote", "memory://shipyard-test/loans")
    assert version.rows == 200
    fs.rm("/shipyard-test", recursive=True)


def test_a_data_file_changed_after_it_was_read_is_never_read_silently(home, loans):
    version = sy.datasets.register("loans", loans)
    assert len(version.to_pandas()) == 2_000  # hashed once here
    path = version.path()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, a moment later
    path.write_bytes(bytes(data))

    for read in (version.to_arrow, version.scan, version.dataset):
        with pytest.raises(IntegrityError, match="corrupt"):
            read()

"""A page of a version's rows: the right rows across row groups, values JSON can carry."""

from __future__ import annotations

import datetime as dt
import decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shipyard.data._preview import jsonable, read_rows, table_rows
from shipyard.errors import InvalidInput


@pytest.fixture
def small_groups(tmp_path: Path) -> Path:
    path = tmp_path / "t.parquet"
    table = pa.table({"i": list(range(100)), "s": [f"r{i}" for i in range(100)]})
    pq.write_table(table, path, row_group_size=7)
    return path


@pytest.mark.parametrize(
    ("offset", "limit"), [(0, 10), (5, 3), (6, 2), (7, 7), (13, 50), (95, 10), (99, 1)]
)
def test_any_window_across_row_groups(small_groups: Path, offset: int, limit: int) -> None:
    rows = read_rows(small_groups, offset, limit)
    assert rows.column("i").to_pylist() == list(range(offset, min(offset + limit, 100)))


def test_past_the_end_and_chosen_columns(small_groups: Path) -> None:
    assert read_rows(small_groups, 100, 10).num_rows == 0
    assert read_rows(small_groups, 500, 10).schema.names == ["i", "s"]
    assert table_rows(read_rows(small_groups, 3, 2, ["s"])) == [["r3"], ["r4"]]
    with pytest.raises(InvalidInput, match="columns: no column 'x'"):
        read_rows(small_groups, 0, 1, ["x"])


def test_values_become_json() -> None:
    moment = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    assert jsonable(moment) == "2026-01-02T03:04:05+00:00"
    assert jsonable(dt.date(2026, 1, 2)) == "2026-01-02"
    assert jsonable(decimal.Decimal("1.10")) == "1.10"
    assert jsonable(b"\x00\x01") == "AAE="
    assert jsonable(dt.timedelta(minutes=1)) == 60.0
    assert jsonable(float("nan")) is None and jsonable(float("inf")) is None
    assert jsonable({"a": [1.5, None, {"b": dt.time(1, 2)}]}) == {
        "a": [1.5, None, {"b": "01:02:00"}]
    }

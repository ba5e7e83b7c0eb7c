"""A Parquet bomb: a file of a kilobyte whose rows repeat one long text decodes to
gigabytes. A page of rows (``GET /api/datasets/NAME/versions/N/rows``: any viewer, over a
version any editor registered) is refused once it would pass its byte bound, before it is
decoded."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shipyard.data._preview import read_rows, table_rows
from shipyard.errors import InvalidInput

LONG = "x" * (4 << 20)  # 4 MB, repeated in every row


@pytest.mark.parametrize("store_schema", [True, False], ids=["dictionary", "plain-text"])
def test_a_page_of_repeated_long_texts_is_refused(tmp_path: Path, store_schema: bool) -> None:
    path = tmp_path / "bomb.parquet"
    column = pa.DictionaryArray.from_arrays(pa.array([0] * 200, pa.int32()), pa.array([LONG]))
    pq.write_table(pa.table({"s": column}), path, compression="zstd", store_schema=store_schema)
    assert path.stat().st_size < 10_000  # 800 MB of text once decoded
    with pytest.raises(InvalidInput, match=r"^rows: these \d+ rows hold more than 33,554,432"):
        read_rows(path, 0, 100)
    few = read_rows(path, 10, 3)  # a page within the bound: its rows, as stored
    assert few.num_rows == 3 and table_rows(few) == [[LONG]] * 3
    assert few.schema.field("s").type == pq.read_schema(path).field("s").type

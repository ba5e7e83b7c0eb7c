"""The two sides of :func:`drift_stream` read as record batches, whatever they were given as:
Parquet paths, globs and directories, Arrow datasets, dataset references, tables, DataFrames
or iterables of batches."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from shipyard.errors import InvalidInput
from shipyard.monitoring._inputs import as_numbers, is_numeric

__all__ = ["Source", "column_kinds", "finite_floats", "open_source"]


class Source:
    """One side's record batches: a Parquet dataset (read again at will) or items read once
    (an iterator) or again (a list or a table)."""

    def __init__(self, side: str, schema: Any, dataset: Any = None, items: Any = None) -> None:
        self.side, self.schema, self.dataset, self.items = side, schema, dataset, items
        self.once = items is not None and not isinstance(items, (list, tuple))

    def batches(self, columns: Sequence[str], batch_rows: int) -> Iterator[Any]:
        import pyarrow as pa

        try:
            if self.dataset is not None:
                yield from _scan(self.dataset, columns, batch_rows)
                return
            for item in self.items:
                if not isinstance(item, (pa.RecordBatch, pa.Table)):
                    raise InvalidInput(
                        f"{self.side}: expected record batches or tables; got "
                        f"{type(item).__name__}."
                    )
                missing = [c for c in columns if c not in item.schema.names]
                if missing:
                    raise InvalidInput(f"{self.side}: a batch has no column {missing[0]!r}.")
                if isinstance(item, pa.RecordBatch):
                    item = pa.Table.from_batches([item])
                yield from item.select(list(columns)).to_batches(max_chunksize=batch_rows)
        except pa.ArrowException as e:
            raise InvalidInput(f"{self.side}: could not read the data ({e}).") from e


def _scan(dataset: Any, columns: Sequence[str], batch_rows: int) -> Iterator[Any]:
    """A dataset's batches, file by file through a buffered stream: Arrow's dataset scanner
    reads ahead as far as it likes when the consumer is slower than the disk (the whole
    window) and decodes a row group at a time, while a Parquet file read in batches holds
    about a batch."""
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    if not isinstance(dataset, ds.FileSystemDataset):  # in memory already
        yield from dataset.to_batches(columns=list(columns), batch_size=batch_rows)
        return
    for fragment in dataset.get_fragments():
        if isinstance(fragment, ds.ParquetFileFragment):
            with dataset.filesystem.open_input_file(fragment.path) as handle:
                file = pq.ParquetFile(handle, buffer_size=1 << 20, pre_buffer=False)
                if set(columns) <= set(file.schema_arrow.names):  # else partition keys
                    yield from file.iter_batches(batch_size=batch_rows, columns=list(columns))
                    continue
        yield from fragment.to_batches(
            schema=dataset.schema, columns=list(columns), batch_size=batch_rows,
            batch_readahead=0, fragment_readahead=0,
        )  # fmt: skip


def open_source(data: Any, side: str) -> Source:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.dataset as ds

    if isinstance(data, str) and not _looks_like_path(data):
        from shipyard import data as datasets

        data = datasets.resolve(data)
    if hasattr(data, "dataset") and hasattr(data, "ref"):  # a DatasetVersion
        data = data.dataset()
    if isinstance(data, (str, os.PathLike)):
        data = [data]
    if (
        isinstance(data, (list, tuple))
        and data
        and all(isinstance(d, (str, os.PathLike)) for d in data)
    ):
        try:
            data = ds.dataset(_parquet_files(data, side), format="parquet")
        except pa.ArrowException as e:
            raise InvalidInput(f"{side}: could not read the Parquet files ({e}).") from e
    if isinstance(data, ds.Dataset):
        return Source(side, data.schema, dataset=data)
    if isinstance(data, pd.DataFrame):
        data = pa.Table.from_pandas(data, preserve_index=False)
    if isinstance(data, (pa.Table, pa.RecordBatch)):
        return Source(side, data.schema, items=[data])
    if isinstance(data, Iterable) and not isinstance(data, (str, bytes, Mapping)):
        again = isinstance(data, (list, tuple))  # read again at will; else read once
        first = next(iter(data), None)
        if first is None:
            raise InvalidInput(f"{side}: the iterable holds no record batches (no columns known).")
        if not isinstance(first, (pa.RecordBatch, pa.Table)):
            raise InvalidInput(
                f"{side}: expected record batches or tables; got {type(first).__name__}."
            )
        return Source(side, first.schema, items=data if again else _chain(first, iter(data)))
    raise InvalidInput(
        f"{side} must be Parquet path(s), a pyarrow Dataset, a dataset reference like "
        f"'loans@1', a table or an iterable of record batches; got {type(data).__name__}."
    )


def _chain(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest


def _looks_like_path(text: str) -> bool:
    return (
        any(c in text for c in "/\\*?[")
        or text.endswith((".parquet", ".parq"))
        or os.path.exists(text)
    )


def _parquet_files(specs: Sequence[str | os.PathLike[str]], side: str) -> list[str]:
    files: list[str] = []
    for spec in specs:
        text = os.fspath(spec)
        if any(c in text for c in "*?["):
            found = sorted(f for f in glob.glob(text, recursive=True) if os.path.isfile(f))
        elif os.path.isdir(text):
            found = sorted(str(f) for f in Path(text).rglob("*.parquet") if f.is_file())
        else:
            found = [text] if os.path.isfile(text) else []
        if not found:
            raise InvalidInput(
                f"{side}: no Parquet files at {text!r} (expected a Parquet file, a directory "
                "holding *.parquet files or a glob like 'data/*.parquet')."
            )
        files += found
    return files


def column_kinds(schema: Any, categorical: set[str]) -> dict[str, str]:
    import pyarrow as pa

    if schema is None:
        return {}
    kinds = {}
    for name, kind in zip(schema.names, schema.types, strict=True):
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
        numeric = is_numeric(kind) and name not in categorical
        kinds[name] = "numeric" if numeric else "categorical"
    return kinds


def finite_floats(array: Any) -> np.ndarray:
    """A numeric column's finite values as float64 (times as integers, as :func:`drift`)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = array.type
    if pa.types.is_dictionary(kind):
        array = pc.cast(array, kind.value_type)
        kind = array.type
    values = pc.cast(as_numbers(array), pa.float64(), safe=False).to_numpy(zero_copy_only=False)
    out: np.ndarray = values[np.isfinite(values)] + 0.0  # -0.0 as 0.0
    return out

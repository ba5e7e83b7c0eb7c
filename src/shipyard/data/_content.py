"""Reading what users register into Arrow, and addressing it by content."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pyarrow as pa

from shipyard.errors import InvalidInput, NotFound

_SUFFIXES = {
    ".csv": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "json",
    ".ndjson": "json",
    ".json": "json",
}


def to_arrow(source: Any) -> pa.Table:
    """An Arrow table from a pandas/polars DataFrame, an Arrow table, or a file/folder/URL.

    Files: CSV, Parquet or JSON lines, by extension; a folder reads every such file in it
    (one format). URLs go through fsspec. The pandas index is dropped.

    Raises:
        InvalidInput: an unsupported object, a mixed-type column, an empty table.
        NotFound: a path that does not exist.
    """
    if isinstance(source, pa.Table):
        table = source
    elif isinstance(source, pa.RecordBatch):
        table = pa.Table.from_batches([source])
    elif type(source).__module__.startswith("pandas") and hasattr(source, "columns"):
        table = _from_pandas(source)
    elif hasattr(source, "to_arrow") and type(source).__module__.startswith("polars"):
        table = source.to_arrow()
    elif isinstance(source, (str, Path)):
        table = _read_path(str(source))
    else:
        raise InvalidInput(
            f"Cannot register a {type(source).__module__}.{type(source).__qualname__}; expected "
            "a pandas or polars DataFrame, an Arrow table, or a CSV/Parquet/JSON-lines file, "
            "folder or URL."
        )
    if table.num_columns == 0:
        raise InvalidInput("The table has no columns; nothing to register.")
    if table.num_rows == 0:
        raise InvalidInput("The table has no rows; nothing to register.")
    return table


def _from_pandas(frame: Any) -> pa.Table:
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowTypeError, pa.ArrowInvalid) as exc:
        column = _bad_column(frame)
        where = f"Column {column!r}" if column else "A column"
        raise InvalidInput(
            f"{where} mixes types and cannot be stored as one typed column ({exc}). Cast it, "
            "e.g. df[col] = df[col].astype(str)."
        ) from exc


def _bad_column(frame: Any) -> str | None:
    for name in frame.columns:
        try:
            pa.array(frame[name], from_pandas=True)
        except (pa.ArrowTypeError, pa.ArrowInvalid):
            return str(name)
    return None


def _read_path(path: str) -> pa.Table:
    import fsspec.core
    import pyarrow.dataset as ds

    fs, root = fsspec.core.url_to_fs(path)
    if not fs.exists(root):
        raise NotFound(f"Cannot register {path}: no such file or folder.")
    files = (
        [root]
        if fs.isfile(root)
        else sorted(f for f in fs.find(root) if Path(f).suffix.lower() in _SUFFIXES)
    )
    if not files:
        raise InvalidInput(f"Cannot register {path}: no .csv, .parquet or .jsonl files in it.")
    formats = {_SUFFIXES.get(Path(f).suffix.lower()) for f in files}
    if None in formats or len(formats) != 1:
        raise InvalidInput(
            f"Cannot register {path}: expected files of one format among "
            f"{', '.join(sorted(_SUFFIXES))}, found {sorted(Path(f).suffix for f in files)}."
        )
    fmt = formats.pop()
    try:
        if fmt == "json":
            import pyarrow.json as pj

            tables = []
            for f in files:
                with fs.open(f, "rb") as fh:
                    tables.append(pj.read_json(fh))
            return pa.concat_tables(tables, promote_options="permissive")
        dataset = ds.dataset(files, filesystem=fs, format=fmt)
        return dataset.to_table()
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
        raise InvalidInput(f"Cannot read {path} as {fmt}: {exc}") from exc


class _HashSink:
    """A file-like sink that only hashes what is written to it."""

    def __init__(self) -> None:
        self.hasher = hashlib.sha256()
        self.closed = False

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self.hasher.update(view)
        return view.nbytes

    def flush(self) -> None:
        """Nothing buffered."""

    def close(self) -> None:
        self.closed = True


def content_hash(table: pa.Table) -> str:
    """sha256 of the table's logical content: schema (without pandas metadata) and values.

    Chunking does not matter (chunks are combined), so the same data read two ways hashes
    the same. Streams Arrow IPC into the hash: no copy of the data on disk or in memory
    beyond the combined chunks.
    """
    normal = table.replace_schema_metadata(None).combine_chunks()
    sink = _HashSink()
    with pa.ipc.new_stream(pa.PythonFile(sink, mode="w"), normal.schema) as writer:
        writer.write_table(normal, max_chunksize=1 << 20)
    return sink.hasher.hexdigest()


def write_parquet(table: pa.Table, path: Path) -> None:
    """Write ``table`` as Parquet (zstd, statistics on) for DuckDB and Arrow to scan."""
    import pyarrow.parquet as pq

    pq.write_table(table, path, compression="zstd", row_group_size=256 * 1024)

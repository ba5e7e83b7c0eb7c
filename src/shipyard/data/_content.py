"""Reading what users register into Arrow, and addressing it by content."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pyarrow as pa

from shipyard.errors import InvalidInput, NotFound

_DELIMITERS = {".tsv": "\t"}
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


def _filesystem(path: str) -> tuple[Any, str]:
    """fsspec's filesystem for ``path`` and the path in it; a URL whose driver is not
    installed, or whose scheme fsspec does not know, is refused naming what to install."""
    import fsspec.core

    try:
        return fsspec.core.url_to_fs(path)  # type: ignore[no-any-return]
    except ImportError as exc:  # fsspec names the package, e.g. "Install s3fs to access S3"
        scheme = path.partition("://")[0]
        package = _DRIVERS.get(scheme)
        hint = f"pip install {package}" if package else str(exc)
        raise InvalidInput(f"Cannot read {path}: {scheme}:// needs a package: {hint}.") from exc
    except ValueError as exc:  # "Protocol not known: foo"
        raise InvalidInput(f"Cannot read {path}: {exc}.") from exc


# the packages fsspec needs for the common URL schemes
_DRIVERS = {
    "http": "aiohttp",
    "https": "aiohttp",
    "s3": "s3fs",
    "s3a": "s3fs",
    "gs": "gcsfs",
    "gcs": "gcsfs",
    "az": "adlfs",
    "abfs": "adlfs",
    "abfss": "adlfs",
}


def _read_path(path: str) -> pa.Table:
    import pyarrow.dataset as ds

    fs, root = _filesystem(path)
    try:
        found = fs.exists(root)
    except OSError as exc:  # an unreachable host, refused credentials
        raise NotFound(f"Cannot read {path}: {exc}") from exc
    if not found:
        raise NotFound(f"Cannot read {path}: no such file or folder.")
    files = (
        [root]
        if fs.isfile(root)
        else sorted(f for f in fs.find(root) if Path(f).suffix.lower() in _SUFFIXES)
    )
    if not files:
        raise InvalidInput(f"Cannot read {path}: no .csv, .parquet or .jsonl files in it.")
    formats = {_SUFFIXES.get(Path(f).suffix.lower()) for f in files}
    if None in formats or len(formats) != 1:
        raise InvalidInput(
            f"Cannot read {path}: expected files of one format among "
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
        file_format: Any = fmt
        suffixes = {Path(f).suffix.lower() for f in files}
        if fmt == "csv" and suffixes <= set(_DELIMITERS):
            import pyarrow.csv as pcsv

            delimiter = _DELIMITERS[suffixes.pop()]
            file_format = ds.CsvFileFormat(parse_options=pcsv.ParseOptions(delimiter=delimiter))
        elif fmt == "csv" and suffixes & set(_DELIMITERS):
            raise InvalidInput(f"Cannot read {path}: it mixes .csv and .tsv files.")
        base = root if fs.isdir(root) else None
        parts = [ds.dataset(f, filesystem=fs, format=file_format) for f in files]
        first = parts[0].schema.remove_metadata()
        odd = next(
            (
                f
                for f, p in zip(files, parts, strict=True)
                if not p.schema.remove_metadata().equals(first)
            ),
            None,
        )
        if odd is not None:
            raise InvalidInput(
                f"Cannot read {path}: its files have different columns or types "
                f"({files[0]} vs {odd}). Register them separately or align them first."
            )
        dataset = ds.dataset(
            files,
            filesystem=fs,
            format=file_format,
            partitioning="hive",
            partition_base_dir=base,
        )
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
    """sha256 of the table's logical content: column names, value types and values.

    Physical details that do not change what the data says are normalised away, so the same
    data read back from its stored Parquet, from pandas, or in other chunks hashes the same:
    dictionary (category) columns are hashed as their values, dates as date32, second
    timestamps as milliseconds (as Parquet stores them), and each
    column with nulls as its validity mask plus its non-null values (bytes left under null
    slots do not count). Streams Arrow IPC into the hash; nothing is written anywhere.
    """
    sink = _HashSink()
    for field, column in zip(table.schema, table.columns, strict=True):
        array = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
        array = _canonical(array)
        parts = [(field.name, array)]
        if array.null_count:
            parts = [(f"{field.name}\0valid", array.is_valid()), (field.name, array.drop_null())]
        for name, values in parts:  # one IPC stream per part, all into the same hash
            piece = pa.Table.from_arrays([values], names=[name])
            with pa.ipc.new_stream(pa.PythonFile(sink, mode="w"), piece.schema) as writer:
                writer.write_table(piece, max_chunksize=1 << 20)
    return sink.hasher.hexdigest()


def _canonical(array: pa.Array) -> pa.Array:
    """One physical form per logical type (see :func:`content_hash`)."""
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if pa.types.is_date64(array.type):
        array = array.cast(pa.date32())
    if pa.types.is_timestamp(array.type) and array.type.unit == "s":  # Parquet stores ms
        array = array.cast(pa.timestamp("ms", array.type.tz))
    if pa.types.is_large_string(array.type):
        array = array.cast(pa.string())
    return array


def write_parquet(table: pa.Table, path: Path) -> None:
    """Write ``table`` as Parquet (zstd, statistics on) for DuckDB and Arrow to scan."""
    import pyarrow.parquet as pq

    pq.write_table(table, path, compression="zstd", row_group_size=256 * 1024)

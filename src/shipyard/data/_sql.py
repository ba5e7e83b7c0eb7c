"""SQL over dataset versions by ``name@version``, through DuckDB."""

from __future__ import annotations

import contextlib
import re
import tempfile
import threading
from typing import Any

import pyarrow as pa

from shipyard.errors import InvalidInput

#: ``name@selector`` outside quotes; the selector has no dots so ``loans@3.income`` reads as
#: column ``income`` of ``loans@3``.
_REF = re.compile(r"(?<![\w@])([A-Za-z][A-Za-z0-9_\-.]*@[A-Za-z0-9_]+(?:-[A-Za-z0-9_]+)*)")
#: Literals and comments, where references are left alone: '...', "...", $$...$$, -- and /* */.
_QUOTED = re.compile(r"('(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\$\$.*?\$\$|--[^\n]*|/\*.*?\*/)", re.S)


def find_refs(sql: str) -> list[str]:
    """The dataset references in a statement, in order of first appearance, outside quotes."""
    refs: list[str] = []
    for n, part in enumerate(_QUOTED.split(sql)):
        if n % 2 == 0:
            for ref in _REF.findall(part):
                if ref not in refs:
                    refs.append(ref)
    return refs


def rewrite(sql: str, names: dict[str, str]) -> str:
    """Replace each reference (outside quotes) by its view name."""
    parts = _QUOTED.split(sql)
    for n in range(0, len(parts), 2):
        parts[n] = _REF.sub(lambda m: names.get(m.group(1), m.group(1)), parts[n])
    return "".join(parts)


def run_sql(
    sql: str,
    views: dict[str, str],
    params: dict[str, Any] | None = None,
    *,
    external_access: bool = False,
    limit: int | None = None,
    timeout: float | None = None,
    memory_limit: str | None = None,
) -> pa.Table:
    """Run ``sql`` in a fresh DuckDB connection with each view name bound to a Parquet file.

    Unless ``external_access``, the statement reaches no file, URL or extension but the
    versions it names: their files are bound and listed in ``allowed_paths`` first, then
    DuckDB's external access is turned off (its spill directory, which stays reachable, a
    private empty one) and the configuration locked, so SQL cannot read ``/etc/passwd``,
    ``COPY ... TO`` a file, ``ATTACH``, ``INSTALL``/``LOAD`` or turn the setting back on.

    A shared server bounds the statement: at most ``limit`` rows come back (the rest is
    never computed when the plan allows), it is interrupted after ``timeout`` seconds, and
    DuckDB may use ``memory_limit`` (e.g. ``"1GB"``).

    Raises:
        InvalidInput: DuckDB refused the statement (its message is kept), the statement
            reached outside the versions it names (one line, naming the opt-in), or it ran
            past ``timeout``.
    """
    import duckdb

    con = duckdb.connect()
    spill = None if external_access else tempfile.TemporaryDirectory(prefix="shipyard-sql-")
    timer = threading.Timer(timeout, _interrupt, (con,)) if timeout is not None else None
    try:
        con.execute("SET enable_progress_bar = false")  # a slow query prints one to stdout
        for view, path in views.items():
            con.read_parquet(path).create_view(view)
        if memory_limit is not None:
            con.execute("SET memory_limit = $limit", {"limit": memory_limit})
        if spill is not None:
            con.execute("SET allowed_paths = $paths", {"paths": sorted(set(views.values()))})
            # DuckDB keeps its temp directory reachable with access off: by default that is
            # ``.tmp`` in the working directory (any files there), so it is a private one
            con.execute("SET temp_directory = $spill", {"spill": spill.name})
            con.execute("SET enable_external_access = false")
            con.execute("SET lock_configuration = true")
        if timer is not None:
            timer.start()
        relation = con.sql(sql, params=params) if params else con.sql(sql)
        if relation is None:
            raise InvalidInput("The SQL statement returns no rows; use a SELECT query.")
        return _to_arrow(relation if limit is None else relation.limit(limit))
    except duckdb.InterruptException as exc:
        if timeout is None:
            raise
        raise InvalidInput(
            f"SQL ran past its time limit of {timeout:g} s and was stopped; narrow the query "
            "(filter, aggregate or LIMIT it)."
        ) from exc
    except duckdb.PermissionException as exc:
        raise InvalidInput(
            f"SQL may read only the dataset versions it names (name@version): "
            f"{str(exc).splitlines()[0]}; pass external_access=True (CLI: --external-access) "
            "to let it reach files, URLs and extensions."
        ) from exc
    except duckdb.Error as exc:
        if not external_access and "configuration has been locked" in str(exc):
            raise InvalidInput(
                f"SQL may not change DuckDB settings: {str(exc).splitlines()[0]}; pass "
                "external_access=True (CLI: --external-access) to run it unlocked."
            ) from exc
        raise InvalidInput(f"SQL failed: {exc}\n  {sql}") from exc
    finally:
        if timer is not None:
            timer.cancel()
        con.close()
        if spill is not None:
            spill.cleanup()


def _interrupt(con: Any) -> None:
    """Stop the statement running on ``con`` (a timer's work: never raises)."""
    import duckdb

    with contextlib.suppress(duckdb.Error):  # the statement ended, the connection closed
        con.interrupt()


def _to_arrow(relation: Any) -> pa.Table:
    for method in ("to_arrow_table", "fetch_arrow_table", "arrow"):
        if hasattr(relation, method):
            result = getattr(relation, method)()
            if isinstance(result, pa.RecordBatchReader):
                return result.read_all()
            return result
    raise InvalidInput("This DuckDB version cannot return Arrow tables.")  # pragma: no cover

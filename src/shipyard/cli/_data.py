"""``shipyard data``: register, inspect, compare, validate, profile, query and trace datasets."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.tree import Tree

from shipyard import data
from shipyard._refs import check_name, parse_ref
from shipyard.cli._common import (
    console,
    file_option,
    handle_errors,
    int_option,
    number,
    path_exists,
    print_json,
    table,
    when,
)
from shipyard.config import empty_store_message, get_settings
from shipyard.errors import InvalidInput, NotFound

app = typer.Typer(
    help="Datasets: versions, validation, profiles, SQL and lineage.", no_args_is_help=True
)
JSON = typer.Option(False, "--json", help="Print JSON for scripts.")
HTML = file_option("--html", help="Write a static HTML report here.")


def _version_json(v: data.DatasetVersion) -> dict[str, Any]:
    return {
        "ref": v.ref,
        "id": v.id,
        "rows": v.rows,
        "columns": v.columns,
        "size": v.size,
        "content_hash": v.content_hash,
        "created_at": v.created_at,
        "aliases": list(v.aliases),
        "tags": v.tags,
        "run_id": v.run_id,
        "schema_version": v.schema_version,
        "description": v.description,
        "validation": v.validation,
        "checks": v.checks,
    }


@app.command("register")
@handle_errors
def register_cmd(
    name: str = typer.Argument(..., help="Dataset name, e.g. loans."),
    source: str = typer.Argument(..., help="CSV/Parquet/JSON-lines file, folder or URL."),
    description: str = typer.Option(None, "--description", "-d"),
    alias: list[str] = typer.Option(None, "--alias", "-a", help="Alias(es) for this version."),
    tag: list[str] = typer.Option(None, "--tag", "-t", help="key=value (repeatable)."),
    policy: str = typer.Option(None, "--policy", help="On schema violations: warn or reject."),
    as_json: bool = JSON,
) -> None:
    """Register a file or folder as a new version (identical data returns the existing one)."""
    tags = {}
    for item in tag or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInput(f"--tag {item!r}: expected key=value.")
        tags[key] = value
    before = {v.id for v in data.versions(name)} if _exists(name) else set()
    with _quiet(logging.getLogger("shipyard.data")):  # the warning is printed once, below
        version = data.register(
            name, source, description=description, tags=tags, aliases=alias or (), policy=policy
        )
    if as_json:
        print_json({**_version_json(version), "new": version.id not in before})
        return
    state = "registered" if version.id not in before else "already stored (no new bytes)"
    console.print(f"{version.ref} {state}: {version.rows:,} rows x {version.columns} columns")
    warning = version.check_warning()
    if warning is not None:
        console.print(f"[yellow]Warning:[/] {escape(warning)}", soft_wrap=True)


@contextmanager
def _quiet(logger: logging.Logger) -> Iterator[None]:
    """Hold back ``logger``'s warnings meanwhile (the command prints its own)."""
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _exists(name: str) -> bool:
    return any(d.name == name for d in data.list_datasets())


@app.command("list")
@handle_errors
def list_cmd(as_json: bool = JSON) -> None:
    """List datasets with their number of versions."""
    found = data.list_datasets() if get_settings().store_exists() else []
    if as_json:
        print_json(
            [
                {
                    "name": d.name,
                    "versions": d.versions,
                    "latest": d.latest,
                    "policy": d.policy,
                    "created_at": d.created_at,
                }
                for d in found
            ]
        )
        return
    if not found:
        console.print(empty_store_message("datasets"))
        return
    console.print(
        table(
            "Datasets",
            ["name", "versions", "latest", "policy", "created"],
            [(d.name, d.versions, d.latest or "-", d.policy, when(d.created_at)) for d in found],
        )
    )


@app.command("versions")
@handle_errors
def versions_cmd(name: str = typer.Argument(...), as_json: bool = JSON) -> None:
    """List the versions of a dataset, newest first."""
    found = data.versions(name)
    if as_json:
        print_json([_version_json(v) for v in found])
        return
    console.print(
        table(
            f"Versions of {name}",
            ["version", "checks", "rows", "cols", "aliases", "made by", "created", "sha256"],
            [
                (
                    v.version,
                    v.checks,
                    f"{v.rows:,}",
                    v.columns,
                    ", ".join(v.aliases) or "-",
                    _made_by(v),
                    when(v.created_at),
                    v.content_hash[:12],
                )
                for v in found
            ],
        )
    )


def _made_by(v: data.DatasetVersion) -> str:
    if v.parents:
        return f"{len(v.parents)} parent(s)"
    return f"run {v.run_id[:8]}" if v.run_id else "-"


@app.command("show")
@handle_errors
def show_cmd(ref: str = typer.Argument(..., help="e.g. loans@3"), as_json: bool = JSON) -> None:
    """Show a version: size, aliases, tags, schema and column statistics."""
    v = data.resolve(ref)
    prof = v.profile()
    if as_json:
        print_json({**_version_json(v), "profile": prof.to_dict()})
        return
    console.print(
        f"[bold]{v.ref}[/]  {v.rows:,} rows x {v.columns} columns, "
        f"{v.size / 1e6:.1f} MB Parquet, created {when(v.created_at)}"
    )
    if v.aliases:
        console.print(f"aliases: {', '.join(v.aliases)}")
    if v.tags:
        console.print("tags: " + ", ".join(f"{k}={val}" for k, val in v.tags.items()))
    rows = []
    for c in prof.columns:
        rows.append(
            (
                c.name,
                c.type_name,
                c.kind,
                f"{c.missing:,}",
                f"{c.distinct:,}",
                number(c.min, 4) if not isinstance(c.min, str) else c.min,
                number(c.max, 4) if not isinstance(c.max, str) else c.max,
                number(c.mean, 4),
            )
        )
    console.print(
        table(
            "Columns", ["column", "type", "kind", "missing", "distinct", "min", "max", "mean"], rows
        )
    )


@app.command("diff")
@handle_errors
def diff_cmd(
    a: str = typer.Argument(...), b: str = typer.Argument(...), as_json: bool = JSON
) -> None:
    """What changed between two versions: schema, rows, statistics that moved."""
    d = data.diff(a, b)
    if as_json:
        print_json(
            {
                "a": d.a,
                "b": d.b,
                "rows": list(d.rows),
                "schema": d.schema_changes,
                "stats": d.stats.to_dict("records"),
            }
        )
        return
    console.print(f"{d.a} -> {d.b}: rows {d.rows[0]:,} -> {d.rows[1]:,}")
    for change in d.schema_changes:
        console.print(f"  schema: {change}")
    if d.stats.empty:
        console.print("  no statistic moved" if not d.schema_changes else "")
    else:
        console.print(
            table(
                "Statistics that moved",
                ["column", "stat", "a", "b", "change"],
                [
                    (
                        r["column"],
                        r["stat"],
                        number(r["a"], 4),
                        number(r["b"], 4),
                        number(r["change"], 3),
                    )
                    for r in d.stats.to_dict("records")
                ],
            )
        )


@app.command("validate")
@handle_errors
def validate_cmd(
    source: str = typer.Argument(..., help="A version (loans@3) or a file to check."),
    against: str = typer.Option(..., "--against", help="Dataset whose schema to check against."),
    as_json: bool = JSON,
) -> None:
    """Validate a version or a file against a dataset's schema; exit 1 on failures."""
    target: Any = source
    if path_exists(source) or "://" in source:
        from shipyard.data._content import to_arrow

        target = to_arrow(source)
    else:
        _check_version_ref(source)
    report = data.validate(target, against)
    if as_json:
        print_json(report.to_dict())
    else:
        console.print(report.summary())
    if not report.ok:
        raise typer.Exit(1)


def _check_version_ref(source: str) -> None:
    """``source`` names a dataset version (it is no file): say so plainly when it is neither."""
    if "/" in source or "\\" in source:
        raise NotFound(f"File {source} does not exist.")
    try:
        parse_ref("Dataset", source)
    except InvalidInput:
        raise InvalidInput(
            f"{source!r} is neither an existing file nor a dataset version (e.g. loans@3)."
        ) from None


@app.command("profile")
@handle_errors
def profile_cmd(
    ref: str = typer.Argument(...),
    html: Path = HTML,
    as_json: bool = JSON,
) -> None:
    """Show a version's profile, or write it as a static HTML report with charts."""
    v = data.resolve(ref)
    prof = v.profile()
    if html is not None:
        html.write_text(data.profile_html(prof, title=f"Profile of {v.ref}"))
        console.print(f"Wrote {html}")
        return
    if as_json:
        print_json(prof.to_dict())
        return
    console.print(prof.to_frame().to_string())


@app.command("query")
@handle_errors
def query_cmd(
    sql: str = typer.Argument(
        ..., help='e.g. "SELECT region, avg(income) FROM loans@3 GROUP BY 1"'
    ),
    register_as: str = typer.Option(None, "--register-as", help="Store the result as a dataset."),
    limit: int = int_option(50, "--limit", "-n", help="Rows to print."),
    external_access: bool = typer.Option(
        False,
        "--external-access",
        help="Let the SQL read and write files, URLs and extensions (off: only the versions "
        "it names).",
    ),
    as_json: bool = JSON,
) -> None:
    """Run SQL over dataset versions (DuckDB), print it or register it with lineage."""
    if register_as is not None:
        check_name("Dataset", register_as)
    result = data.query(sql, register_as=register_as, external_access=external_access)
    if isinstance(result, data.DatasetVersion):
        console.print(f"Registered {result.ref}: {result.rows:,} rows x {result.columns} columns")
        return
    if as_json:
        rows = json.loads(result.head(limit).to_json(orient="records", date_format="iso"))
        print_json(rows, times=False)
        return
    console.print(result.head(limit).to_string(index=False))
    if len(result) > limit:
        console.print(f"... {len(result) - limit:,} more rows (--limit)")


@app.command("alias")
@handle_errors
def alias_cmd(ref: str = typer.Argument(...), alias: str = typer.Argument(...)) -> None:
    """Point an alias (e.g. golden) at a version."""
    v = data.set_alias(ref, alias)
    console.print(f"{v.name}@{alias} -> {v.ref}")


@app.command("accept")
@handle_errors
def accept_cmd(ref: str = typer.Argument(..., help="The flagged version, e.g. loans@3.")) -> None:
    """Accept a version that failed its checks, so that the bare name may resolve to it."""
    v = data.accept(ref)
    console.print(f"{v.ref} accepted; {v.name} now resolves to {data.resolve(v.name).ref}")


@app.command("lineage")
@handle_errors
def lineage_cmd(ref: str = typer.Argument(...), as_json: bool = JSON) -> None:
    """Show where a version came from, what was made from it, and the runs that read them."""
    from shipyard import models

    graph = data.lineage(ref)
    trained = models.trained_on(graph.focus)
    if as_json:
        print_json({**graph.to_dict(), "models": [v.ref for v in trained]})
        return
    root = Tree(
        f"[bold]{graph.focus}[/]"
        + (f"  (registered by run {graph.produced_by[:8]})" if graph.produced_by else "")
    )
    up = root.add("upstream")
    for e in graph.upstream:
        up.add(f"{e.parent} -> {e.child}" + (f"  via {e.transform}" if e.transform else ""))
    down = root.add("downstream")
    for e in graph.downstream:
        down.add(f"{e.parent} -> {e.child}" + (f"  via {e.transform}" if e.transform else ""))
    runs = root.add("read by runs")
    for version, readers in graph.readers.items():
        for r in readers:
            runs.add(f"{r['name']} ({r['id'][:8]}, {r['status']}) read {version}")
    made = root.add("models trained on it")
    for v in trained:
        made.add(
            f"{v.ref} ({v.flavor}, {v.stage}{', ' + ', '.join(v.aliases) if v.aliases else ''})"
        )
    console.print(root)

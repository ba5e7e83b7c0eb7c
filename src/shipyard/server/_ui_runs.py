"""The runs pages: the runs table, one run, and runs compared.

``/runs`` is one page of :func:`~shipyard.tracking.search_runs`: the SDK's filter language,
its ``order_by`` and its page tokens, so the database answers one page whatever the number
of runs. The columns a person chose ride in the URL (``col=metrics.auc&col=params.lr``), so
a link shares the view; every control is a form or a link, and the table works without
JavaScript. ``/runs/{id}`` shows a run with a chart of each metric's history (downsampled
on the server, embedded in the page); ``/runs/compare?ids=a&ids=b`` overlays runs' curves,
draws their params against a metric in parallel coordinates and lists what differs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Query, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from shipyard.errors import InvalidInput, NotFound, ShipyardError
from shipyard.server._access import VIEWER
from shipyard.server._ui import error_page, pages, render
from shipyard.server._ui_run import compare_context, default_columns, run_context, table_rows
from shipyard.store import default_artifacts
from shipyard.tracking import get_run, list_experiments, search_runs

__all__ = ["router"]

router = pages()

PAGE_SIZE = 50
#: pages "previous" can step back through (their tokens ride in the URL)
TRAIL = 20
#: metrics and params shown when the person chose no columns
DEFAULT_METRICS, DEFAULT_PARAMS = 4, 3
KINDS = ("metrics", "params", "tags")
#: attributes the table can sort on (the rest of its fixed columns cannot)
SORTABLE = {"name": "name", "status": "status", "start": "start_time"}
TITLES = {"name": "Run", "status": "Status", "start": "Started"}
_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_\-./:]+$")
_FIRST = "~"  # the first page in a trail of page tokens (which never hold "~" or ".")


@dataclass(frozen=True)
class RunsView:
    """What the runs page shows: the query string, parsed."""

    experiment: str = ""
    filter: str = ""
    order: str = ""
    columns: tuple[str, ...] = ()
    page_size: int = PAGE_SIZE
    page_token: str = ""
    trail: tuple[str, ...] = field(default=())
    page: int = 1

    def url(self, **changes: Any) -> str:
        """This view's URL with ``changes`` (empty values left out)."""
        view = replace(self, **changes)
        query: list[tuple[str, Any]] = [
            ("experiment", view.experiment),
            ("filter", view.filter),
            ("order", view.order),
            *[("col", c) for c in view.columns],
            ("page_size", view.page_size if view.page_size != PAGE_SIZE else ""),
            ("page_token", view.page_token),
            ("trail", ".".join(view.trail)),
            ("page", view.page if view.page > 1 else ""),
        ]
        text = urlencode([(k, v) for k, v in query if v != ""])
        return "/runs" + ("?" + text if text else "")

    @property
    def chosen_size(self) -> int | None:
        """The page size asked for, when not the default (the forms keep it)."""
        return self.page_size if self.page_size != PAGE_SIZE else None

    def first(self, **changes: Any) -> str:
        """The first page of this view with ``changes`` (a new order, other columns)."""
        return self.url(page_token="", trail=(), page=1, **changes)


@router.get("/runs", dependencies=[VIEWER])
def runs_page(
    request: Request,
    experiment: str = "",
    filter: str = "",
    order: str = "",
    col: Annotated[list[str] | None, Query()] = None,
    page_size: Annotated[int, Query(ge=1, le=500)] = PAGE_SIZE,
    page_token: str = "",
    trail: str = "",
    page: Annotated[int, Query(ge=1)] = 1,
) -> HTMLResponse:
    """One page of runs: filter, order, columns and pages from the query string."""
    chosen = tuple(dict.fromkeys(c.strip() for c in col or [] if c.strip()))
    view = RunsView(
        experiment.strip(),
        filter.strip(),
        order.strip(),
        chosen,
        page_size,
        page_token.strip(),
        tuple(t for t in trail.split(".") if t)[-TRAIL:],
        page,
    )
    experiments = list_experiments()
    try:
        for column in view.columns:
            _check_column(column)
        frame = search_runs(
            view.experiment or None,
            view.filter or None,
            view.order or None,
            max_results=view.page_size,
            page_token=view.page_token or None,
        )
    except ShipyardError as error:  # the page again, saying what to fix
        response = render(
            request,
            "runs_list.html",
            view=view,
            experiments=experiments,
            error=str(error),
            rows=[],
            headers=_headers(view, view.columns),
            available={},
            pager={},
            total=None,
        )
        response.status_code = error.http_status
        return response
    columns = view.columns or default_columns(frame, DEFAULT_METRICS, DEFAULT_PARAMS)
    view = replace(view, columns=columns)  # links keep the columns, chosen or not
    return render(
        request,
        "runs_list.html",
        view=view,
        experiments=experiments,
        error=None,
        rows=table_rows(frame, columns),
        headers=_headers(view, columns),
        available=_available(frame, columns),
        pager=_pager(view, frame.attrs.get("next_page_token")),
        total=_total(view, experiments),
    )


def _check_column(column: str) -> None:
    kind, _, key = column.partition(".")
    if kind not in KINDS or not key:
        raise InvalidInput(
            f"col: expected metrics.<key>, params.<key> or tags.<key>, got {column!r}."
        )


def _available(frame: Any, columns: tuple[str, ...]) -> dict[str, list[tuple[str, bool]]]:
    """Columns the chooser offers, by kind: the page's keys and the chosen ones."""
    keys = [c for c in frame.columns if c.partition(".")[0] in KINDS]
    offered: dict[str, list[tuple[str, bool]]] = {kind: [] for kind in KINDS}
    for column in sorted(set(keys) | set(columns)):
        offered[column.partition(".")[0]].append((column, column in columns))
    return {kind: found for kind, found in offered.items() if found}


def _order_key(column: str) -> str:
    """A column as the order language names it (odd keys quoted in backticks)."""
    kind, _, key = column.partition(".")
    return f"{kind}.{key}" if _PLAIN_KEY.match(key) else f"{kind}.`{key}`"


def _headers(view: RunsView, columns: tuple[str, ...]) -> dict[str, Any]:
    """The table's sortable headers (label, link flipping the direction, state): the
    run's ``name``, ``status`` and ``start``, and the chosen ``columns``."""
    current, _, direction = view.order.rpartition(" ")
    if direction.lower() not in ("asc", "desc"):
        current, direction = view.order, "asc"

    def header(label: str, key: str, kind: str) -> dict[str, Any]:
        state = None
        if current.strip() == key:
            state = "descending" if direction.lower() == "desc" else "ascending"
        flip = "asc" if state == "descending" else "desc"
        return {
            "label": label,
            "kind": kind,
            "link": view.first(order=f"{key} {flip}"),
            "sort": state,
        }

    headers: dict[str, Any] = {
        label: {**header(label, key, "run"), "title": TITLES[label]}
        for label, key in SORTABLE.items()
    }
    headers["columns"] = [
        header(c.partition(".")[2], _order_key(c), c.partition(".")[0]) for c in columns
    ]
    return headers


def _pager(view: RunsView, next_token: str | None) -> dict[str, Any]:
    """Links to the next page (its token) and the previous one (the trail of tokens)."""
    pager: dict[str, Any] = {"page": view.page, "next": None, "previous": None}
    if next_token:
        trail = (*view.trail, view.page_token or _FIRST)[-TRAIL:]
        pager["next"] = view.url(page_token=next_token, trail=trail, page=view.page + 1)
    if view.page > 1 and view.trail:
        back = view.trail[-1]
        pager["previous"] = view.url(
            page_token="" if back == _FIRST else back, trail=view.trail[:-1], page=view.page - 1
        )
    if view.page > 1:
        pager["first"] = view.first()
    return pager


def _total(view: RunsView, experiments: list[Any]) -> int | None:
    """How many runs the view covers when no filter narrows it (experiments count them)."""
    if view.filter:
        return None
    counts = [e.run_count or 0 for e in experiments if view.experiment in ("", e.name)]
    return sum(counts)


@router.get("/runs/compare", dependencies=[VIEWER])
def compare_page(
    request: Request,
    ids: Annotated[list[str] | None, Query()] = None,
    metric: str = "",
    diff: bool = False,
) -> HTMLResponse:
    """Runs side by side: overlaid metric curves, params against a metric, the differences."""
    wanted = list(dict.fromkeys(i.strip() for part in ids or [] for i in part.split(",")))
    wanted = [i for i in wanted if i]
    try:
        context = compare_context(wanted, metric.strip(), diff)
    except ShipyardError as error:
        return error_page(request, error)
    return render(request, "runs_compare.html", **context)


@router.get("/runs/{run_id}", dependencies=[VIEWER])
def run_page(request: Request, run_id: str) -> HTMLResponse:
    """A run: attributes, params, tags, metrics with their charts, artifacts, children and
    lineage."""
    try:
        context = run_context(run_id)
    except ShipyardError as error:
        return error_page(request, error)
    return render(request, "runs_detail.html", **context)


@router.get("/runs/{run_id}/artifacts/{path:path}", dependencies=[VIEWER])
def artifact(request: Request, run_id: str, path: str) -> Response:
    """One artifact of a run, as a download (streamed from the artifact store, verified)."""
    try:
        run = get_run(run_id)
        found = next((a for a in run.artifacts if a.path == path), None)
        if found is None:
            raise NotFound(f"Run {run.info.id} has no artifact {path!r}.")
        local = default_artifacts().local_path(found.digest)
    except ShipyardError as error:
        return error_page(request, error)
    return FileResponse(  # a download, never rendered here: an HTML or SVG artifact is
        local,  # whoever logged it's content, and this origin holds the signed-in cookie
        filename=path.rsplit("/", 1)[-1] or "artifact",
        media_type="application/octet-stream",
        headers={"X-Content-Type-Options": "nosniff"},
    )

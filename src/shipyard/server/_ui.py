"""The web UI's frame: templates, static files and plotly.js, shared by every page.

Pages are server-rendered Jinja2 templates (``server/templates/``) over the same public
functions the REST API calls; charts are drawn by plotly.js, served from the installed
plotly package at ``/static/plotly.min.js`` (one file the browser caches), with the small
hand-written ``static/ui.js``. Each group of pages is a module ``_ui_<name>.py`` with its own
``router`` of HTML routes made by :func:`pages` (not part of the API; a client's mistake
answers an error page, never JSON). :func:`render` is how a page answers.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import time
from collections.abc import Callable, Coroutine
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from fastapi.routing import APIRoute
from starlette.templating import Jinja2Templates

from shipyard._time import iso
from shipyard._version import __version__
from shipyard.errors import Forbidden, InvalidInput, NotFound, ShipyardError, Unauthorized
from shipyard.server._access import PUBLIC
from shipyard.server._ui_figures import preview

__all__ = [
    "NAV",
    "PageRoute",
    "error_page",
    "pages",
    "render",
    "router",
    "standalone",
    "templates",
    "warm_static",
]

HERE = Path(__file__).parent
STATIC = HERE / "static"

#: the sections of the navigation bar: (path, label)
NAV = (
    ("/", "Home"),
    ("/runs", "Runs"),
    ("/datasets", "Datasets"),
    ("/models", "Models"),
    ("/deployments", "Deployments"),
    ("/monitors", "Monitors"),
    ("/alerts", "Alerts"),
    ("/pipelines", "Pipelines"),
)

templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.globals.update(nav=NAV, version=__version__)
templates.env.filters["when"] = lambda value: (iso(value) or "")[:19].replace("T", " ")


def number(value: object) -> str:
    """A number as a table shows it: four significant digits, integers whole; anything
    else as text, missing as empty."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int) or (float(value).is_integer() and abs(value) < 1e15):
        return f"{int(value):,}"
    return f"{value:.4g}"


def cell(value: object) -> str:
    """A runs table's cell: :func:`number`, and a param (text) that is a long decimal
    (``0.04498142591``) at four significant digits as well (the full text is its title)."""
    if isinstance(value, str) and "." in value:
        try:
            parsed = float(value)
        except ValueError:
            return value
        return number(parsed) if math.isfinite(parsed) else value
    return number(value)


def seconds(value: float | None) -> str:
    """A duration: ``850 ms``, ``12.3 s``, ``4 m 05 s``, ``2 h 03 m``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 60:
        return f"{value:.1f} s"
    minutes, rest = divmod(int(value), 60)
    if minutes < 60:
        return f"{minutes} m {rest:02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} m"


def ago(value: float | None) -> str:
    """How long ago an epoch time was: ``just now``, ``5 min ago``, ``3 h ago``, ``2 d ago``."""
    if value is None:
        return ""
    past = max(0.0, time.time() - value)
    if past < 60:
        return "just now"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if past >= size:
            return f"{int(past // size)} {unit} ago"
    return ""


templates.env.filters.update(
    num=number,
    cell=cell,
    seconds=seconds,
    ago=ago,
    short=lambda v: str(v or "")[:8],
    preview=preview,
)


class PageRoute(APIRoute):
    """A page's route: an unknown name (``ShipyardError``) or a query parameter of the wrong
    type (``page=abc``) answers :func:`error_page` with its 4xx status, HTML a person reads.
    Auth's refusals keep the app's answers (a redirect to sign in, or 401/403)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                return await handle(request)
            except (Unauthorized, Forbidden):
                raise
            except ShipyardError as error:
                return error_page(request, error)
            except RequestValidationError as error:
                return error_page(request, InvalidInput(_invalid(error)))

        return page


def _invalid(error: RequestValidationError) -> str:
    """FastAPI's validation errors as one line naming each parameter: ``page: Input should
    be a valid integer...``."""
    parts = []
    for problem in error.errors():
        where = ".".join(str(p) for p in problem["loc"] if p not in ("query", "path"))
        parts.append(f"{where}: {problem['msg']}")
    return "; ".join(parts) + "."


def pages() -> APIRouter:
    """A router of pages (:class:`PageRoute`), left out of the OpenAPI description."""
    return APIRouter(include_in_schema=False, route_class=PageRoute)


router = pages()


def render(request: Request, name: str, **context: Any) -> HTMLResponse:
    """The page ``name`` (a template) rendered with ``context``; the current section of the
    navigation is the first path segment."""
    section = "/" + request.url.path.strip("/").split("/", 1)[0]
    # (the app's NoFraming middleware forbids other sites to frame it: clickjacking)
    return templates.TemplateResponse(
        request, name, {"section": section, **context}, media_type="text/html"
    )


def error_page(request: Request, error: ShipyardError) -> HTMLResponse:
    """A page saying what went wrong (an unknown run, a filter that does not parse), with
    the status of the error's kind: a person in a browser reads HTML, not ``{"error"}``."""
    response = render(request, "error.html", error=str(error), status=error.http_status)
    response.status_code = error.http_status
    return response


def standalone(page: str) -> str:
    """A self-contained report file served as a page, with the UI's icon inlined (else the
    browser asks the server for ``/favicon.ico``, a 404; the file still opens offline)."""
    from urllib.parse import quote

    icon = quote((STATIC / "favicon.svg").read_text().strip(), safe=" =:/,.")
    link = f'<link rel="icon" href="data:image/svg+xml,{icon}">'
    head = page.find("<head")
    end = page.find(">", head) + 1 if head >= 0 else 0
    return page[:end] + link + page[end:] if end else page


@lru_cache(maxsize=32)
def _static(name: str) -> tuple[bytes, str]:
    """A static file's bytes and ETag (plotly.js from the installed plotly package)."""
    if name == "plotly.min.js":
        import plotly

        path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    else:
        path = STATIC / name
        if path.parent != STATIC or not path.is_file():
            raise NotFound(f"static file {name!r}: no such file.")
    data = path.read_bytes()
    return data, '"' + hashlib.sha256(data).hexdigest()[:20] + '"'


@lru_cache(maxsize=8)
def _gzipped(name: str) -> bytes:
    """A static file gzip-compressed once per process (plotly.js: 4.6 MB to about 1.4 MB)."""
    return gzip.compress(_static(name)[0], compresslevel=6, mtime=0)


def warm_static() -> None:
    """Read and compress plotly.js ahead of the first browser (every page prefetches it; a
    prefetch still compressing when the person moves on is cancelled)."""
    _gzipped("plotly.min.js")


_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
_SMALL = 1024  # bytes below which a file is sent as it is


@router.get("/static/{name}", dependencies=[PUBLIC])
def static(name: str, request: Request) -> Response:
    """A static file, cached by the browser for a day and revalidated by its ETag; gzip
    when the browser takes it (each encoding has its own ETag, RFC 9110)."""
    kind = _TYPES.get(Path(name).suffix)
    if kind is None or "/" in name or name.startswith("."):
        raise NotFound(f"static file {name!r}: no such file.")
    data, etag = _static(name)
    zipped = len(data) > _SMALL and _takes_gzip(request.headers.get("accept-encoding", ""))
    if zipped:
        etag = etag[:-1] + '-gz"'
    headers = {"ETag": etag, "Cache-Control": "public, max-age=86400", "Vary": "Accept-Encoding"}
    held = {tag.strip() for tag in request.headers.get("if-none-match", "").split(",")}
    if etag in held:
        return Response(status_code=304, headers=headers)
    if zipped:
        headers["Content-Encoding"] = "gzip"
        return Response(_gzipped(name), media_type=kind, headers=headers)
    return Response(data, media_type=kind, headers=headers)


def _takes_gzip(accept_encoding: str) -> bool:
    """Whether an ``Accept-Encoding`` header accepts gzip (named, or ``*``, without q=0)."""
    for part in accept_encoding.lower().split(","):
        coding, _, params = part.partition(";")
        if coding.strip() in ("gzip", "*"):
            quality = params.strip().removeprefix("q=").strip() if "q=" in params else "1"
            try:
                return float(quality) > 0
            except ValueError:
                return False
    return False

"""Static HTML pages of reports (AutoML leaderboards, drift, monitors, pipeline runs): one
shell, written atomically.

Pages with charts load plotly.js from ``plotly.min.js`` beside them, written once per folder
(again only when its bytes differ from the installed plotly's), so a report is a few hundred
kilobytes rather than 5 MB and still opens offline (``file://``): copy the folder, or the page
with its ``plotly.min.js``.
"""

from __future__ import annotations

import html
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["PLOTLY_JS", "figure_html", "write_page", "write_plotly_js"]

PLOTLY_JS = "plotly.min.js"  # the file name, beside each page with charts

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
table.report { border-collapse: collapse; font-size: 0.85rem; }
table.report th, table.report td { padding: 0.25rem 0.6rem; border-bottom: 1px solid #ddd;
  text-align: left; }
p.missing { color: #ad1d1d; }
"""
# said on the page when plotly.min.js was not copied along with it
_MISSING = (
    "<script>if (!window.Plotly) { document.addEventListener('DOMContentLoaded', function () {"
    " document.body.insertAdjacentHTML('afterbegin', '<p class=\"missing\">The charts need "
    + PLOTLY_JS
    + " in the same folder as this page.</p>'); }); }</script>"
)


def figure_html(figure: Any) -> str:
    """A plotly figure as an HTML fragment for :func:`write_page` (``charts=True``): its div
    and the script drawing it, without plotly.js itself."""
    import plotly.io as pio

    return str(pio.to_html(figure, full_html=False, include_plotlyjs=False))


def write_page(path: str | Path, title: str, body: str, *, charts: bool = False) -> Path:
    """Write ``body`` (HTML) under a heading ``title`` to ``path``: to a temporary name,
    then renamed, so nobody opens half a report. Tables should use class ``report``.
    ``charts``: the body holds :func:`figure_html` fragments; plotly.js is written beside
    the page (:func:`write_plotly_js`) and loaded from there."""
    target = Path(path)
    scripts = ""
    if charts:
        write_plotly_js(target.parent)
        scripts = f'<script src="{PLOTLY_JS}" charset="utf-8"></script>\n{_MISSING}\n'
    page = (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n{scripts}</head>\n"
        f"<body><h1>{html.escape(title)}</h1>\n{body}\n</body></html>\n"
    )
    _replace(target, page.encode("utf-8"))
    return target


def write_plotly_js(folder: str | Path) -> Path:
    """Write the installed plotly's ``plotly.min.js`` into ``folder`` unless the same bytes
    are there already (atomically: a page opened meanwhile sees the old file or the new
    one). Returns its path."""
    from plotly.offline import get_plotlyjs

    content = get_plotlyjs().encode("utf-8")
    target = Path(folder) / PLOTLY_JS
    try:
        same = target.stat().st_size == len(content) and target.read_bytes() == content
    except OSError:
        same = False
    if not same:
        _replace(target, content)
    return target


def _replace(target: Path, content: bytes) -> None:
    """Write ``content`` to a fresh temporary file beside ``target``, then rename it over."""
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
        os.chmod(name, 0o644)
        os.replace(name, target)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise

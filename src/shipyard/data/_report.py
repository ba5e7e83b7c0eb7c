"""A dataset profile as one standalone HTML page: summary table, inline SVG charts, stats.

The page is static and self-contained: inline CSS, charts drawn here as SVG, no scripts,
no fonts or images fetched (a Content-Security-Policy forbids it), and only the profile's
numbers in it — never rows of the data. Every name and value is HTML-escaped.
"""

from __future__ import annotations

import html
from collections.abc import Iterable

from shipyard.data._profile import ColumnProfile, Histogram, Profile

__all__ = ["profile_body", "profile_html"]

_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2933;
       margin: 0 auto; max-width: 1100px; padding: 24px; background: #fbfcfd; }
h1 { margin: 0 0 4px; font-size: 24px; } h2 { margin-top: 32px; font-size: 18px; }
.meta { color: #616e7c; margin: 0 0 16px; }
table { border-collapse: collapse; }
.summary { width: 100%; background: #fff; }
.summary th, .summary td { padding: 5px 10px; border-bottom: 1px solid #e4e7eb; text-align: left; }
.summary td.num, .summary td.val, .stats td { text-align: right;
    font-variant-numeric: tabular-nums; }
.summary td.num, .stats td { white-space: nowrap; }
.summary th { background: #f0f4f8; position: sticky; top: 0; }
section { background: #fff; border: 1px solid #e4e7eb; border-radius: 6px; padding: 12px 16px;
          margin: 14px 0; }
section h3 { margin: 0 0 8px; font-size: 16px; word-break: break-all; }
.kind { font-size: 12px; font-weight: normal; padding: 1px 7px; border-radius: 9px;
        background: #e3f8ff; color: #035388; margin-left: 8px; }
.type { font-size: 12px; font-weight: normal; color: #616e7c; margin-left: 8px; }
.body { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
.stats th { text-align: left; font-weight: normal; color: #616e7c; padding: 2px 14px 2px 0; }
.stats td { padding: 2px 0; }
.note { color: #616e7c; font-size: 12px; }
svg text { font: 11px system-ui, sans-serif; fill: #3e4c59; }
.bar { fill: #2680c2; } .bar:hover { fill: #0f609b; }
.warn { color: #ad1d1d; } .scroll { overflow-x: auto; }
"""
_WIDTH, _HEIGHT = 460, 170  # histogram drawing size, in SVG user units
_LABEL_CHARS = 28


def profile_html(profile: Profile, *, title: str) -> str:
    """Render a profile as a complete standalone HTML page.

    Args:
        profile: the profile to show.
        title: page title and heading (escaped).

    Returns:
        The HTML document as a string (UTF-8 when written out).

    Example:
        >>> import pyarrow as pa
        >>> from shipyard.data._profile import profile as make_profile
        >>> page = profile_html(make_profile(pa.table({"x": [1, 2, 3]})), title="x")
        >>> page.startswith("<!doctype html>") and "<svg" in page
        True
    """
    t = _e(title)
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{t}</title><style>{_CSS}</style></head><body>",
        f"<h1>{t}</h1>",
        f'<p class="meta">{profile.rows:,} rows · {len(profile.columns):,} columns · '
        "profiled by Shipyard</p>",
        profile_body(profile),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def profile_body(profile: Profile) -> str:
    """The report without its page: the summary table and one section per column (what the
    web UI's profile page shows inside its own frame). Every name and value is escaped."""
    parts = [
        "<h2>Summary</h2>",
        _summary(profile),
        "<h2>Columns</h2>",
        *(_section(i, c, profile.rows) for i, c in enumerate(profile.columns)),
    ]
    return "\n".join(parts)


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: object) -> str:
    """Format a statistic for display (escaped): thousands separators, 6 significant digits."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.6g}"
    return _e(value)


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "–"


def _summary(profile: Profile) -> str:
    """One row per column: kind, type, missing, distinct, mean, min, max."""
    head = ("Column", "Kind", "Type", "Missing", "Distinct", "Mean", "Min", "Max")
    rows = ['<div class="scroll"><table class="summary"><thead><tr>']
    rows.append("".join(f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>")
    for i, c in enumerate(profile.columns):
        missing = f"{c.missing:,} ({_pct(c.missing, profile.rows)})"
        approx = "≈" if c.approximate else ""
        cells = [
            f'<td><a href="#col-{i}">{_e(c.name)}</a></td>',
            f"<td>{_e(c.kind)}</td>",
            f'<td><code title="{_e(c.type)}">{_e(c.type_name)}</code></td>',
            f'<td class="num">{missing}</td>',
            f'<td class="num">{approx}{c.distinct:,}</td>',
            f'<td class="num">{_fmt(c.mean)}</td>',
            f'<td class="val">{_fmt(c.min)}</td>',
            f'<td class="val">{_fmt(c.max)}</td>',
        ]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    rows.append("</tbody></table></div>")
    return "\n".join(rows)


def _section(index: int, c: ColumnProfile, rows: int) -> str:
    """One column: heading, chart (histogram or top values) and its statistics."""
    chart = ""
    if c.histogram is not None:
        chart = _histogram_svg(c.name, c.histogram)
    elif c.top:
        chart = _top_svg(c.name, c.top, c.count)
    elif c.count == 0:
        chart = '<p class="note">No values present.</p>'
    return (
        f'<section id="col-{index}"><h3>{_e(c.name)}<span class="kind">{_e(c.kind)}</span>'
        f'<span class="type" title="{_e(c.type)}">{_e(c.type_name)}</span></h3>'
        f'<div class="body"><div>{chart}</div>{_stats_table(c, rows)}</div></section>'
    )


def _stats_table(c: ColumnProfile, rows: int) -> str:
    items: list[tuple[str, str]] = [
        ("Values", _fmt(c.count)),
        ("Missing", f"{c.missing:,} ({_pct(c.missing, rows)})"),
        ("Distinct", ("≈" if c.approximate else "") + _fmt(c.distinct)),
    ]
    if c.infinite:
        items.append(("Infinite", f'<span class="warn">{c.infinite:,}</span>'))
    for label, value in (("Min", c.min), ("Max", c.max), ("Mean", c.mean), ("Std", c.std)):
        if value is not None:
            items.append((label, _fmt(value)))
    for key, value in c.quantiles.items():
        items.append((f"{float(key) * 100:g}%", _fmt(value)))
    if c.approximate and c.quantiles:
        items.append(("", '<span class="note">distinct and quantiles estimated</span>'))
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in items)
    return f'<table class="stats">{body}</table>'


def _svg(width: int, height: int, label: str, shapes: Iterable[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{_e(label)}">'
        + "".join(shapes)
        + "</svg>"
    )


def _histogram_svg(name: str, hist: Histogram) -> str:
    """Vertical bars, one per bin, scaled to the fullest bin; a tooltip per bar."""
    edges, counts = hist["edges"], hist["counts"]
    left, bottom, top = 48, 34, 8
    plot_w, plot_h = _WIDTH - left - 8, _HEIGHT - bottom - top
    peak = max(counts) or 1
    step = plot_w / len(counts)
    shapes = [
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        'stroke="#9aa5b1"/>',
        f'<text x="{left - 4}" y="{top + 9}" text-anchor="end">{peak:,}</text>',
        f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end">0</text>',
    ]
    for i, n in enumerate(counts):
        h = plot_h * n / peak
        x = left + i * step
        tip = f"[{_fmt(edges[i])}, {_fmt(edges[i + 1])}{']' if i == len(counts) - 1 else ')'}"
        shapes.append(
            f'<rect class="bar" x="{x + 0.5:.2f}" y="{top + plot_h - h:.2f}" '
            f'width="{max(step - 1, 0.5):.2f}" height="{h:.2f}"><title>{tip}: {n:,}</title></rect>'
        )
    y = top + plot_h + 14
    shapes += [
        f'<text x="{left}" y="{y}">{_fmt(edges[0])}</text>',
        f'<text x="{left + plot_w}" y="{y}" text-anchor="end">{_fmt(edges[-1])}</text>',
        f'<text x="{left + plot_w / 2:.0f}" y="{y + 14}" text-anchor="middle">'
        f"{len(counts)} bin{'s' if len(counts) > 1 else ''}</text>",
    ]
    return _svg(_WIDTH, _HEIGHT, f"Histogram of {name}", shapes)


def _top_svg(name: str, top: list[tuple[str, int]], count: int) -> str:
    """Horizontal bars for the most frequent values, with their counts and shares."""
    label_w, bar_w, row_h = 190, 190, 20
    width = label_w + bar_w + 120
    peak = max(n for _, n in top) or 1
    shapes = []
    for i, (value, n) in enumerate(top):
        y = i * row_h
        text = value if len(value) <= _LABEL_CHARS else value[: _LABEL_CHARS - 1] + "…"
        w = bar_w * n / peak
        shapes += [
            f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end">{_e(text)}'
            f"<title>{_e(value)}</title></text>",
            f'<rect class="bar" x="{label_w}" y="{y + 3}" width="{max(w, 0.5):.2f}" '
            f'height="{row_h - 6}"><title>{_e(value)}: {n:,}</title></rect>',
            f'<text x="{label_w + w + 6:.2f}" y="{y + 14}">{n:,} ({_pct(n, count)})</text>',
        ]
    rest = count - sum(n for _, n in top)
    height = len(top) * row_h + (row_h if rest > 0 else 0) + 4
    if rest > 0:
        shapes.append(
            f'<text x="{label_w - 6}" y="{len(top) * row_h + 14}" text-anchor="end">'
            f"other values</text>"
            f'<text x="{label_w}" y="{len(top) * row_h + 14}">{rest:,} ({_pct(rest, count)})</text>'
        )
    return _svg(width, height, f"Most frequent values of {name}", shapes)

"""A model card as one self-contained HTML page: inline style, bar charts drawn as inline
SVG, no script and nothing fetched, so it opens offline from a file or an attachment.
Every text is escaped; user-written sections keep their paragraphs and line breaks."""

from __future__ import annotations

import html as _html
import math
import time
from typing import Any

from shipyard.governance._card_blocks import Bars, Block, Facts, Heading, Para, Table, num, when
from shipyard.governance._card_text import blocks

# A card is typed ``ModelCard`` in spirit: ``_card`` imports this module, so the type is not
# imported back (modules of one package never import each other both ways).
ModelCard = Any

__all__ = ["bars_svg", "body", "html"]

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328;
  max-width: 1000px; margin: 2rem auto; padding: 0 1.2rem; line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: .4rem; }
h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #d0d7de; padding-bottom: .2rem; }
h3 { font-size: 1rem; margin-top: 1.2rem; }
p.muted { color: #656d76; font-style: italic; }
.user p { margin: .4rem 0; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem;
  margin: .6rem 0; }
dl.facts dt { font-weight: 600; color: #424a53; }
dl.facts dd { margin: 0; }
table { border-collapse: collapse; font-size: .85rem; margin: .6rem 0; }
th, td { text-align: left; padding: .25rem .6rem; border-bottom: 1px solid #d0d7de;
  vertical-align: top; }
th { background: #f6f8fa; }
tr.ok td:nth-child(2) { color: #1a7f37; font-weight: 600; }
tr.bad td:nth-child(2) { color: #cf222e; font-weight: 600; }
tr.warn { background: #fff8c5; }
figure { margin: .8rem 0; }
figcaption { font-size: .85rem; color: #424a53; margin-bottom: .2rem; }
svg.bars text { font: 12px system-ui, sans-serif; fill: #1f2328; }
svg.bars rect { fill: #1f6feb; }
svg.bars line.ci { stroke: #1f2328; stroke-width: 1.5; }
footer { margin-top: 2.5rem; font-size: .8rem; color: #656d76; }
"""

_LABEL_W, _BAR_W, _ROW_H, _VALUE_W = 190, 420, 22, 70


def _e(value: object) -> str:
    return _html.escape(str(value), quote=True)


def bars_svg(chart: Bars) -> str:
    """Horizontal bars (and confidence-interval whiskers) as an inline SVG figure."""
    values = [v if math.isfinite(v) else 0.0 for v in chart.values]
    ranges = list(chart.ranges) + [None] * (len(values) - len(chart.ranges))
    highs = [r[1] for r in ranges if r is not None]
    top = max([*values, *highs, 0.0]) or 1.0
    height = _ROW_H * len(values) + 6
    width = _LABEL_W + _BAR_W + _VALUE_W
    parts = []
    for i, (label, value, span) in enumerate(zip(chart.labels, values, ranges, strict=False)):
        y = 3 + i * _ROW_H
        length = max(value, 0.0) / top * _BAR_W
        short = label if len(label) <= 28 else label[:27] + "…"
        parts.append(
            f'<text x="{_LABEL_W - 6}" y="{y + 15}" text-anchor="end">{_e(short)}'
            f"<title>{_e(label)}</title></text>"
            f'<rect x="{_LABEL_W}" y="{y + 3}" width="{length:.1f}" height="{_ROW_H - 7}" rx="2">'
            f"<title>{_e(label)}: {_e(num(value))}</title></rect>"
        )
        if span is not None:
            lo, hi = (_LABEL_W + max(s, 0.0) / top * _BAR_W for s in span)
            mid = y + _ROW_H / 2
            parts.append(
                f'<line class="ci" x1="{lo:.1f}" x2="{hi:.1f}" y1="{mid}" y2="{mid}"/>'
                f'<line class="ci" x1="{lo:.1f}" x2="{lo:.1f}" y1="{mid - 4}" y2="{mid + 4}"/>'
                f'<line class="ci" x1="{hi:.1f}" x2="{hi:.1f}" y1="{mid - 4}" y2="{mid + 4}"/>'
            )
        parts.append(f'<text x="{_LABEL_W + _BAR_W + 6}" y="{y + 15}">{_e(num(value))}</text>')
    return (
        f"<figure><figcaption>{_e(chart.title)}</figcaption>"
        f'<svg class="bars" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{_e(chart.title)}">{"".join(parts)}</svg></figure>'
    )


def _user_text(text: str) -> str:
    paragraphs = [p.strip() for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()]
    return (
        '<div class="user">'
        + "".join(
            "<p>" + "<br>".join(_e(line) for line in p.split("\n")) + "</p>" for p in paragraphs
        )
        + "</div>"
    )


def _block(block: Block) -> str:
    if isinstance(block, Heading):
        anchor = f' id="{_e(block.anchor)}"' if block.anchor else ""
        return f"<h{block.level}{anchor}>{_e(block.text)}</h{block.level}>"
    if isinstance(block, Para):
        if block.user:
            return _user_text(block.text)
        return (
            f'<p class="muted">{_e(block.text)}</p>' if block.muted else f"<p>{_e(block.text)}</p>"
        )
    if isinstance(block, Facts):
        items = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in block.pairs)
        return f'<dl class="facts">{items}</dl>'
    if isinstance(block, Table):
        head = "".join(f"<th>{_e(h)}</th>" for h in block.headers)
        status = list(block.status) + [""] * (len(block.rows) - len(block.status))
        rows = "".join(
            (f'<tr class="{_e(s)}">' if s else "<tr>")
            + "".join(f"<td>{_e(c)}</td>" for c in row)
            + "</tr>"
            for row, s in zip(block.rows, status, strict=False)
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
    return bars_svg(block) if block.values else ""


def body(card: ModelCard) -> str:
    """The card's sections as an HTML fragment (the page's body, also embedded by the UI)."""
    return "\n".join(_block(b) for b in blocks(card))


def html(card: ModelCard) -> str:
    """The card as a whole HTML page."""
    from shipyard._version import __version__

    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Model card: {_e(card.ref)}</title><style>{_STYLE}</style></head>\n"
        f'<body><main class="model-card">\n{body(card)}\n</main>'
        f"<footer>Made by Shipyard {_e(__version__)} from the registry's records on "
        f"{_e(when(time.time()))}.</footer>"
        "</body></html>\n"
    )

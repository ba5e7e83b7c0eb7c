"""What the operations pages share: who may press their buttons, and plotly figures made
by the static reports' own chart code, handed to the browser as JSON."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from shipyard.server._access import caller_of

__all__ = ["can_edit", "figure_json"]


def can_edit(request: Request) -> bool:
    """Whether the caller may press an editor's buttons (promote, acknowledge, trigger)."""
    return caller_of(request).role in ("editor", "admin")


def figure_json(figure: Any) -> dict[str, Any]:
    """A plotly figure as ``{"data", "layout"}`` for ``Plotly.newPlot``, without its theme
    (the page's stylesheet and ``shipyard.chart`` give the look) and with a fluid width."""
    import orjson
    import plotly.io as pio

    found: dict[str, Any] = orjson.loads(pio.to_json(figure, validate=False, engine="orjson"))
    layout = found.get("layout", {})
    layout.pop("template", None)
    layout.pop("width", None)
    return {"data": found.get("data", []), "layout": layout}

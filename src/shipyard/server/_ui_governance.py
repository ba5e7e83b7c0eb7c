"""The web UI's governance pages: a model version's card (``/models/{name}/{version}/card``,
with its Markdown and standalone HTML forms, and a form for editors to write its sections),
and the governance section of the version page (explanation and fairness charts, the
promotion gates, approvals and overrides), built by :func:`governance_section`.

Everything is read through ``shipyard.governance.card``, which gathers the recorded
evidence; editors save the card's sections through the evidence API
(``POST /api/models/{name}/versions/{v}/evidence`` with kind ``card``).
"""

from __future__ import annotations

from typing import Any

from fastapi import Query, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from shipyard import governance
from shipyard.errors import ShipyardError
from shipyard.server._access import VIEWER, caller_of
from shipyard.server._ui import pages, render, standalone
from shipyard.server._ui_catalog import fmt, problem_page
from shipyard.server._ui_governance_charts import (
    evaluation_chart,
    fairness_chart,
    shap_bars,
    shap_swarm,
)

__all__ = ["governance_section", "router"]

router = pages()
GROUP_METRICS = ("selection_rate", "true_positive_rate", "false_positive_rate", "accuracy", "error")
_TO = Query(None, max_length=100, description="Report the gates of a move to this target.")


def governance_section(ref: str, to: str | None = None) -> dict[str, Any]:
    """What the version page shows of governance: the card (its sections, gates, approvals
    and overrides) and the charts of its explanation, fairness report and evaluation; an
    ``error`` instead when the card cannot be made."""
    try:
        card = governance.card(ref, to=to)
    except ShipyardError as error:
        return {"error": str(error)}
    explanation = card.explanation or {}
    report = card.fairness or {}
    groups = report.get("groups") or []
    disparities = report.get("disparities") or {}
    return {
        "card": card,
        "fairness_keys": [
            k for k in GROUP_METRICS if any(k in (g.get("metrics") or {}) for g in groups)
        ],
        "disparity": next(iter(sorted(disparities.items())), None),
        "shap_bars": shap_bars(explanation) if explanation else None,
        "shap_swarm": shap_swarm(explanation) if explanation else None,
        "fairness": fairness_chart(card.fairness) if card.fairness else None,
        "evaluation": evaluation_chart(card.metrics),
    }


@router.get("/models/{name}/{version}/card", dependencies=[VIEWER])
def card_page(name: str, version: str, request: Request, to: str | None = _TO) -> HTMLResponse:
    """A version's model card, as the standalone HTML file has it, with links to its
    Markdown and HTML forms and, for editors, a form to write its sections."""
    try:
        card = governance.card(f"{name}@{version}", to=to)
    except ShipyardError as error:
        return problem_page(request, error, (f"/models/{name}", name))
    return render(
        request,
        "models_card.html",
        card=card,
        body=Markup(card.html(fragment=True)),  # every text escaped by the card
        editor=caller_of(request).role in ("editor", "admin"),
        to=to,
        fmt=fmt,
    )


@router.get("/models/{name}/{version}/card.md", dependencies=[VIEWER])
def card_markdown(name: str, version: str, request: Request, to: str | None = _TO) -> Response:
    """The card as Markdown, as ``shipyard models card`` prints it (a download)."""
    try:
        card = governance.card(f"{name}@{version}", to=to)
    except ShipyardError as error:
        return problem_page(request, error, (f"/models/{name}", name))
    disposition = f'attachment; filename="{card.model}-v{card.version}-card.md"'
    return Response(
        card.markdown(),
        media_type="text/markdown; charset=utf-8",
        headers={"Content-Disposition": disposition},
    )


@router.get("/models/{name}/{version}/card.html", dependencies=[VIEWER])
def card_file(name: str, version: str, request: Request, to: str | None = _TO) -> HTMLResponse:
    """The card as the self-contained page ``shipyard models card --html`` writes."""
    try:
        card = governance.card(f"{name}@{version}", to=to)
    except ShipyardError as error:
        return problem_page(request, error, (f"/models/{name}", name))
    disposition = f'inline; filename="{card.model}-v{card.version}-card.html"'
    headers = {"Content-Disposition": disposition, "X-Frame-Options": "DENY"}
    return HTMLResponse(standalone(card.html()), headers=headers)

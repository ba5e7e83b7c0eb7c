"""The platform REST API: one router per capability, the data the web UI will draw.

``shipyard api`` (or ``serving.background(server.create_app())``) serves it; ``/docs`` has
its OpenAPI description. Deployments: ``GET /api/deployments``, ``/api/deployments/{name}``
(with the last automatic decision, pooled evidence and statistics), ``.../history`` and
``POST .../promote``, ``.../rollback``; monitors: ``GET /api/monitors``,
``/api/monitors/{name}``, ``.../checks``, ``.../series``, ``.../report`` (what ``shipyard
monitors report`` charts) and ``POST .../check``; alerts: ``GET /api/alerts``,
``/api/alerts/{id}``, ``POST .../acknowledge`` and ``.../resolve``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard._lazy import exports

if TYPE_CHECKING:
    from shipyard.server._app import create_app, run

__all__ = ["create_app", "run"]

if not TYPE_CHECKING:  # type checkers read the names from the imports above
    __getattr__, __dir__ = exports(__name__)

"""The platform server: the web UI at ``/``, the REST API at ``/api``, users and tokens.

``shipyard server`` (or ``serving.background(server.create_app())``) serves it; ``/docs``
has its OpenAPI description. One router per capability (``server/_<capability>.py``); with
auth (on by default beyond loopback) every route wants a user's token whose role (viewer,
editor, admin) is the one the route declares. Users and tokens are managed with the
functions below (``shipyard users``, ``shipyard tokens``), locally or, with
``SHIPYARD_URL``, through the server's ``/api/users`` and ``/api/tokens`` routes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard._lazy import exports
from shipyard.server import _tables  # noqa: F401 - registers the users' tables in Base

if TYPE_CHECKING:
    from shipyard.server._app import create_app, run
    from shipyard.server._auth import (
        create_token,
        create_user,
        disable_user,
        get_user,
        list_tokens,
        list_users,
        revoke_token,
        set_role,
    )
    from shipyard.server._auth_store import Token, User, UserStore

__all__ = [
    "Token",
    "User",
    "UserStore",
    "create_app",
    "create_token",
    "create_user",
    "disable_user",
    "get_user",
    "list_tokens",
    "list_users",
    "revoke_token",
    "run",
    "set_role",
]

if not TYPE_CHECKING:  # type checkers read the names from the imports above
    __getattr__, __dir__ = exports(__name__)

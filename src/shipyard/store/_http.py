"""The one HTTP client of remote mode: every HTTP store implementation talks through it.

With ``SHIPYARD_URL`` set (``shipyard.config``), the tracking, data and model stores and the
artifact store are HTTP implementations of their interfaces that call the platform server's
REST API (``shipyard server``) with this client. It keeps one connection pool per process,
sends ``SHIPYARD_TOKEN`` as a bearer token, encodes and decodes JSON with orjson, and turns
an error answer (``{"error": message}`` with the status of its kind) back into the
:class:`~shipyard.errors.ShipyardError` the server raised, so a remote call fails the way
the local call does. A server that cannot be reached is one :class:`Unavailable` line naming
the URL.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx
import orjson

from shipyard import errors
from shipyard.config import get_settings, on_reset

__all__ = ["RemoteClient", "remote_client"]

#: the error class an error answer's status stands for (the inverse of ``http_status``)
_BY_STATUS: dict[int, type[errors.ShipyardError]] = {
    400: errors.InvalidRequest,
    401: errors.Unauthorized,
    403: errors.Forbidden,
    404: errors.NotFound,
    409: errors.Conflict,
    413: errors.PayloadTooLarge,
    422: errors.InvalidInput,
    429: errors.TooManyRequests,
    503: errors.Unavailable,
}


class RemoteClient:
    """JSON over HTTP to a platform server, errors raised as Shipyard's own.

    ``get``/``post``/``put``/``delete`` take a path below the base URL (``/api/runs/abc``),
    query parameters and a JSON body, and return the decoded answer (None for an empty one).
    ``stream`` opens a response for reading in chunks (downloads). Thread-safe: httpx's
    client pools connections across threads.
    """

    def __init__(self, url: str, token: str | None = None, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    @property
    def http(self) -> httpx.Client:
        """The pooled httpx client, made on first use."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    headers = {"User-Agent": "shipyard-sdk"}
                    if self.token:
                        headers["Authorization"] = f"Bearer {_checked(self.token)}"
                    self._client = httpx.Client(
                        base_url=self.url, headers=headers, timeout=self.timeout
                    )
        return self._client

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | Iterator[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Send one request; the decoded JSON answer (None when empty), or the error raised."""
        sent = dict(headers or {})
        if json is not None:
            content = orjson.dumps(json, option=orjson.OPT_SERIALIZE_NUMPY)
            sent["Content-Type"] = "application/json"
        try:
            response = self.http.request(
                method, path, params=_query(params), content=content, headers=sent
            )
        except httpx.HTTPError as exc:
            raise self.unreachable(exc) from None
        return self.answer(response)

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, json: Any = None, **params: Any) -> Any:
        return self.request("POST", path, params=params, json=json if json is not None else {})

    def put(self, path: str, json: Any = None, **params: Any) -> Any:
        return self.request("PUT", path, params=params, json=json if json is not None else {})

    def delete(self, path: str, **params: Any) -> Any:
        return self.request("DELETE", path, params=params)

    def pages(self, path: str, **params: Any) -> Iterator[Any]:
        """Every item of a paginated listing (``{"items": [...], "next_page_token": ...}``),
        page after page."""
        token: str | None = None
        while True:
            page = self.get(path, **params, page_token=token)
            yield from page["items"]
            token = page.get("next_page_token")
            if not token:
                return

    @contextmanager
    def stream(self, method: str, path: str, **kwargs: Any) -> Iterator[httpx.Response]:
        """An open response whose body is read in chunks (``iter_bytes``); errors raised."""
        try:
            with self.http.stream(method, path, **kwargs) as response:
                if response.status_code >= 400:
                    response.read()
                    self.answer(response)
                yield response
        except httpx.HTTPError as exc:
            raise self.unreachable(exc) from None

    def unreachable(self, exc: Exception) -> errors.Unavailable:
        """The one line for a server that cannot be reached."""
        why = str(exc) or type(exc).__name__
        return errors.Unavailable(f"SHIPYARD_URL: cannot reach the server at {self.url} ({why}).")

    def answer(self, response: httpx.Response) -> Any:
        """The decoded body of a success; the error an error answer stands for, raised."""
        status = response.status_code
        if status < 400:
            try:
                return orjson.loads(response.content) if response.content else None
            except orjson.JSONDecodeError:
                raise self.foreign(response, "a body that is not JSON") from None
        try:
            message = str(orjson.loads(response.content)["error"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            if status in (404, 405):
                raise self.foreign(response, f"{status} {response.reason_phrase}") from None
            message = f"the server answered {status} {response.reason_phrase}"
        if status == 404 and message == "Not Found":  # no such route: not a Shipyard base URL
            raise self.foreign(response, "404, no such route")
        kind = _BY_STATUS.get(status, errors.ShipyardError)
        if status in (502, 504):  # a proxy in front that could not reach the server
            kind = errors.Unavailable
        if kind is errors.Unauthorized and not self.token:
            message += " (set SHIPYARD_TOKEN)"
        raise kind(message)

    def foreign(self, response: httpx.Response, what: str) -> errors.ShipyardError:
        """The one line for an answer no Shipyard server gives: SHIPYARD_URL names
        something else (another service, a path too many)."""
        asked = f"{response.request.method} {response.request.url.path}"
        kind = errors.NotFound if response.status_code == 404 else errors.ShipyardError
        return kind(
            f"SHIPYARD_URL: {self.url} answered {asked} with {what}: expected a Shipyard "
            "platform server's base URL (shipyard server; http://host:8700, without /api)."
        )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _checked(token: str) -> str:
    """The token, when it can travel in a header (printable ASCII, no spaces); else one line
    naming SHIPYARD_TOKEN (the token itself is not shown: it is a secret)."""
    if not (token.isascii() and token.isprintable()) or any(c.isspace() for c in token):
        raise errors.InvalidInput(
            "SHIPYARD_TOKEN: expected a token as `shipyard tokens create` prints it (syt_..., "
            "printable ASCII without spaces); this one is not: copy it again."
        )
    return token


def _query(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Query parameters without the ones left out (None); booleans as ``true``/``false``."""
    if not params:
        return None
    return {
        k: ("true" if v else "false") if isinstance(v, bool) else v
        for k, v in params.items()
        if v is not None
    }


_client: RemoteClient | None = None
_client_lock = threading.Lock()


def remote_client() -> RemoteClient:
    """The client of this process's platform server (``SHIPYARD_URL``, ``SHIPYARD_TOKEN``).

    Raises InvalidInput when the settings are not in remote mode."""
    global _client
    with _client_lock:
        if _client is None:
            settings = get_settings()
            if settings.url is None:
                raise errors.InvalidInput("SHIPYARD_URL: not set (the store is local).")
            _client = RemoteClient(settings.url, settings.token)
        return _client


def _forget() -> None:
    global _client
    with _client_lock:
        if _client is not None:
            _client.close()
        _client = None


on_reset(_forget)

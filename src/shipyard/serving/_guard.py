"""What a browser could be made to send, refused before any route sees it (both apps).

The servers run without keys by default, so a page open in the operator's browser must not
be able to change anything through them, nor read them by DNS rebinding. :class:`Guard` is
one pure ASGI middleware (a scan of the headers per request, no allocation on the way
through) that applies three rules:

* **Host.** Accepted: any IP address (``127.0.0.1:8080``, ``[::1]``, ``10.0.0.5``: a
  rebound name is never an address), ``localhost``, this machine's hostname, the name the
  server was bound to, and the names given (``--allow-host``; ``*.example.com`` for
  subdomains, ``*`` for any, e.g. behind a proxy that checks). Anything else is a name some
  other site may point at this server: 400. A request with no ``Host`` (HTTP/1.0) passes:
  browsers always send one.
* **Origin**, on state-changing requests (anything but GET, HEAD, OPTIONS): a browser sends
  it with every cross-origin one. Accepted when it names the server itself (the same host
  and port as ``Host``) or an origin given (``--allow-origin``; ``*`` for any); otherwise
  403. A CORS preflight from an allowed origin is answered (204), and answers to it carry
  ``Access-Control-Allow-Origin``.
* **Content-Type**, on state-changing requests: JSON (``application/json``, ``+json``)
  passes. The Open Inference Protocol's infer routes also take no Content-Type (tritonclient
  sends none) and ``application/octet-stream`` (binary tensors). Anything else, forms and
  ``text/plain`` above all (what a page may send cross-site without asking), is 415. With no
  Content-Type, another route is accepted only with an empty body (``POST .../ack`` from
  curl): it carries nothing, and the Origin rule stands for it. A compressed body
  (``Content-Encoding`` other than ``identity``) is 415 too: bodies are read as sent.

:func:`exposure` is the rule at startup: no keys beyond this machine only with ``insecure``.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shipyard.errors import InvalidInput

__all__ = ["BodyLimit", "Guard", "HostRule", "NoFraming", "exposure", "is_loopback"]

_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
_JSON = b"application/json"
_BINARY = b"application/octet-stream"
_CORS_METHODS = b"GET, HEAD, POST, PUT, PATCH, DELETE"
_CORS_HEADERS = (
    b"authorization, content-type, x-api-key, x-request-id, inference-header-content-length"
)
_MAX_REMEMBERED = 1024  # Host values whose verdict is kept (beyond: judged every time)


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the server on this machine."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def exposure(host: str, *, auth: bool, insecure: bool) -> str | None:
    """The startup rule of both servers: InvalidInput (before anything binds) for a server
    without keys on an address other than loopback unless ``insecure``; otherwise the
    one-line warning to print when keys are off (None with them)."""
    if auth:
        return None
    if not is_loopback(host) and not insecure:
        raise InvalidInput(
            f"Refusing to serve without API keys on {host} (reachable from other machines): "
            "add --auth (keys from `shipyard keys create`), or --insecure to serve it open."
        )
    reach = "this machine" if is_loopback(host) else f"anyone who reaches {host}"
    return f"WARNING: auth is off (no --auth): {reach} may call every endpoint without a key."


class HostRule:
    """Which ``Host`` values a server answers (see the module docstring). Verdicts are
    remembered per value, so the hot path is one dictionary lookup."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        given = [n.strip().lower() for n in names if n.strip()]
        self.any = "*" in given
        self.suffixes = tuple(n[1:] for n in given if n.startswith("*."))  # ".example.com"
        self.exact = {n for n in given if not n.startswith("*")}
        self.exact.update({"localhost", socket.gethostname().lower()})
        self.seen: dict[bytes, bool] = {}  # verdicts by Host value

    def allows(self, host: bytes) -> bool:
        verdict = self.seen.get(host)
        if verdict is None:
            verdict = self._judge(host)
            if len(self.seen) < _MAX_REMEMBERED:
                self.seen[host] = verdict
        return verdict

    def _judge(self, host: bytes) -> bool:
        try:
            text = host.decode("ascii").strip().lower()
        except UnicodeDecodeError:
            return False
        if text.startswith("["):  # [v6]:port
            name, _, rest = text[1:].partition("]")
            if rest and not (rest.startswith(":") and rest[1:].isdigit()):
                return False
        else:
            name, colon, port = text.rpartition(":") if text.count(":") == 1 else (text, "", "")
            name = name if colon else text
            if colon and not port.isdigit():
                return False
        if not name:
            return False
        try:
            ipaddress.ip_address(name)
            return True
        except ValueError:
            pass
        name = name.rstrip(".")
        return self.any or name in self.exact or name.endswith(self.suffixes or ("\0",))


class Guard:
    """The middleware (see the module docstring). ``hosts``: names accepted beyond the
    default ones; ``origins``: origins (``https://app.example.com``) allowed to change
    things and answered CORS; ``untyped``: paths that also take no Content-Type or
    ``application/octet-stream`` (the infer routes)."""

    def __init__(
        self,
        app: ASGIApp,
        hosts: Iterable[str] = (),
        origins: Iterable[str] = (),
        untyped: Callable[[str], bool] | None = None,
    ) -> None:
        self.app = app
        self.hosts = HostRule(hosts)
        self._good = self.hosts.seen  # Host values known good: one lookup on the hot path
        allowed = [o.strip().rstrip("/").lower() for o in origins if o.strip()]
        self.any_origin = "*" in allowed
        self.origins = frozenset(o.encode() for o in allowed if o != "*")
        self.untyped = untyped or (lambda _path: False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = origin = kind = length = chunked = preflight = encoding = None
        for name, value in scope["headers"]:
            if name == b"host":
                host = value
            elif name == b"content-type":
                kind = value
            elif name == b"origin":
                origin = value
            elif name == b"content-length":
                length = value
            elif name == b"transfer-encoding":
                chunked = value
            elif name == b"access-control-request-method":
                preflight = value
            elif name == b"content-encoding":
                encoding = value
        if host is not None and self._good.get(host) is not True and not self.hosts.allows(host):
            shown = host.decode("latin-1")[:100]
            await _refuse(
                send, 400, f"Host {shown!r} is not a name this server answers to; "
                "start it with --allow-host NAME to add one."
            )  # fmt: skip
            return
        method = scope["method"]
        if encoding is not None and method not in _SAFE and not _identity(encoding):
            # bodies are read as they are: a gzip body was a confusing "not valid JSON" (400)
            shown = encoding.decode("latin-1")[:100]
            await _refuse(
                send, 415, f"Content-Encoding {shown!r} is not accepted: send the body "
                "uncompressed (no Content-Encoding)."
            )  # fmt: skip
            return
        if origin is not None:
            typed = (kind, length, chunked)
            await self._with_origin(scope, receive, send, origin, host, preflight, typed)
            return
        if kind == _JSON or method in _SAFE:  # the common case, decided at once
            await self.app(scope, receive, send)
            return
        why = self._typed(scope["path"], kind, length, chunked)
        if why is None:
            await self.app(scope, receive, send)
            return
        await _refuse(send, 415, why)

    def _typed(
        self, path: str, kind: bytes | None, length: bytes | None, chunked: bytes | None
    ) -> str | None:
        """None when a state-changing request's Content-Type passes; else why not."""
        if kind == _JSON:
            return None
        if kind is None:
            if self.untyped(path) or (chunked is None and length in (None, b"0")):
                return None
            return "A body needs 'Content-Type: application/json'."
        media = kind.split(b";", 1)[0].strip().lower()
        if media == _JSON or media.endswith(b"+json"):
            return None
        if media == _BINARY and self.untyped(path):
            return None
        shown = media.decode("latin-1")[:100]
        return (
            f"Content-Type {shown!r} is not accepted: send JSON with "
            "'Content-Type: application/json'."
        )

    async def _with_origin(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        origin: bytes,
        host: bytes | None,
        preflight: bytes | None,
        typed: tuple[bytes | None, bytes | None, bytes | None],
    ) -> None:
        """A request carrying Origin: cross-origin changes refused, CORS for allowed ones."""
        normal = origin.rstrip(b"/").lower()
        listed = self.any_origin or normal in self.origins
        method = scope["method"]
        same = host is not None and normal.partition(b"://")[2] == host.lower()
        if method == "OPTIONS" and preflight is not None:
            if not listed:
                await _refuse(send, 403, _cross(origin))
                return
            await send(
                {
                    "type": "http.response.start",
                    "status": 204,
                    "headers": [
                        *_cors(origin),
                        (b"access-control-allow-methods", _CORS_METHODS),
                        (b"access-control-allow-headers", _CORS_HEADERS),
                        (b"access-control-max-age", b"600"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        if method not in _SAFE:
            if not (listed or same):
                await _refuse(send, 403, _cross(origin))
                return
            why = self._typed(scope["path"], *typed)
            if why is not None:
                await _refuse(send, 415, why)
                return
        if not listed:
            await self.app(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *_cors(origin)]}
            await send(message)

        await self.app(scope, receive, send_with_cors)


class BodyLimit:
    """Refuse a request body above ``max_body`` bytes (413) before any route reads it:
    FastAPI reads a route's whole body before its dependencies run, the role check
    included, so without this anyone, signed in or not, could make the server hold a
    body of any size in memory. A ``Content-Length`` above the bound is refused at once;
    a chunked body is counted as it arrives and cut at the bound. ``exempt``: paths whose
    routes stream and bound their bodies themselves (the blob upload chunks)."""

    def __init__(
        self, app: ASGIApp, max_body: int, exempt: Callable[[str], bool] | None = None
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.exempt = exempt or (lambda _path: False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _SAFE or self.exempt(scope["path"]):
            await self.app(scope, receive, send)
            return
        length = next((v for n, v in scope["headers"] if n == b"content-length"), b"")
        if length.isdigit() and (len(length) > 18 or int(length) > self.max_body):
            await _refuse(send, 413, self._message())
            return
        over = started = False
        received = 0

        async def counted() -> Message:
            nonlocal over, received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    over = True
                    return {"type": "http.disconnect"}  # the route stops reading
            return message

        async def answered(message: Message) -> None:
            nonlocal started
            if over:
                return  # the app's answer to a body it never got whole: 413 below
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, answered)
        except Exception:
            if not over:
                raise
        if over and not started:
            await _refuse(send, 413, self._message())

    def _message(self) -> str:
        return (
            f"body: more than {self.max_body:,} bytes; this server takes at most that in "
            "one request."
        )


class NoFraming:
    """Every answer tells the browser not to show it inside another site's frame
    (``X-Frame-Options: DENY``, ``Content-Security-Policy: frame-ancestors 'none'``) and not
    to guess its type (``X-Content-Type-Options: nosniff``). A page of the web UI framed by
    another site could otherwise be clicked through by a person who sees only the other
    site (the Promote or Roll back button under a decoy): the click is the UI's own,
    same-origin request, which the Origin rule lets through."""

    HEADERS = (
        (b"x-frame-options", b"DENY"),
        (b"content-security-policy", b"frame-ancestors 'none'"),
        (b"x-content-type-options", b"nosniff"),
    )

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_framed(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                named = {name.lower() for name, _ in headers}
                headers += [(n, v) for n, v in self.HEADERS if n not in named]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_framed)


def _identity(encoding: bytes) -> bool:
    """Whether a Content-Encoding leaves the body as it is (``identity``, or none named)."""
    return encoding.strip().lower() in (b"", b"identity")


def _cross(origin: bytes) -> str:
    shown = origin.decode("latin-1")[:100]
    return (
        f"Origin {shown!r} may not change anything here: a cross-origin request; start the "
        "server with --allow-origin ORIGIN to allow it."
    )


def _cors(origin: bytes) -> list[tuple[bytes, bytes]]:
    return [
        (b"access-control-allow-origin", origin),
        (b"access-control-expose-headers", b"x-request-id"),
        (b"vary", b"Origin"),
    ]


async def _refuse(send: Send, status: int, message: str) -> None:
    body = orjson.dumps({"error": message})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})

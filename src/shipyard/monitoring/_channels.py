"""Where alerts go: the log, a webhook (HTTP POST of JSON), e-mail (SMTP).

Each kind of channel is one entry of :data:`CHANNELS` (a :class:`Channel`: its scheme, how
its target is checked, how a notice is sent and retried); :func:`parse_channel` (when a
monitor is created) and :func:`send` look the scheme up there. ``send(channel, event,
alert)`` delivers one notice (``opened`` or ``resolved``) and returns what happened; it
never raises, so a channel that is down costs a failed delivery (recorded on the alert),
never the alert.

To add a channel: write a class with the fields of :class:`Channel` and put an instance in
:data:`CHANNELS`; the battery ``shipyard.testing.channels`` checks it with the others.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from shipyard.errors import InvalidInput

__all__ = ["CHANNELS", "Channel", "Delivery", "Receiver", "finite", "parse_channel", "send"]

log = logging.getLogger("shipyard.alerts")

TIMEOUT = 5.0


@dataclass(frozen=True)
class Receiver:
    """A receiver of one channel's notices on this machine, for its contract tests: the
    channel string that reaches it, and what it has received so far (per notice: its
    event and alert id)."""

    channel: str
    received: Callable[[], list[tuple[str, int]]]


class Channel(Protocol):
    """One kind of alert channel (the part of ``kind:target`` before the colon).

    Contract (checked for every entry by ``shipyard.testing.channels``): ``problem`` says
    what is wrong with a target in a few words ("" when it is fine; None stands for no
    target) and never raises; ``send`` delivers one notice or raises (any exception: the
    caller records a failed delivery), retrying as its entry says; both are thread-safe.
    """

    @property
    def scheme(self) -> str:
        """The channel's kind: the text before the colon (``webhook``)."""

    @property
    def usage(self) -> str:
        """What a channel of this kind looks like (``webhook:https://host/path``)."""

    @property
    def attempts(self) -> int:
        """Deliveries tried at most for one notice."""

    def problem(self, target: str | None) -> str:
        """What is wrong with the target ("" when nothing)."""
        ...

    def send(self, target: str, event: str, alert: dict[str, Any]) -> None:
        """Deliver one notice (``event``: opened or resolved) about ``alert``."""
        ...

    def receiver(self) -> AbstractContextManager[Receiver] | None:
        """A receiver on 127.0.0.1 to test sending with (None: none offline)."""
        ...


@dataclass(frozen=True)
class Delivery:
    channel: str
    event: str
    at: float
    ok: bool
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "event": self.event,
            "at": self.at,
            "ok": self.ok,
            "error": self.error,
        }


def parse_channel(channel: str) -> str:
    """``channel`` when it names a known kind with a valid target.

    Raises:
        InvalidInput: one line naming the field (``channels``), what is wrong and the
            channels there are.
    """
    scheme, colon, target = str(channel).partition(":")
    entry = CHANNELS.get(scheme)
    if entry is None:
        problem = f"no channel of kind {scheme!r}"
    else:
        problem = entry.problem(target if colon else None)
    if problem:
        usages = [f"'{c.usage}'" for c in CHANNELS.values()]
        choices = ", ".join(usages[:-1]) + " or " + usages[-1] if len(usages) > 1 else usages[0]
        raise InvalidInput(f"channels: {channel!r} is not a channel ({problem}); use {choices}.")
    return str(channel)


def send(channel: str, event: str, alert: dict[str, Any]) -> Delivery:
    """Deliver one notice about ``alert`` (its ``to_dict()``) on ``channel``."""
    scheme, _, target = channel.partition(":")
    try:
        entry = CHANNELS.get(scheme)
        if entry is None:
            raise ValueError(f"unknown channel {channel!r}")
        entry.send(target, event, alert)
    except Exception as exc:  # a channel down must not lose the alert: recorded, logged
        log.warning("alert %s: %s on %s failed: %s", alert.get("id"), event, channel, exc)
        return Delivery(channel, event, time.time(), False, f"{type(exc).__name__}: {exc}")
    return Delivery(channel, event, time.time(), True)


def finite(value: Any) -> Any:
    """``value`` with every non-finite float (also inside lists and dicts) made None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # NumPy scalars
        try:
            return finite(value.item())
        except (TypeError, ValueError):
            return str(value)
    return value


def subject(event: str, alert: dict[str, Any]) -> str:
    return f"[shipyard] {event}: {alert['monitor']} — {alert['title']}"


# -- the channels --------------------------------------------------------------------------


class LogChannel:
    """``log``: a WARNING (opened) or INFO (resolved) record on the ``shipyard.alerts``
    logger, the whole alert riding along as the record's ``alert`` attribute."""

    scheme = "log"
    usage = "log"
    attempts = 1

    def problem(self, target: str | None) -> str:
        return "" if target is None else "log takes no target"

    def send(self, target: str, event: str, alert: dict[str, Any]) -> None:
        level = logging.INFO if event == "resolved" else logging.WARNING
        log.log(
            level,
            "%s (shipyard alerts show %s)",
            subject(event, alert),
            alert["id"],
            extra={"alert": alert, "event": event},  # whole, for structured log handlers
        )

    @contextmanager
    def _capture(self) -> Iterator[Receiver]:
        seen: list[tuple[str, int]] = []

        class Keep(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                alert = getattr(record, "alert", None)
                if isinstance(alert, dict):
                    seen.append((str(getattr(record, "event", "")), int(alert["id"])))

        handler = Keep()
        log.addHandler(handler)
        try:
            yield Receiver("log", lambda: list(seen))
        finally:
            log.removeHandler(handler)

    def receiver(self) -> AbstractContextManager[Receiver] | None:
        return self._capture()


class WebhookChannel:
    """``webhook:https://host/path``: POST ``{"event": ..., "alert": {...}}`` (strict JSON);
    three attempts with a short back-off when the connection fails or the answer is 429 or
    5xx, none after a timeout once connected (the receiver may have the notice already).
    With ``SHIPYARD_WEBHOOK_SECRET`` set, ``X-Shipyard-Signature: sha256=<hex>`` is the HMAC
    of the body."""

    scheme = "webhook"
    usage = "webhook:https://host/path"
    attempts = 3
    backoff = 0.5  # seconds before the second attempt, doubling after

    def problem(self, target: str | None) -> str:
        if target and re.match(r"https?://[^\s/]+", target):
            return ""
        return "a webhook needs an http:// or https:// URL"

    def send(self, target: str, event: str, alert: dict[str, Any]) -> None:
        _webhook(target, event, alert, self.attempts, self.backoff)

    def receiver(self) -> AbstractContextManager[Receiver] | None:
        return _http_receiver()


class EmailChannel:
    """``email:ops@example.org[,other@example.org]``: through the SMTP server of the
    settings (``SHIPYARD_SMTP_URL``: ``smtp://[user:password@]host[:port]``, ``smtps://``
    for TLS, ``smtp+starttls://``); one attempt."""

    scheme = "email"
    usage = "email:ops@example.org[,other@example.org]"
    attempts = 1

    def problem(self, target: str | None) -> str:
        if target and all(re.fullmatch(r"[^@\s,]+@[^@\s,]+", a.strip()) for a in target.split(",")):
            return ""
        return "e-mail needs addresses like ops@example.org, comma-separated"

    def send(self, target: str, event: str, alert: dict[str, Any]) -> None:
        _email([a.strip() for a in target.split(",")], event, alert)

    def receiver(self) -> AbstractContextManager[Receiver] | None:
        return _smtp_receiver()


CHANNELS: dict[str, Channel] = {
    entry.scheme: entry for entry in (LogChannel(), WebhookChannel(), EmailChannel())
}


# -- sending -------------------------------------------------------------------------------


def _webhook(url: str, event: str, alert: dict[str, Any], attempts: int, backoff: float) -> None:
    import httpx

    body = json.dumps(
        finite({"event": event, "alert": alert}), default=str, allow_nan=False
    ).encode()
    headers = {"Content-Type": "application/json", "X-Shipyard-Event": event}
    secret = os.environ.get("SHIPYARD_WEBHOOK_SECRET")
    if secret:
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        headers["X-Shipyard-Signature"] = f"sha256={digest}"
    problem = ""
    for attempt in range(attempts):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        try:
            response = httpx.post(url, content=body, headers=headers, timeout=TIMEOUT)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            problem = f"{type(exc).__name__}: {exc}"
            continue  # nothing reached the receiver: ask again
        except httpx.HTTPError as exc:  # it may have the body already: no duplicate notice
            problem = f"{type(exc).__name__}: {exc}"
            break
        if response.status_code < 300:
            return
        problem = f"HTTP {response.status_code}"
        if response.status_code != 429 and response.status_code < 500:
            break  # the receiver refused the notice: asking again will not change that
    raise RuntimeError(f"webhook {url} answered {problem}")


def _email(recipients: list[str], event: str, alert: dict[str, Any]) -> None:
    import smtplib

    from shipyard.config import get_settings

    settings = get_settings()
    url = urlsplit(settings.smtp_url)
    if url.scheme not in ("smtp", "smtps", "smtp+starttls") or not url.hostname:
        raise ValueError(
            f"SHIPYARD_SMTP_URL must look like smtp://host:25 (or smtps://, smtp+starttls://); "
            f"got {settings.smtp_url!r}"
        )
    message = EmailMessage()
    message["Subject"] = subject(event, alert)
    message["From"] = settings.smtp_from
    message["To"] = ", ".join(recipients)
    message.set_content(_text(event, alert))
    secure = url.scheme == "smtps"
    port = url.port or (465 if secure else 587 if url.scheme == "smtp+starttls" else 25)
    client = smtplib.SMTP_SSL if secure else smtplib.SMTP
    with client(url.hostname, port, timeout=TIMEOUT) as server:
        if url.scheme == "smtp+starttls":
            server.starttls()
        if url.username:
            server.login(unquote(url.username), unquote(url.password or ""))
        server.send_message(message)


def _text(event: str, alert: dict[str, Any]) -> str:
    lines = [
        f"Monitor {alert['monitor']} ({alert.get('target', '')}): {alert['title']}",
        f"Alert {alert['id']} {event}; status {alert['status']}, "
        f"seen {alert['occurrences']} time(s).",
        "",
        "Evidence:",
        json.dumps(alert.get("evidence", {}), indent=2, default=str),
        "",
        f"Acknowledge: shipyard alerts acknowledge {alert['id']}",
        f"Resolve:     shipyard alerts resolve {alert['id']}",
    ]
    return "\n".join(lines)


# -- receivers on 127.0.0.1, for the contract tests ---------------------------------------


@contextmanager
def _http_receiver() -> Iterator[Receiver]:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: list[tuple[str, int]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            notice = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append((str(notice["event"]), int(notice["alert"]["id"])))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        yield Receiver(f"webhook:http://127.0.0.1:{port}/alerts", lambda: list(seen))
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextmanager
def _smtp_receiver() -> Iterator[Receiver]:
    """An SMTP server on 127.0.0.1 (aiosmtpd), the settings pointed at it meanwhile."""
    import socket

    from aiosmtpd.controller import Controller

    from shipyard.config import reset_settings

    seen: list[tuple[str, int]] = []

    class Inbox:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            found = re.search(r"Alert (\d+) (\w+);", envelope.content.decode())
            if found:
                seen.append((found.group(2), int(found.group(1))))
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Inbox(), hostname="127.0.0.1", port=port)
    controller.start()
    before = os.environ.get("SHIPYARD_SMTP_URL")
    os.environ["SHIPYARD_SMTP_URL"] = f"smtp://127.0.0.1:{port}"
    reset_settings()
    try:
        yield Receiver("email:ops@example.org", lambda: list(seen))
    finally:
        controller.stop()
        if before is None:
            os.environ.pop("SHIPYARD_SMTP_URL", None)
        else:
            os.environ["SHIPYARD_SMTP_URL"] = before
        reset_settings()

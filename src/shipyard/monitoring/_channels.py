"""Where alerts go: the log, a webhook (HTTP POST of JSON), e-mail (SMTP).

``send(channel, event, alert)`` delivers one notice (``opened`` or ``resolved``) and
returns what happened; it never raises, so a channel that is down costs a failed delivery
(recorded on the alert), never the alert.

- ``log``: a WARNING (opened) or INFO (resolved) record on the ``shipyard.alerts`` logger;
  the whole alert rides along as the record's ``alert`` attribute.
- ``webhook:https://host/path``: POST ``{"event": ..., "alert": {...}}`` (strict JSON);
  three attempts with a short back-off when the connection fails or the answer is 429 or
  5xx, none after a timeout once connected (the receiver may have the notice already).
  With ``SHIPYARD_WEBHOOK_SECRET`` set, ``X-Shipyard-Signature: sha256=<hex>`` is the HMAC
  of the body, so the receiver can tell the notice came from here.
- ``email:ops@example.org[,other@example.org]``: through the SMTP server of the settings
  (``SHIPYARD_SMTP_URL``: ``smtp://[user:password@]host[:port]``, ``smtps://`` for TLS,
  ``smtp+starttls://``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import os
import time
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote, urlsplit

__all__ = ["Delivery", "finite", "send"]

log = logging.getLogger("shipyard.alerts")

ATTEMPTS = 3
TIMEOUT = 5.0


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


def send(channel: str, event: str, alert: dict[str, Any]) -> Delivery:
    """Deliver one notice about ``alert`` (its ``to_dict()``) on ``channel``."""
    kind, _, target = channel.partition(":")
    try:
        if kind == "log":
            _log(event, alert)
        elif kind == "webhook":
            _webhook(target, event, alert)
        elif kind == "email":
            _email([a.strip() for a in target.split(",")], event, alert)
        else:
            raise ValueError(f"unknown channel {channel!r}")
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


def _log(event: str, alert: dict[str, Any]) -> None:
    level = logging.INFO if event == "resolved" else logging.WARNING
    log.log(
        level,
        "%s (shipyard alerts show %s)",
        subject(event, alert),
        alert["id"],
        extra={"alert": alert, "event": event},  # whole, for structured log handlers
    )


def _webhook(url: str, event: str, alert: dict[str, Any]) -> None:
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
    for attempt in range(ATTEMPTS):
        if attempt:
            time.sleep(0.5 * 2 ** (attempt - 1))
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
        f"Acknowledge: shipyard alerts ack {alert['id']}",
        f"Resolve:     shipyard alerts resolve {alert['id']}",
    ]
    return "\n".join(lines)

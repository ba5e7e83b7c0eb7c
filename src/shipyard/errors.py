"""Every error Shipyard raises on purpose, in one hierarchy.

::

    ShipyardError                   500  something failed that is not the caller's fault
    ├── InvalidRequest (ValueError) 400  a request body that is not what the protocol describes
    ├── Unauthorized                401  no API key, or one unknown or revoked
    ├── Forbidden                   403  a key without the scope the request needs
    ├── NotFound (LookupError)      404  a name, id or version that does not exist
    ├── Conflict                    409  the request contradicts what is already stored
    ├── PayloadTooLarge             413  a request body over the server's limit
    ├── InvalidInput (ValueError)   422  a value of the wrong type, shape or range
    │   └── InvalidFilter                a search filter or order-by that does not parse
    ├── TooManyRequests             429  a key's rate limit reached (``retry_after`` seconds)
    ├── Unavailable                 503  nothing ready to answer yet, or overloaded
    ├── IntegrityError              500  stored content does not match its recorded hash
    └── StoreVersionError           500  the metadata store's schema is not the one this code knows

Messages say what failed, the value, what was expected and the next step. Library
exceptions (SQLAlchemy, fsspec) are translated where the library is called and never
escape a backend. Servers answer every one of them with its ``http_status`` and
``http_headers`` as ``{"error": message}``.
"""

from __future__ import annotations

__all__ = [
    "Conflict",
    "Forbidden",
    "IntegrityError",
    "InvalidFilter",
    "InvalidInput",
    "InvalidRequest",
    "NotFound",
    "PayloadTooLarge",
    "ShipyardError",
    "StoreVersionError",
    "TooManyRequests",
    "Unauthorized",
    "Unavailable",
]


class ShipyardError(Exception):
    """Base of every error Shipyard raises on purpose."""

    http_status = 500

    @property
    def http_headers(self) -> dict[str, str]:
        """Headers an HTTP answer carrying this error adds (none by default)."""
        return {}


class NotFound(ShipyardError, LookupError):
    """A name, id or version that does not exist."""

    http_status = 404


class Conflict(ShipyardError):
    """The request contradicts what is already stored (e.g. a param re-logged with a new value)."""

    http_status = 409


class InvalidInput(ShipyardError, ValueError):
    """A value of the wrong type, shape or range; the message names the field."""

    http_status = 422


class InvalidFilter(InvalidInput):
    """A search filter or order-by clause that does not parse.

    Attributes:
        text: the whole filter as given.
        position: character offset of the offending token in ``text``.
    """

    def __init__(self, message: str, text: str, position: int, length: int = 1) -> None:
        self.text = text
        self.position = position
        pointer = " " * position + "^" * max(1, length)
        super().__init__(f"{message}\n  {text}\n  {pointer}")


class InvalidRequest(ShipyardError, ValueError):
    """A request body that is not what the protocol describes (not JSON, a malformed
    tensor): answered 400, where a value the model's signature refuses is 422."""

    http_status = 400


class Unauthorized(ShipyardError):
    """No API key, or a key that is unknown or revoked."""

    http_status = 401

    @property
    def http_headers(self) -> dict[str, str]:
        return {"www-authenticate": "Bearer"}


class Forbidden(ShipyardError):
    """A valid key that lacks the scope the request needs."""

    http_status = 403


class PayloadTooLarge(ShipyardError):
    """A request body larger than the server accepts."""

    http_status = 413


class _RetryLater(ShipyardError):
    """An error the caller may retry after ``retry_after`` seconds (None: unsaid)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    @property
    def http_headers(self) -> dict[str, str]:
        if self.retry_after is None:
            return {}
        return {"retry-after": str(max(1, round(self.retry_after)))}


class TooManyRequests(_RetryLater):
    """A rate limit reached; ``retry_after`` says when the next request may go."""

    http_status = 429


class Unavailable(_RetryLater):
    """Nothing is ready to answer (no model loaded yet), or the server is overloaded."""

    http_status = 503


class IntegrityError(ShipyardError):
    """Stored content does not match the hash it was recorded under."""


class StoreVersionError(ShipyardError):
    """The metadata store was written by a newer (or unknown) version of Shipyard."""

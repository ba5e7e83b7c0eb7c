"""Every error Shipyard raises on purpose, in one hierarchy.

::

    ShipyardError                 500  something failed that is not the caller's fault
    ├── NotFound (LookupError)    404  a name, id or version that does not exist
    ├── Conflict                  409  the request contradicts what is already stored
    ├── InvalidInput (ValueError) 422  a value of the wrong type, shape or range
    │   └── InvalidFilter              a search filter or order-by that does not parse
    ├── IntegrityError            500  stored content does not match its recorded hash
    └── StoreVersionError         500  the metadata store's schema is not the one this code knows

Messages say what failed, the value, what was expected and the next step. Library
exceptions (SQLAlchemy, fsspec) are translated where the library is called and never
escape a backend.
"""

from __future__ import annotations

__all__ = [
    "Conflict",
    "IntegrityError",
    "InvalidFilter",
    "InvalidInput",
    "NotFound",
    "ShipyardError",
    "StoreVersionError",
]


class ShipyardError(Exception):
    """Base of every error Shipyard raises on purpose."""

    http_status = 500


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


class IntegrityError(ShipyardError):
    """Stored content does not match the hash it was recorded under."""


class StoreVersionError(ShipyardError):
    """The metadata store was written by a newer (or unknown) version of Shipyard."""

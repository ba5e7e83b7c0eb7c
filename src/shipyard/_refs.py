"""References to versioned things, one rule everywhere: ``name@3``, ``name@v3``, ``name@latest``,
``name@alias``; a bare ``name`` means the latest version."""

from __future__ import annotations

import re
from dataclasses import dataclass

from shipyard.errors import InvalidInput

__all__ = ["NAME_PATTERN", "Ref", "check_name", "parse_ref"]

NAME_PATTERN = r"[A-Za-z][A-Za-z0-9_\-.]{0,127}"
_NAME = re.compile(rf"\A{NAME_PATTERN}\Z")
MAX_VERSION = 2**31 - 1
_SELECTOR = re.compile(r"\A[A-Za-z0-9_\-.]{1,64}\Z")


@dataclass(frozen=True)
class Ref:
    """A parsed reference: a version number, or an alias (``latest`` included)."""

    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}@{self.version}"
        return f"{self.name}@{self.alias or 'latest'}"


def check_name(kind: str, name: object) -> str:
    """A name for a dataset, model or deployment: a letter, then letters, digits, ``_-.``."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidInput(
            f"{kind} name {name!r} is not valid: expected a letter followed by up to 127 "
            "letters, digits, '_', '-' or '.'."
        )
    return name


def parse_ref(kind: str, ref: object) -> Ref:
    """Parse ``name[@selector]``; ``@v3`` is the same as ``@3``.

    Example:
        >>> parse_ref("Dataset", "loans@v3")
        Ref(name='loans', version=3, alias=None)
    """
    if not isinstance(ref, str):
        raise InvalidInput(f"{kind} reference must be a string like 'name@3', got {ref!r}.")
    name, at, selector = ref.partition("@")
    check_name(kind, name)
    if not at or selector == "latest":
        return Ref(name, alias="latest")
    if not _SELECTOR.match(selector):
        raise InvalidInput(
            f"{kind} reference {ref!r} is not valid: after '@' expected a version number "
            "(3 or v3), 'latest' or an alias."
        )
    digits = selector[1:] if selector[:1] in ("v", "V") and selector[1:].isdigit() else selector
    if digits.isdigit():
        version = int(digits)
        if not 1 <= version <= MAX_VERSION:
            raise InvalidInput(f"{kind} reference {ref!r}: versions run from 1 to {MAX_VERSION:,}.")
        return Ref(name, version=version)
    return Ref(name, alias=selector)

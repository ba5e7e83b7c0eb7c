"""Lazy package exports (PEP 562): each name loads its module on first use.

A capability package lists its exports once, as imports under ``if TYPE_CHECKING:`` (what
type checkers and readers see), and hands its module to :func:`exports`::

    if TYPE_CHECKING:
        from shipyard.data._api import get, register

    __all__ = ["get", "register"]

    if not TYPE_CHECKING:  # type checkers read the names from the imports above
        __getattr__, __dir__ = exports(__name__)

``import shipyard.data`` then costs next to nothing, and ``shipyard.data.get`` imports
``shipyard.data._api`` (and pandas with it) when it is first read. That keeps the CLI's
start-up light: ``shipyard --help`` and the listings import only what they call.
"""

from __future__ import annotations

import ast
import importlib
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["exports"]


def _table(package: str, source: str) -> dict[str, tuple[str, str]]:
    """public name -> (module, attribute), from the ``if TYPE_CHECKING:`` imports."""
    table: dict[str, tuple[str, str]] = {}
    for node in ast.parse(source).body:
        if not (isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"):
            continue
        for statement in node.body:
            if not isinstance(statement, ast.ImportFrom) or statement.level:
                raise TypeError(
                    f"{package}: write lazy exports as absolute 'from ... import' lines, "
                    f"not {ast.unparse(statement)!r}"
                )
            for alias in statement.names:
                table[alias.asname or alias.name] = (statement.module or "", alias.name)
    return table


def exports(package: str) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package`` (whose ``__init__`` is running):
    every name imported under its ``if TYPE_CHECKING:`` block loads on first use."""
    source = sys.modules[package].__loader__.get_source(package)  # type: ignore[union-attr]
    if source is None:
        raise ImportError(f"{package}: lazy exports need the package's source")
    table = _table(package, source)

    def __getattr__(name: str) -> Any:
        target = table.get(name)
        if target is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, attribute = target
        if module == package:  # ``from shipyard.serving import deployments``: a submodule
            value: Any = importlib.import_module(f"{package}.{attribute}")
        else:
            value = getattr(importlib.import_module(module), attribute)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *table})

    return __getattr__, __dir__

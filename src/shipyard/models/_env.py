"""Environment capture: the Python and package versions a model version needs.

Read from installed package metadata (``importlib.metadata``), in-process and cached, rather
than by resolving requirements in a subprocess: that is what makes registration take
milliseconds instead of seconds.
"""

from __future__ import annotations

import contextlib
import platform
import re
import sys
import warnings
from collections.abc import Iterable, Mapping
from functools import lru_cache
from importlib import metadata
from typing import Any

__all__ = ["ModelEnvironmentWarning", "capture", "check", "differences", "packages_of"]

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


class ModelEnvironmentWarning(UserWarning):
    """The running environment differs from the one a model was registered in."""


@lru_cache(maxsize=256)
def installed(distribution: str) -> str | None:
    """The installed version of a distribution, or None."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


@lru_cache(maxsize=1)
def _distributions() -> Mapping[str, list[str]]:
    return metadata.packages_distributions()


def packages_of(model: Any) -> list[str]:
    """Distributions that define the model and the estimators inside it (a Pipeline's steps).

    A scikit-learn pipeline with a LightGBM step needs lightgbm where it is loaded; a
    PythonModel needs the package its class lives in.
    """
    objects = [model]
    get_params = getattr(model, "get_params", None)
    if callable(get_params):
        with contextlib.suppress(Exception):  # get_params failed: inspect the model alone
            objects += list(get_params(deep=True).values())
    roots = {type(o).__module__.partition(".")[0] for o in objects}
    roots -= {"builtins", "__main__", *sys.stdlib_module_names}
    found: list[str] = []
    for root in sorted(roots - {"sklearn"}):  # scikit-learn is every sklearn model's own
        if installed(root) is not None:  # most distributions are named like their module
            found.append(root)
        else:  # scanning every installed distribution costs ~0.1 s: only when needed
            found += _distributions().get(root, [])
    return list(dict.fromkeys(found))


def capture(packages: Iterable[str], requirements: Iterable[str] = ()) -> dict[str, Any]:
    """Python version, platform, and the installed versions of ``packages``.

    ``requirements`` are pip requirement strings the user adds (``"my-lib>=2"``); they are
    kept as given, and their installed versions recorded when installed.
    """
    extra = [str(r) for r in requirements]
    names = dict.fromkeys([*packages, *(_requirement_name(r) for r in extra)])
    return {
        "python": ".".join(map(str, sys.version_info[:3])),
        "platform": platform.system().lower(),
        "packages": {n: v for n in names if n and (v := installed(n)) is not None},
        "requirements": extra,
    }


def differences(recorded: Mapping[str, Any], serialization: str | None) -> list[str]:
    """What differs in a way that matters: a missing package, a different major.minor.

    Python's own version matters only for pickled models.
    """
    found: list[str] = []
    for name, version in dict(recorded.get("packages", {})).items():
        now = installed(name)
        if now is None:
            found.append(f"{name} {version} is not installed")
        elif _minor(now) != _minor(version):
            found.append(f"{name} is {now} here, {version} when registered")
    python = recorded.get("python")
    now_python = ".".join(map(str, sys.version_info[:3]))
    if serialization == "pickle" and python and _minor(python) != _minor(now_python):
        found.append(f"Python is {now_python} here, {python} when registered")
    return found


def check(ref: str, recorded: Mapping[str, Any], serialization: str | None) -> None:
    """Warn (:class:`ModelEnvironmentWarning`) when the environment differs where it matters."""
    found = differences(recorded, serialization)
    if found:
        warnings.warn(
            f"Model {ref} was registered in another environment: {'; '.join(found)}. "
            "Predictions may differ or loading may fail; install the recorded versions "
            f"(shipyard models show {ref}).",
            ModelEnvironmentWarning,
            stacklevel=3,
        )


def _minor(version: str) -> tuple[str, ...]:
    return tuple(version.split(".")[:2])


def _requirement_name(requirement: str) -> str:
    match = _NAME.match(requirement)
    return match.group(1) if match else ""

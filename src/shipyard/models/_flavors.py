"""The table of model flavors, and finding the flavor of a model.

``FLAVORS`` holds one entry per kind of model the registry stores (the :class:`Flavor`
protocol in ``_flavor.py``): the ``FLAVOR`` of every ``_flavor_<name>.py`` module of this
package, in the order detection tries them (their ``order``, then their name).
Registration detects a model's flavor by trying the entries in that order; loading,
serving and ONNX export look a flavor up by the name stored with the version. To add a
flavor: write ``_flavor_<name>.py`` with its class and ``FLAVOR = <Class>()``; nothing
else changes, and the contract battery (``shipyard.testing.flavors``) checks it.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import Any

from shipyard.errors import InvalidInput
from shipyard.models._flavor import Flavor, Predictor, Saved
from shipyard.models._flavor_python import PythonModel

__all__ = [
    "FLAVORS",
    "Flavor",
    "Predictor",
    "PythonModel",
    "Saved",
    "detection_order",
    "flavor_for",
    "get_flavor",
]


def _discover() -> dict[str, Flavor]:
    """The ``FLAVOR`` of every ``_flavor_<name>`` module beside this one, by detection order."""
    found: list[Flavor] = []
    for info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if info.name.startswith("_flavor_"):
            module = importlib.import_module(f"{__package__}.{info.name}")
            found.append(module.FLAVOR)
    found.sort(key=lambda f: (f.order, f.name))
    return {f.name: f for f in found}


FLAVORS: dict[str, Flavor] = _discover()


def detection_order() -> list[Flavor]:
    """The flavors in the order detection tries them (their ``order``, then their name):
    also right for a flavor a plugin adds to ``FLAVORS`` after import."""
    return sorted(FLAVORS.values(), key=lambda f: (f.order, f.name))


def flavor_for(model: Any, flavor: str | None = None) -> Flavor:
    """The flavor that handles ``model`` (or the one named)."""
    if flavor is not None:
        chosen = get_flavor(flavor)
        if not chosen.handles(model):
            raise InvalidInput(
                f"Field 'flavor': the {flavor} flavor cannot save a "
                f"{type(model).__module__}.{type(model).__name__}; leave flavor unset to detect it."
            )
        return chosen
    for candidate in detection_order():
        if candidate.handles(model):
            return candidate
    raise InvalidInput(
        f"No flavor knows how to save a {type(model).__module__}.{type(model).__name__}: "
        "expected a scikit-learn estimator, LightGBM or XGBoost model, ONNX ModelProto, "
        "PyTorch module, or an object with a predict method (subclass "
        "shipyard.models.PythonModel)."
    )


def get_flavor(name: str) -> Flavor:
    """A flavor by name."""
    try:
        return FLAVORS[name]
    except KeyError:
        raise InvalidInput(
            f"Unknown flavor {name!r}; known flavors: {', '.join(FLAVORS)}."
        ) from None

"""The table of model flavors, and finding the flavor of a model.

``FLAVORS`` holds one entry per kind of model the registry stores (the :class:`Flavor`
protocol in ``_flavor.py``). Registration detects a model's flavor by trying the entries
in table order, those marked ``fallback`` (they accept a base class other libraries
extend) after all the others; loading, serving and ONNX export look a flavor up by the
name stored with the version. To add a flavor: write its class in its own module and add
an instance here; the contract battery (``shipyard.testing.flavors``) checks it.
"""

from __future__ import annotations

from typing import Any

from shipyard.errors import InvalidInput
from shipyard.models._flavor import Flavor, Predictor, Saved
from shipyard.models._flavor_lightgbm import LightGBMFlavor
from shipyard.models._flavor_onnx import OnnxFlavor
from shipyard.models._flavor_python import PythonFlavor, PythonModel
from shipyard.models._flavor_sklearn import SklearnFlavor
from shipyard.models._flavor_torch import TorchFlavor
from shipyard.models._flavor_xgboost import XGBoostFlavor

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

FLAVORS: dict[str, Flavor] = {
    f.name: f
    for f in (
        SklearnFlavor(),
        LightGBMFlavor(),
        XGBoostFlavor(),
        OnnxFlavor(),
        TorchFlavor(),
        PythonFlavor(),
    )
}


def detection_order() -> list[Flavor]:
    """The flavors in the order detection tries them: the table's, fallbacks last."""
    flavors = list(FLAVORS.values())
    return [f for f in flavors if not f.fallback] + [f for f in flavors if f.fallback]


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

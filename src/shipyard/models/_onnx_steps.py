"""ONNX converters for pipeline steps skl2onnx does not convert by itself, and its errors
as one line naming the step.

A package whose model classes live in scikit-learn pipelines registers their converters
with :func:`register_onnx_step` when its module is imported (loading a model that holds one
imports that module, so the converter is known whenever such a model exists); nothing of
skl2onnx is imported until a model is converted. LightGBM and XGBoost estimators inside a
Pipeline convert with onnxmltools' converters; scikit-learn steps skl2onnx mishandles
(``_onnx_sklearn.py``) are replaced for the one conversion, never in skl2onnx's own table.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from shipyard.models._onnx import ExportRefused, one_line

__all__ = ["OnnxStep", "converter_tables", "register_onnx_step", "step_names"]

# options every classifier converter declares, so that skl2onnx parses label + probabilities
CLASSIFIER_OPTIONS: dict[str, Any] = {"zipmap": [True, False, "columns"], "nocl": [True, False]}


@dataclass(frozen=True)
class OnnxStep:
    """How skl2onnx converts one step type.

    Attributes:
        alias: the operator name in the graph (unique per type).
        shape: ``shape(operator)`` sets the shapes and types of the operator's outputs.
        convert: ``convert(scope, operator, container)`` adds the operator's nodes.
        options: the options the converter accepts (classifiers: ``zipmap``, ``nocl``).
    """

    alias: str
    shape: Callable[[Any], None]
    convert: Callable[[Any, Any, Any], None]
    options: Mapping[str, Any] | None = None


_STEPS: dict[type, OnnxStep] = {}
_INSTALLED: dict[type, OnnxStep] = {}


def register_onnx_step(
    model_type: type,
    convert: Callable[[Any, Any, Any], None],
    shape: Callable[[Any], None],
    *,
    classifier: bool = False,
) -> None:
    """Teach ONNX export a pipeline step type: its skl2onnx shape calculator and converter.

    Args:
        model_type: the step's class (a transformer, or the final estimator).
        convert: ``convert(scope, operator, container)``, adding the step's ONNX nodes.
        shape: ``shape(operator)``, setting its outputs' types and shapes.
        classifier: the type is a classifier: skl2onnx gives it a label and a
            probabilities output (and the ``zipmap`` option).
    """
    alias = f"Shipyard{model_type.__module__.replace('.', '_')}_{model_type.__qualname__}"
    options = CLASSIFIER_OPTIONS if classifier else None
    _STEPS[model_type] = OnnxStep(alias, shape, convert, options)


def converter_tables(model: Any) -> tuple[dict[type, Any], dict[type, Any]]:
    """Make every step of ``model`` convertible, or refuse naming the first that is not.

    Registers the registered steps (and LightGBM's and XGBoost's estimators) with skl2onnx,
    then returns ``custom_conversion_functions`` and ``custom_shape_calculators`` for
    ``convert_sklearn``: every step's converter wrapped so that a failure becomes one line
    naming the step, and the scikit-learn converters Shipyard replaces.

    Raises:
        ExportRefused: a step no converter handles.
    """
    from skl2onnx._parse import sklearn_parsers_map
    from skl2onnx._supported_operators import sklearn_operator_name_map
    from skl2onnx.common._registration import get_converter, get_shape_calculator

    from shipyard.models._onnx_sklearn import REPLACED

    _install()
    names = step_names(model)
    converters: dict[type, Any] = {}
    shapes: dict[type, Any] = {}
    for kind in {type(step) for step in names.values()}:
        replaced = REPLACED.get(kind)
        if replaced is not None:
            convert, shape = replaced
        elif kind in sklearn_operator_name_map:
            alias = sklearn_operator_name_map[kind]
            convert, shape = get_converter(alias), get_shape_calculator(alias)
        elif kind in sklearn_parsers_map:  # parsed into other operators (a wrapper)
            continue
        else:
            path = next(p for p, s in names.items() if type(s) is kind)
            raise ExportRefused(
                f"step {path!r} ({kind.__name__}) has no ONNX converter: neither skl2onnx nor "
                "Shipyard knows how to write it as ONNX operators. Keep serving the native "
                "flavor, or register one with shipyard.models.register_onnx_step.",
                {"step": path},
            )
        converters[kind] = _naming(convert, names)
        shapes[kind] = _naming(shape, names)
    return converters, shapes


def step_names(model: Any) -> dict[str, Any]:
    """The leaf steps of a Pipeline, ColumnTransformer or FeatureUnion, by path
    (``preprocess/numeric/simpleimputer``); a model of one step under its class name."""
    return dict(_leaves(model, ""))


def _leaves(model: Any, path: str) -> Iterator[tuple[str, Any]]:
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import FeatureUnion, Pipeline

    parts: list[tuple[str, Any]] = []
    if isinstance(model, Pipeline):
        parts = [(name, step) for name, step in model.steps]
    elif isinstance(model, ColumnTransformer):
        parts = [(name, step) for name, step, _ in getattr(model, "transformers_", ())]
    elif isinstance(model, FeatureUnion):
        parts = list(model.transformer_list)
    elif type(model).__name__ in ("VotingClassifier", "VotingRegressor") and hasattr(
        model, "named_estimators_"
    ):  # the vote has a converter of its own; its members are converted inside it
        yield path or type(model).__name__, model
        parts = list(model.named_estimators_.items())
    else:
        yield path or type(model).__name__, model
        return
    for name, step in parts:
        if isinstance(step, str) or step is None:  # "drop", "passthrough"
            continue
        yield from _leaves(step, f"{path}/{name}" if path else name)


def _naming(function: Any, names: Mapping[str, Any]) -> Callable[..., Any]:
    """``function`` (a converter or shape calculator) with its failures as one line that
    names the step the operator converts."""
    paths = {id(step): path for path, step in names.items()}

    def named(*args: Any) -> Any:
        operator = args[1] if len(args) == 3 else args[0]
        try:
            return function(*args)
        except ExportRefused:
            raise
        except Exception as exc:  # converters raise many unrelated types
            raw = operator.raw_operator
            path = paths.get(id(raw), type(raw).__name__)
            why = one_line(f"{type(exc).__name__}: {exc}")
            raise ExportRefused(
                f"step {path!r} ({type(raw).__name__}) cannot be written as ONNX: {why}. Keep "
                "serving the native flavor, or build the model from steps the converter "
                "supports.",
                {"step": path, "error": why},
            ) from exc

    return named


def _install() -> None:
    """Register the registered steps, and the boosting libraries' estimators that are
    imported, with skl2onnx (once per type)."""
    from skl2onnx import update_registered_converter

    wanted = {**_boosters(), **_STEPS}
    for kind, step in wanted.items():
        if _INSTALLED.get(kind) == step:
            continue
        update_registered_converter(
            kind, step.alias, step.shape, step.convert, options=dict(step.options or {}) or None
        )
        _INSTALLED[kind] = step


def _boosters() -> dict[type, OnnxStep]:
    """LightGBM's and XGBoost's scikit-learn estimators, converted by onnxmltools (only for
    the libraries already imported: a model holding one imported it)."""
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes as classifier_shape,
    )
    from skl2onnx.common.shape_calculator import (
        calculate_linear_regressor_output_shapes as regressor_shape,
    )

    found: dict[type, OnnxStep] = {}
    if "lightgbm" in sys.modules:
        import lightgbm as lgb
        from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm

        found[lgb.LGBMClassifier] = OnnxStep(
            "LightGbmLGBMClassifier", classifier_shape, convert_lightgbm, CLASSIFIER_OPTIONS
        )
        found[lgb.LGBMRegressor] = OnnxStep(
            "LightGbmLGBMRegressor", regressor_shape, convert_lightgbm, {"split": None}
        )
    if "xgboost" in sys.modules:
        import xgboost as xgb
        from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost

        found[xgb.XGBClassifier] = OnnxStep(
            "XGBoostXGBClassifier", classifier_shape, convert_xgboost, CLASSIFIER_OPTIONS
        )
        found[xgb.XGBRegressor] = OnnxStep("XGBoostXGBRegressor", regressor_shape, convert_xgboost)
    return found

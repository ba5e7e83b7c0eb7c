"""ONNX converters for AutoML's own pipeline steps: :class:`DateParts`, the PyTorch MLP and
the XGBoost classifier for any labels.

Registered with ``shipyard.models.register_onnx_step`` by the modules that define the
classes, so a model holding one exports; skl2onnx is imported only when a model converts.

``DateParts`` takes each datetime column as int64 seconds since the Unix epoch (how ONNX
export feeds datetimes; the smallest int64 is a null) and computes the calendar in the
graph with integer operators (days to civil date, H. Hinnant's algorithm), so its parts
equal pandas' exactly. The MLP's forward pass is MatMul, Add and its activation, then
Softmax (classifier) or the target's scale (regressor), as its NumPy ``predict`` does. The
XGBoost classifier for any labels is onnxmltools' converter of its inner XGBClassifier
(labels ``0..n-1``, probabilities as they are), then a Gather of its labels by those codes.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "convert_date_parts",
    "convert_torch_mlp",
    "convert_xgb_labels",
    "date_parts_shape",
    "step_shape",
    "xgb_labels_shape",
]

DAY = 86_400
NULL_TIME = np.iinfo(np.int64).min


def date_parts_shape(operator: Any) -> None:
    from skl2onnx.common.data_types import FloatTensorType

    width = sum(v.get_second_dimension() or 1 for v in operator.inputs)
    parts = len(operator.raw_operator.PARTS)
    rows = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = FloatTensorType([rows, width * parts])


def convert_date_parts(scope: Any, operator: Any, container: Any) -> None:
    """year, month, day, dayofweek, hour of each column, in ``DateParts.PARTS`` order."""
    graph = _Graph(scope, container)
    names = [v.full_name for v in operator.inputs]
    seconds = names[0] if len(names) == 1 else graph.node("Concat", names, axis=1)
    width = sum(v.get_second_dimension() or 1 for v in operator.inputs)
    null = graph.node("Equal", [seconds, graph.ints(NULL_TIME)])
    days, of_day = graph.floor_div(seconds, DAY)
    year, month, day = _civil(graph, days)
    weekday, _ = graph.floor_div(graph.add(days, 3), 7, remainder_only=True)  # 1970-01-01: Thu
    hour = graph.div(of_day, 3_600)
    parts = {"year": year, "month": month, "day": day, "dayofweek": weekday, "hour": hour}
    shaped = [
        graph.node("Reshape", [parts[p], graph.ints([0, width, 1])])
        for p in operator.raw_operator.PARTS
    ]
    stacked = graph.node("Cast", [graph.node("Concat", shaped, axis=2)], to=1)  # float
    nan = graph.floats(np.nan)
    masked = graph.node("Where", [graph.node("Reshape", [null, graph.ints([0, width, 1])]),
                                  nan, stacked])  # fmt: skip
    container.add_node(
        "Reshape",
        [masked, graph.ints([0, width * len(shaped)])],
        [operator.outputs[0].full_name],
        name=scope.get_unique_operator_name("Reshape"),
    )


def _civil(graph: _Graph, days: str) -> tuple[str, str, str]:
    """Year, month and day of days since 1970-01-01 (H. Hinnant's ``civil_from_days``):
    eras of 400 years from 0000-03-01, every division exact or of non-negative numbers."""
    era, _ = graph.floor_div(graph.add(days, 719_468), 146_097)
    doe = graph.minus(graph.add(days, 719_468), graph.mul(era, 146_097))  # 0..146096
    leap_days = graph.minus(graph.plus(graph.div(doe, 1460), graph.div(doe, 146_096)),
                            graph.div(doe, 36_524))  # fmt: skip
    yoe = graph.div(graph.minus(doe, leap_days), 365)  # year of the era, 0..399
    year_start = graph.plus(graph.mul(yoe, 365), graph.minus(graph.div(yoe, 4),
                                                             graph.div(yoe, 100)))  # fmt: skip
    doy = graph.minus(doe, year_start)  # day of the year from March 1st, 0..365
    mp = graph.div(graph.add(graph.mul(doy, 5), 2), 153)  # month from March, 0..11
    day = graph.add(graph.minus(doy, graph.div(graph.add(graph.mul(mp, 153), 2), 5)), 1)
    before_january = graph.node("Cast", [graph.node("Less", [mp, graph.ints(10)])], to=7)
    month = graph.plus(graph.add(mp, -9), graph.mul(before_january, 12))  # mp+3 or mp-9
    in_next_year = graph.node("Cast", [graph.node("LessOrEqual", [month, graph.ints(2)])], to=7)
    year = graph.plus(graph.mul(era, 400), graph.plus(yoe, in_next_year))
    return year, month, day


def step_shape(operator: Any) -> None:
    """Output shapes of a step that answers a label and probabilities (a classifier) or a
    value (a regressor): the PyTorch MLP's and CatBoost's."""
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )

    if hasattr(operator.raw_operator, "classes_"):
        calculate_linear_classifier_output_shapes(operator)
    else:
        calculate_linear_regressor_output_shapes(operator)


def convert_torch_mlp(scope: Any, operator: Any, container: Any) -> None:
    """The MLP's forward pass; a classifier's label and probabilities, or a value."""
    from skl2onnx.operator_converters.common import concatenate_variables

    model = operator.raw_operator
    graph = _Graph(scope, container)
    values = concatenate_variables(scope, operator.inputs, container)
    last = len(model.coefs_) - 1
    for i, (weights, bias) in enumerate(zip(model.coefs_, model.intercepts_, strict=True)):
        values = graph.node("MatMul", [values, graph.floats(np.asarray(weights, np.float32))])
        values = graph.node("Add", [values, graph.floats(np.asarray(bias, np.float32))])
        if i < last:
            values = _activation(graph, values, model.activation)
    outputs = [v.full_name for v in operator.outputs]
    if not hasattr(model, "classes_"):
        scaled = graph.node("Mul", [values, graph.floats(np.float32(model.y_scale_))])
        container.add_node("Add", [scaled, graph.floats(np.float32(model.y_mean_))], outputs[:1])
        return
    container.add_node("Softmax", [values], [outputs[1]], axis=1)
    index = graph.node("ArgMax", [values], axis=1, keepdims=0)
    _labels_at(graph, model.classes_, index, outputs[0])


def xgb_labels_shape(operator: Any) -> None:
    from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes

    calculate_linear_classifier_output_shapes(operator)  # label type from ``classes_``


@dataclass(frozen=True)
class _InnerOperator:
    """What onnxmltools' XGBoost converter reads of the operator it converts."""

    raw_operator: Any
    inputs: list[Any]
    input_full_names: list[str]
    output_full_names: list[str]


def convert_xgb_labels(scope: Any, operator: Any, container: Any) -> None:
    """The inner XGBClassifier's trees (label codes, probabilities), then the labels."""
    from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost

    model = operator.raw_operator
    codes = scope.get_unique_variable_name("label_codes")
    label, probabilities = (v.full_name for v in operator.outputs)
    inputs = list(operator.inputs)
    names = [v.full_name for v in inputs]
    inner = _InnerOperator(_positional(model.model_), inputs, names, [codes, probabilities])
    convert_xgboost(scope, inner, container)
    _labels_at(_Graph(scope, container), model.classes_, codes, label)


def _positional(model: Any) -> Any:
    """``model``, or a copy whose features are named ``f0, f1...`` as onnxmltools needs
    (a model fitted on a DataFrame keeps its column names; the graph takes one matrix)."""
    names = model.get_booster().feature_names
    positional = [f"f{i}" for i in range(model.n_features_in_)]
    if names is None or list(names) == positional:
        return model
    renamed = copy.deepcopy(model)
    renamed.get_booster().feature_names = positional
    return renamed


def _labels_at(graph: _Graph, classes: Any, index: str, output: str) -> None:
    """``output`` = the label at each ``index`` of ``classes`` (text, or integers)."""
    classes = np.asarray(classes)
    table = graph.texts(classes) if classes.dtype.kind in "OUS" else graph.ints(classes.tolist())
    graph.container.add_node("Gather", [table, index], [output], axis=0)


def _activation(graph: _Graph, values: str, activation: str) -> str:
    if activation == "relu":
        return graph.node("Relu", [values])
    if activation == "tanh":
        return graph.node("Tanh", [values])
    return graph.node("Mul", [values, graph.node("Sigmoid", [values])])  # silu


class _Graph:
    """Adds nodes and constants to skl2onnx's container, each output a fresh name."""

    def __init__(self, scope: Any, container: Any) -> None:
        self.scope = scope
        self.container = container

    def node(self, op: str, inputs: list[str], **attrs: Any) -> str:
        out = self.scope.get_unique_variable_name(op.lower())
        name = self.scope.get_unique_operator_name(op)
        self.container.add_node(op, inputs, [out], name=name, **attrs)
        return str(out)

    def _const(self, kind: int, values: Any, hint: str) -> str:
        array = np.asarray(values)
        name = self.scope.get_unique_variable_name(hint)
        flat = array.reshape(-1).tolist()
        self.container.add_initializer(name, kind, list(array.shape), flat)
        return str(name)

    def ints(self, values: Any) -> str:
        return self._const(7, np.asarray(values, dtype=np.int64), "int")

    def floats(self, values: Any) -> str:
        return self._const(1, np.asarray(values, dtype=np.float32), "float")

    def texts(self, values: np.ndarray) -> str:
        return self._const(8, np.asarray([str(v).encode() for v in values], dtype=object), "text")

    def plus(self, x: str, y: str) -> str:
        return self.node("Add", [x, y])

    def minus(self, x: str, y: str) -> str:
        return self.node("Sub", [x, y])

    def add(self, x: str, value: int) -> str:
        return self.node("Add", [x, self.ints(value)])

    def mul(self, x: str, value: int) -> str:
        return self.node("Mul", [x, self.ints(value)])

    def div(self, x: str, value: int) -> str:
        """``x // value`` for ``x >= 0`` (ONNX's integer Div truncates)."""
        return self.node("Div", [x, self.ints(value)])

    def floor_div(self, x: str, value: int, *, remainder_only: bool = False) -> tuple[str, str]:
        """``(x // value, x % value)`` with Python's signs (value > 0), exact in int64."""
        remainder = self.node("Mod", [x, self.ints(value)], fmod=0)  # the divisor's sign
        if remainder_only:
            return remainder, remainder
        return self.div(self.node("Sub", [x, remainder]), value), remainder

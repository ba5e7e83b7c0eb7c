"""The ONNX converter of Shipyard's CatBoost steps (``_catboost.py``), for skl2onnx.

CatBoost writes its own trees as ONNX (``catboost.utils.convert_to_onnx_object``: one
``TreeEnsembleClassifier`` or ``TreeEnsembleRegressor`` of ``ai.onnx.ml``); this converter
copies that node into the pipeline's graph, fed by the step's input (the preprocessing's
output). A classifier's trees answer label codes ``0..n-1`` (the step fits on codes), then
a Gather of its labels by those codes, as for XGBoost. CatBoost's ONNX has no category
features: a model that reads them is refused in one line (it keeps the native flavor).
"""

from __future__ import annotations

from typing import Any

__all__ = ["convert_catboost"]

TREES = ("TreeEnsembleClassifier", "TreeEnsembleRegressor")


def convert_catboost(scope: Any, operator: Any, container: Any) -> None:
    """CatBoost's tree node on the step's input; a classifier's codes mapped to labels."""
    from onnx import helper
    from skl2onnx.operator_converters.common import concatenate_variables

    from shipyard.automl._onnx import _Graph, _labels_at

    model = operator.raw_operator
    if model.categorical_:
        raise ValueError(
            "CatBoost's ONNX has no category features and this model reads "
            f"{len(model.categorical_)} column(s) as categories"
        )
    from catboost.utils import convert_to_onnx_object

    proto = convert_to_onnx_object(model.model_)
    node = next(n for n in proto.graph.node if n.op_type in TREES)
    attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    features = concatenate_variables(scope, operator.inputs, container)
    outputs = [v.full_name for v in operator.outputs]
    if node.op_type == "TreeEnsembleRegressor":
        container.add_node(
            node.op_type,
            [features],
            outputs[:1],
            op_domain="ai.onnx.ml",
            op_version=1,
            name=scope.get_unique_operator_name("CatBoostRegressor"),
            **attributes,
        )
        return
    codes = scope.get_unique_variable_name("label_codes")
    container.add_node(
        node.op_type,
        [features],
        [codes, outputs[1]],
        op_domain="ai.onnx.ml",
        op_version=1,
        name=scope.get_unique_operator_name("CatBoostClassifier"),
        **attributes,
    )
    _labels_at(_Graph(scope, container), model.classes_, codes, outputs[0])

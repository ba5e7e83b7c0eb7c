"""Open Inference Protocol v2 answers: a model's outputs and their datatypes, the outputs a
request asks for, the output tensors, and the model metadata.

Metadata and answers agree by construction: both take each output's datatype from
:func:`output_types`, worked out once per loaded version from the model itself (a
classifier's class labels: integers INT64, other numbers FP64, text BYTES, true/false BOOL;
a regressor FP64; a model of unknown task, from its prediction on one of its stored sample
rows), and every answer is converted to it.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from shipyard import models
from shipyard.errors import InvalidRequest
from shipyard.serving._protocol import DATATYPES

__all__ = ["oip_metadata", "oip_outputs", "output_types", "requested_outputs"]

log = logging.getLogger("shipyard.serving")

# the OIP datatype of each signature type, for model metadata
_OIP_TYPES = {
    "float": "FP64",
    "int": "INT64",
    "bool": "BOOL",
    "string": "BYTES",
    "category": "BYTES",
    "datetime": "BYTES",
}
# output parameters of OIP extensions this server does not implement
_UNSUPPORTED = ("classification", "shared_memory_region")

_TYPES: weakref.WeakKeyDictionary[Any, dict[str, str]] = weakref.WeakKeyDictionary()


def output_types(model: Any) -> dict[str, str]:
    """Each output of a loaded model (``predict``, and ``predict_proba`` for a classifier)
    and its OIP datatype; worked out once per loaded version."""
    known = _TYPES.get(model)
    if known is None:
        known = {"predict": _label_type(model)}
        if model.classes is not None:
            known["predict_proba"] = "FP64"
        _TYPES[model] = known
    return known


def _label_type(model: Any) -> str:
    if model.classes is not None:  # the labels answered are these values
        return datatype_of(np.asarray(model.classes))
    signature = model.signature
    if signature is not None and signature.task == "regression":
        return "FP64"
    return _probed(model)


def _probed(model: Any) -> str:
    """A model of unknown task: the datatype of its prediction on one stored sample row
    (BYTES, to which its answers are then converted, when it cannot be predicted)."""
    signature = model.signature
    try:
        frame = models.sample(model.version)
        if frame is None or signature is None:
            return "BYTES"
        labels, _ = model.predict_columns(model.validate(frame[signature.names].head(1)))
    except Exception as exc:  # a probe: any failure leaves text as the declared type
        log.warning("%s: no prediction on its sample to type its output (%s)", model, exc)
        return "BYTES"
    return datatype_of(np.asarray(labels))


def datatype_of(values: np.ndarray) -> str:
    """The OIP datatype answers of this NumPy kind are given in."""
    kind = values.dtype.kind
    if kind == "b":
        return "BOOL"
    if kind in "iu":
        return "INT64"
    if kind == "f":
        return "FP64"
    return "BYTES"


def as_datatype(values: np.ndarray, datatype: str) -> np.ndarray:
    """``values`` as ``datatype`` says (text for BYTES); ValueError when they are not
    values of that type (the model answered other than its metadata declares)."""
    if datatype == "BYTES":
        return values if values.dtype.kind == "U" else values.astype(np.str_)
    want = np.dtype(DATATYPES[datatype])
    if values.dtype == want:
        return values
    if datatype == "FP64" and values.dtype.kind in "biuf":
        return values.astype(want)
    try:
        cast = values.astype(want)
        same = bool(np.array_equal(cast, values))
    except (TypeError, ValueError, OverflowError):
        same = False
    if not same:
        raise ValueError(
            f"the model answered {values.dtype} values where its metadata declares {datatype}"
        )
    return cast


def requested_outputs(body: Any, model: Any) -> list[tuple[str, bool]]:
    """The outputs an inference request asks for (``outputs: [{"name": ...}]``), in its
    order, each with whether it is answered as binary tensor data (the output's
    ``parameters.binary_data``, else the request's ``parameters.binary_data_output``); every
    output of the model when it names none. InvalidRequest (400) for a malformed entry or an
    output the model does not have, before the model is called."""
    available = list(output_types(model))
    if not isinstance(body, Mapping):
        return [(name, False) for name in available]
    default = _flag(body.get("parameters"), "parameters", ("binary_data_output",), False)
    wanted = body.get("outputs")
    if wanted is None:
        return [(name, default) for name in available]
    if not isinstance(wanted, list) or not wanted:
        raise InvalidRequest(
            '"outputs" must be a non-empty list of {"name": ...} objects; leave it out for '
            f"every output ({', '.join(available)})."
        )
    chosen: dict[str, bool] = {}
    for i, entry in enumerate(wanted):
        where = f"outputs[{i}]"
        name = entry.get("name") if isinstance(entry, Mapping) else None
        if not isinstance(name, str):
            raise InvalidRequest(
                f'{where} must be an object with a "name": one of {", ".join(available)}.'
            )
        if name not in available:
            raise InvalidRequest(
                f"{where}: no output {name!r}; this model's outputs are {', '.join(available)}."
            )
        if name in chosen:
            raise InvalidRequest(f"{where}: output {name!r} is asked for twice.")
        flags = ("binary_data", "binary_data_output")
        chosen[name] = _flag(entry.get("parameters"), f"{where}.parameters", flags, default)
    return list(chosen.items())


def _flag(parameters: Any, where: str, keys: Sequence[str], default: bool) -> bool:
    """The first of ``keys`` set in an OIP ``parameters`` object (true/false), else
    ``default``; InvalidRequest for a malformed object or an unsupported extension."""
    if parameters is None:
        return default
    if not isinstance(parameters, Mapping):
        raise InvalidRequest(f'"{where}" must be an object.')
    if where != "parameters":
        for key in _UNSUPPORTED:
            if key in parameters:
                raise InvalidRequest(
                    f'"{where}.{key}": that extension is not supported here (this server '
                    "implements binary_tensor_data)."
                )
    for key in keys:
        if key in parameters:
            value = parameters[key]
            if not isinstance(value, bool):
                raise InvalidRequest(f'"{where}.{key}" must be true or false.')
            return value
    return default


def oip_outputs(
    labels: np.ndarray, proba: np.ndarray | None, model: Any, wanted: list[tuple[str, bool]]
) -> list[dict[str, Any]]:
    """The output tensors asked for, in the datatypes the model's metadata declares. A
    binary one keeps its values as an array, marked ``parameters.binary_data`` (the HTTP
    layer, ``_oip_binary.render``, writes its bytes after the JSON)."""
    types = output_types(model)
    outputs = []
    for name, binary in wanted:
        if name == "predict":
            values = as_datatype(labels, types[name])
        elif proba is None:
            raise InvalidRequest(
                f"Output 'predict_proba': {model.version.ref} gave no probabilities; ask for "
                "'predict'."
            )
        else:
            values = proba.astype(np.float64, copy=False)
        tensor: dict[str, Any] = {
            "name": name,
            "datatype": types[name],
            "shape": list(values.shape),
        }
        if binary:
            tensor["parameters"] = {"binary_data": True}
            tensor["data"] = values
        else:
            tensor["data"] = (
                (np.round(values, 6) if name == "predict_proba" else values).ravel().tolist()
            )
        outputs.append(tensor)
    return outputs


def oip_metadata(name: str, loaded: Sequence[Any]) -> dict[str, Any]:
    """The Open Inference Protocol's model metadata of the loaded versions served under
    ``name`` (the first one describes the inputs and outputs). Inputs are one tensor per
    column; where every column is numeric, ``parameters`` says that one ``[rows, columns]``
    FP32 or FP64 tensor (any name, columns in the inputs' order) is accepted instead."""
    first = loaded[0]
    signature = first.signature
    specs = signature.inputs if signature is not None else ()
    inputs = [
        {"name": spec.name, "datatype": _OIP_TYPES.get(spec.type, "BYTES"), "shape": [-1]}
        for spec in specs
    ]
    types = output_types(first)
    outputs = [{"name": "predict", "datatype": types["predict"], "shape": [-1]}]
    if "predict_proba" in types:
        width = len(first.classes)
        outputs.append({"name": "predict_proba", "datatype": "FP64", "shape": [-1, width]})
    metadata: dict[str, Any] = {
        "name": name,
        "versions": sorted({str(m.version.version) for m in loaded}, key=int),
        "platform": f"shipyard-{first.version.flavor}-{first.format}",
        "inputs": inputs,
        "outputs": outputs,
    }
    if specs and all(spec.type in ("float", "int") for spec in specs):
        metadata["parameters"] = {  # OIP parameter values are scalars
            "matrix_input_shape": f"[-1, {len(specs)}]",
            "matrix_input_datatypes": "FP32,FP64",
            "matrix_input_columns": ",".join(spec.name for spec in specs),
        }
    return metadata

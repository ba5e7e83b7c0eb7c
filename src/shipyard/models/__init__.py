"""Model registry: versions, flavors, signatures, aliases, stages, rollback, ONNX and int8.

``sy.models.register("churn", model, X=X_train, y=y_train)``, then
``sy.models.promote("churn@1", to="production")`` and ``sy.models.load("churn@production")``.
``sy.models.set_policy("churn", "policy.yaml")`` guards protected aliases and stages with
promotion gates (``check``, ``approve``; ``force=True`` with a reason overrides them).

Safe serialization: loading never runs code from an artifact nobody trusted. LightGBM,
XGBoost and ONNX models are stored in their own formats, which carry no code; scikit-learn
models in skops, which builds only scikit-learn, NumPy and SciPy types plus those the
registering user named in ``trusted=``. Pickle is used for :class:`PythonModel` objects and
for scikit-learn when asked (``serialization="pickle"``); every artifact's sha256 is checked
against the registry record before it is deserialized, so a changed artifact never loads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard._lazy import exports

if TYPE_CHECKING:
    from shipyard.models._api import (
        clear_cache,
        compare,
        delete,
        delete_model,
        evidence,
        get,
        history,
        list_models,
        load,
        record_evidence,
        register,
        remove_alias,
        sample,
        trained_on,
        versions,
    )
    from shipyard.models._backend import ModelBackend
    from shipyard.models._env import ModelEnvironmentWarning
    from shipyard.models._export import export
    from shipyard.models._flavor import Flavor
    from shipyard.models._flavor_python import PythonModel
    from shipyard.models._flavors import FLAVORS
    from shipyard.models._gates import GateReport, GateResult, GatesFailed
    from shipyard.models._loaded import LoadedModel
    from shipyard.models._onnx import ExportRefused
    from shipyard.models._onnx_steps import register_onnx_step
    from shipyard.models._policies import MaxDrop, Policy, PolicyVersion
    from shipyard.models._promote import (
        approve,
        check,
        check_scores,
        policies,
        policy,
        promote,
        rollback,
        set_alias,
        set_policy,
    )
    from shipyard.models._signature import ColumnSpec, Signature, infer_signature
    from shipyard.models._store import ModelStore
    from shipyard.models._trust import is_trusted, trust_version
    from shipyard.models._types import (
        EVIDENCE_KINDS,
        STAGES,
        Evidence,
        Export,
        Model,
        ModelEvent,
        ModelVersion,
    )


__all__ = [
    "EVIDENCE_KINDS",
    "FLAVORS",
    "STAGES",
    "ColumnSpec",
    "Evidence",
    "Export",
    "ExportRefused",
    "Flavor",
    "GateReport",
    "GateResult",
    "GatesFailed",
    "LoadedModel",
    "MaxDrop",
    "Model",
    "ModelBackend",
    "ModelEnvironmentWarning",
    "ModelEvent",
    "ModelStore",
    "ModelVersion",
    "Policy",
    "PolicyVersion",
    "PythonModel",
    "Signature",
    "approve",
    "check",
    "check_scores",
    "clear_cache",
    "compare",
    "delete",
    "delete_model",
    "evidence",
    "export",
    "get",
    "history",
    "infer_signature",
    "is_trusted",
    "list_models",
    "load",
    "policies",
    "policy",
    "promote",
    "record_evidence",
    "register",
    "register_onnx_step",
    "remove_alias",
    "rollback",
    "sample",
    "set_alias",
    "set_policy",
    "trained_on",
    "trust_version",
    "versions",
]

if not TYPE_CHECKING:  # type checkers read the names from the imports above
    __getattr__, __dir__ = exports(__name__)

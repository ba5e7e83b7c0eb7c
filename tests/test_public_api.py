"""The public names of each capability are pinned: changing them is a deliberate act."""

from __future__ import annotations

import importlib

import pytest

PUBLIC = {
    "shipyard": [
        "__version__",
        "active_run",
        "autolog",
        "automl",
        "datasets",
        "models",
        "compare_runs",
        "delete_run",
        "end_run",
        "get_metric_history",
        "get_run",
        "list_experiments",
        "load_artifact",
        "log_artifact",
        "log_metric",
        "log_metrics",
        "log_param",
        "log_params",
        "search_runs",
        "set_tag",
        "start_run",
        "train",
        "tune",
    ],
    "shipyard.automl": [
        "ESTIMATORS",
        "FAMILIES",
        "AutoMLResult",
        "DateParts",
        "TrainResult",
        "automl",
        "column_kinds",
        "estimator",
        "make_preprocessor",
        "train",
        "tune",
    ],
    "shipyard.store": [
        "HEAD_REVISION",
        "ArtifactStore",
        "Blob",
        "Database",
        "SchemaState",
        "current_revision",
        "default_artifacts",
        "default_database",
        "upgrade",
    ],
    "shipyard.data": [
        "ColumnSchema",
        "Dataset",
        "DatasetDiff",
        "DatasetVersion",
        "Lineage",
        "Profile",
        "Schema",
        "Transform",
        "ValidationReport",
        "diff",
        "get",
        "infer_schema",
        "lineage",
        "list_datasets",
        "make_loans",
        "profile",
        "profile_html",
        "query",
        "register",
        "register_transform",
        "remove_alias",
        "resolve",
        "run_inputs",
        "run_transform",
        "schema",
        "set_alias",
        "set_policy",
        "set_schema",
        "tag",
        "validate",
        "versions",
    ],
    "shipyard.models": [
        "STAGES",
        "ColumnSpec",
        "Export",
        "ExportRefused",
        "LoadedModel",
        "Model",
        "ModelEnvironmentWarning",
        "ModelEvent",
        "ModelVersion",
        "PythonModel",
        "Signature",
        "clear_cache",
        "compare",
        "delete",
        "delete_model",
        "export",
        "get",
        "history",
        "infer_signature",
        "list_models",
        "load",
        "promote",
        "register",
        "remove_alias",
        "rollback",
        "sample",
        "set_alias",
        "trained_on",
        "versions",
    ],
    "shipyard.errors": [
        "Conflict",
        "IntegrityError",
        "InvalidFilter",
        "InvalidInput",
        "NotFound",
        "ShipyardError",
        "StoreVersionError",
    ],
    "shipyard.config": ["Settings", "current_user", "get_settings", "reset_settings"],
    "shipyard.cli": ["app", "main"],
    "shipyard.serving": [
        "POLICIES",
        "SCOPES",
        "ApiKey",
        "Deployment",
        "DeploymentEvent",
        "Route",
        "background",
        "create_app",
        "create_key",
        "deployments",
        "list_keys",
        "read_feedback",
        "read_requests",
        "revoke_key",
        "serve",
    ],
}


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_all_is_pinned(module: str) -> None:
    mod = importlib.import_module(module)
    assert sorted(mod.__all__) == sorted(PUBLIC[module])
    for name in mod.__all__:
        assert hasattr(mod, name), f"{module}.{name} is listed but missing"


def test_tracking_all_is_pinned() -> None:
    import shipyard.tracking as tracking

    assert set(PUBLIC["shipyard"]) - {
        "__version__",
        "datasets",
        "models",
        "train",
        "automl",
        "tune",
    } <= set(tracking.__all__)
    for name in tracking.__all__:
        assert hasattr(tracking, name)

"""Datasets: versions, schemas, validation, profiles, SQL, transforms and lineage.

``import shipyard as sy`` then ``sy.datasets.register("loans", df)``,
``sy.datasets.get("loans@3").to_pandas()``, ``sy.datasets.query("SELECT ... FROM loans@3")``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard._lazy import exports

if TYPE_CHECKING:
    from shipyard.data._api import (
        DatasetVersion,
        accept,
        get,
        list_datasets,
        profile,
        register,
        remove_alias,
        resolve,
        run_inputs,
        schema,
        set_alias,
        set_policy,
        set_schema,
        tag,
        validate,
        versions,
    )
    from shipyard.data._backend import DatasetBackend
    from shipyard.data._checks import ValidationReport
    from shipyard.data._derive import query, run_transform
    from shipyard.data._infer import infer_schema
    from shipyard.data._lineage import DatasetDiff, Lineage, diff, lineage
    from shipyard.data._loans import make_loans
    from shipyard.data._profile import Profile
    from shipyard.data._report import profile_html
    from shipyard.data._schema import ColumnSchema, Schema
    from shipyard.data._store import DatasetStore
    from shipyard.data._transforms import Transform, register_transform
    from shipyard.data._types import Dataset


__all__ = [
    "ColumnSchema",
    "Dataset",
    "DatasetBackend",
    "DatasetDiff",
    "DatasetStore",
    "DatasetVersion",
    "Lineage",
    "Profile",
    "Schema",
    "Transform",
    "ValidationReport",
    "accept",
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
]

if not TYPE_CHECKING:  # type checkers read the names from the imports above
    __getattr__, __dir__ = exports(__name__)

"""What registering a model version stores: checked fields, lineage, the flavor's bytes,
the sample rows (the steps of ``models.register``, kept apart from the SDK module)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard._validate import MAX_TAG_VALUE, check_key, metric_value, text_value
from shipyard.config import current_user
from shipyard.errors import InvalidInput
from shipyard.models._inputs import (
    check_signature,
    dataset_version,
    head,
    run_lineage,
    signature_of,
    store_files,
    store_sample,
    training_frame,
)
from shipyard.models._store import check_alias, check_stage
from shipyard.store import default_artifacts

if TYPE_CHECKING:
    from shipyard.models._flavor import Flavor
    from shipyard.models._signature import Signature

__all__ = ["Saved", "checked_fields", "provenance", "put_model", "save_model", "say_unsigned"]

log = logging.getLogger("shipyard.models")


def say_unsigned(name: str, model: Any, sig: Signature | None) -> None:
    """One warning line when a version has no signature: it can be neither exported nor
    served."""
    if sig is not None:
        return
    log.warning(
        "Model %r: the %s records no inputs, so the version has no signature: it cannot be "
        "exported to ONNX or served (predict is unchecked). Register it with "
        "X=<training inputs> (or signature=...).",
        name,
        type(model).__name__,
    )


def checked_fields(
    lists: Mapping[str, Any],
    stage: str,
    tags: Mapping[str, Any] | None,
    metrics: Mapping[str, float] | None,
) -> tuple[dict[str, str], dict[str, float]]:
    """Check that list fields were not given a string and the aliases and stage are valid;
    the clean tags and metrics."""
    for field, value in lists.items():
        if isinstance(value, (str, bytes)):
            raise InvalidInput(f"Field {field!r} takes a list, got the string {value!r}.")
    for alias in lists["aliases"]:
        check_alias(alias)
    check_stage(stage)
    clean_tags = {
        check_key("tag", k): text_value("tag", k, v, MAX_TAG_VALUE) for k, v in (tags or {}).items()
    }
    clean_metrics = {check_key("metric", k): metric_value(k, v) for k, v in (metrics or {}).items()}
    return clean_tags, clean_metrics


def provenance(run: Any, datasets: Sequence[Any], metrics: Mapping[str, float]) -> dict[str, Any]:
    """Who registers the version, and its lineage: run, source commit, metrics, datasets."""
    run_id, source_commit, run_metrics, run_inputs = run_lineage(run)
    return {
        "created_by": current_user(),
        "run_id": run_id,
        "source_commit": source_commit,
        "metrics": {**run_metrics, **metrics},
        "datasets": [*(dataset_version(d).id for d in datasets), *run_inputs],
    }


@dataclass(frozen=True)
class Saved:
    """A model saved by its flavor (meta with its files' digests), not stored yet."""

    data: bytes
    meta: dict[str, Any]
    frame: Any  # the training inputs, for the sample rows


def save_model(
    kind: Flavor,
    model: Any,
    X: Any,
    y: Any,
    datasets: Sequence[Any],
    signature: Signature | Mapping[str, Any] | None,
    serialization: str,
    trusted: Sequence[str],
    artifacts: Mapping[str, str | Path] | None,
) -> tuple[Signature | None, Saved]:
    """The model's signature (checked against its flavor), and the model saved by its
    flavor; a PythonModel's files are stored."""
    frame = training_frame(X, model, datasets)
    sig = signature_of(signature, frame, y, model)
    check_signature(kind, sig, model)
    example = None if sig is None or frame is None else sig.validate(head(frame, 256))
    saved = kind.save(model, serialization=serialization, trusted=tuple(trusted), example=example)
    files = {"artifacts": store_files(default_artifacts(), artifacts)} if artifacts else {}
    return sig, Saved(saved.data, {**saved.meta, **files}, frame)


def put_model(saved: Saved, y: Any, sig: Signature | None) -> dict[str, Any]:
    """Store the model's bytes, then its sample rows: the version's artifact fields."""
    store = default_artifacts()
    blob = store.put_bytes(saved.data)
    return {
        "digest": blob.digest,
        "size": blob.size,
        "flavor_meta": saved.meta,
        "sample_digest": store_sample(store, saved.frame, y, sig),
    }

"""The registry SDK: register, load, alias, promote, roll back, export and compare models."""

from __future__ import annotations

import contextlib
import io
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shipyard import data as datasets_api
from shipyard._refs import check_name, parse_ref
from shipyard.config import current_user, get_settings, on_reset
from shipyard.errors import InvalidInput, NotFound
from shipyard.models import _env
from shipyard.models._backend import ModelBackend
from shipyard.models._flavors import flavor_for, get_flavor
from shipyard.models._loaded import LoadedModel
from shipyard.models._signature import Signature, infer_signature
from shipyard.models._store import ModelStore, NewModelVersion, check_alias, check_stage
from shipyard.models._types import Model, ModelEvent, ModelVersion
from shipyard.store import ArtifactStore, default_artifacts, default_database
from shipyard.tracking import Run, active_run, get_run
from shipyard.tracking._validate import MAX_TAG_VALUE, check_key, metric_value, text_value

__all__ = [
    "compare",
    "delete",
    "get",
    "history",
    "list_models",
    "load",
    "promote",
    "register",
    "remove_alias",
    "rollback",
    "set_alias",
    "trained_on",
    "versions",
]

SAMPLE_ROWS = 1000
LABEL_COLUMN = "__label__"
FORMATS = ("native", "onnx", "onnx-int8", "auto")
CACHE_SIZE = 32

_lock = threading.Lock()
_cache: dict[str, Any] = {}
_loaded: OrderedDict[tuple[str, str], LoadedModel] = OrderedDict()


def _store() -> ModelBackend:
    """The model store on the configured metadata store, built once (until a reset)."""
    store: ModelBackend | None = _cache.get("store")
    if store is None:
        with _lock:
            store = _cache.setdefault("store", ModelStore(default_database()))
    return store


def _forget() -> None:
    with _lock:
        _cache.clear()
        _loaded.clear()


on_reset(_forget)


def register(
    name: str,
    model: Any,
    *,
    X: Any = None,
    y: Any = None,
    signature: Signature | Mapping[str, Any] | None = None,
    run: Run | str | None = None,
    datasets: Sequence[Any] = (),
    description: str | None = None,
    tags: Mapping[str, Any] | None = None,
    aliases: Sequence[str] = (),
    stage: str = "none",
    metrics: Mapping[str, float] | None = None,
    requirements: Sequence[str] = (),
    artifacts: Mapping[str, str | Path] | None = None,
    flavor: str | None = None,
    serialization: str = "skops",
    trusted: Sequence[str] = (),
    reason: str | None = None,
) -> ModelVersion:
    """Register a new version of the model called ``name``.

    Args:
        name: the model's name (created with its first version).
        model: a fitted scikit-learn estimator or pipeline, LightGBM or XGBoost model, ONNX
            ``ModelProto``, PyTorch module, any object with ``predict`` (see
            :class:`PythonModel`), or the result of ``sy.train`` (its model, sample rows,
            run and dataset are used).
        X: training inputs (or a sample); the signature is inferred from it and up to 1,000
            rows are kept for export checks. Without it, the signature comes from the first
            dataset version in ``datasets`` (the model's ``feature_names_in_`` columns).
        y: training targets for those rows (classes, and the metric of export checks).
        signature: give the signature instead of inferring it.
        run: the run that trained it (a ``Run`` or run id); default: the active run. Its
            metrics are copied to the version, its source commit and dataset inputs recorded.
        datasets: dataset versions it was trained on (``"loans@3"`` or ``DatasetVersion``).
        description, tags: free text and key/value tags.
        aliases: aliases to point at the new version (``["challenger"]``).
        stage: ``none`` (default), ``staging``, ``production`` or ``archived``.
        metrics: metrics to record in addition to the run's.
        requirements: extra pip requirements (``["my-features>=2.1"]``).
        artifacts: files a :class:`PythonModel` needs, stored with the version.
        flavor: force a flavor instead of detecting it.
        serialization: scikit-learn only: ``skops`` (default, loads without running code) or
            ``pickle`` (loaded only after its sha256 matches the registry record).
        trusted: type names skops may build beyond scikit-learn, NumPy and SciPy.
        reason: why, recorded with the registration's events.

    Raises:
        InvalidInput: no flavor knows the object, an unfitted model, a bad name or alias.
        NotFound: a run or dataset version that does not exist.

    Example:
        >>> v = sy.models.register("churn", model, X=X_train, y=y_train)  # doctest: +SKIP
        >>> v.ref                                                         # doctest: +SKIP
        'churn@1'
    """
    check_name("Model", name)
    registration = getattr(model, "registration", None)
    if callable(registration) and not hasattr(model, "predict"):  # e.g. sy.train's result
        given = registration()
        model = given["model"]
        X = given.get("X") if X is None else X
        y = given.get("y") if y is None else y
        run = given.get("run") if run is None else run
        datasets = list(datasets) or list(given.get("datasets", ()))
    for field, value in (
        ("aliases", aliases),
        ("requirements", requirements),
        ("datasets", datasets),
        ("trusted", trusted),
    ):
        if isinstance(value, (str, bytes)):
            raise InvalidInput(f"Field {field!r} takes a list, got the string {value!r}.")
    for alias in aliases:
        check_alias(alias)
    check_stage(stage)
    clean_tags = {
        check_key("tag", k): text_value("tag", k, v, MAX_TAG_VALUE) for k, v in (tags or {}).items()
    }
    clean_metrics = {check_key("metric", k): metric_value(k, v) for k, v in (metrics or {}).items()}
    kind = flavor_for(model, flavor)
    frame = _training_frame(X, model, datasets)
    sig = _signature(signature, frame, y, model)
    _check_signature(kind, sig, model)
    example = None if sig is None or frame is None else sig.validate(_head(frame, 256))
    saved = kind.save(model, serialization=serialization, trusted=tuple(trusted), example=example)
    store = default_artifacts()
    meta = dict(saved.meta)
    if artifacts:
        meta["artifacts"] = {
            check_key("artifact", k): {
                "digest": store.put_file(Path(p)).digest,
                "filename": Path(p).name,
            }
            for k, p in artifacts.items()
        }
    run_id, source_commit, run_metrics, run_inputs = _run_lineage(run)
    dataset_ids = [*(_dataset(d).id for d in datasets), *run_inputs]
    blob = store.put_bytes(saved.data)
    new = NewModelVersion(
        flavor=kind.name,
        digest=blob.digest,
        size=blob.size,
        flavor_meta=meta,
        signature=sig,
        environment=_env.capture([*kind.packages, *_env.packages_of(model)], requirements),
        sample_digest=_store_sample(store, frame, y, sig),
        metrics={**run_metrics, **clean_metrics},
        run_id=run_id,
        source_commit=source_commit,
        created_by=current_user(),
        description=description,
        tags=clean_tags,
        datasets=dataset_ids,
        aliases=tuple(aliases),
        stage=stage,
        reason=reason,
    )
    return _store().add_version(name, new)


def _check_signature(kind: Any, sig: Signature | None, model: Any) -> None:
    """A flavor that feeds columns needs a signature; its width must be the model's."""
    if sig is None and kind.needs_signature:
        raise InvalidInput(
            f"A {kind.name} model is fed the signature's columns, so it needs one: register it "
            "with X=<training inputs> (or signature=..., or datasets=[...])."
        )
    width = getattr(model, "n_features_in_", None)
    if sig is not None and isinstance(width, int) and width != len(sig.inputs):
        raise InvalidInput(
            f"The model was fitted on {width} columns, but X has {len(sig.inputs)} "
            f"({', '.join(sig.names[:10])}). Pass the training inputs as X."
        )


def _run_lineage(
    run: Run | str | None,
) -> tuple[str | None, str | None, dict[str, float], list[str]]:
    """(run id, source commit, latest metrics, dataset version ids it read)."""
    if run is None:
        run = active_run()
        if run is None:
            return None, None, {}, []
    if isinstance(run, Run):
        run.flush()
        run_id = str(run.id)
    elif isinstance(run, str):
        run_id = run
    else:
        raise InvalidInput(f"run must be a Run or a run id, got {type(run).__name__}.")
    data = get_run(run_id)
    metrics = {k: m.value for k, m in data.metrics.items()}
    inputs = [v.id for v in datasets_api.run_inputs(data.info.id)]
    return str(data.info.id), data.info.source_commit, metrics, inputs


def _dataset(ref: Any) -> Any:
    if isinstance(ref, str):
        return datasets_api.resolve(ref)
    if isinstance(ref, datasets_api.DatasetVersion):
        return ref
    raise InvalidInput(
        f"datasets must hold references like 'loans@3' or DatasetVersion objects, got "
        f"{type(ref).__name__}."
    )


def _training_frame(X: Any, model: Any, datasets: Sequence[Any]) -> Any:
    """The training inputs: ``X``, or the model's columns of its first dataset version."""
    if X is not None or not datasets:
        return X
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        return None
    version = _dataset(datasets[0])
    try:
        return version.to_pandas(columns=[str(n) for n in names])
    except (KeyError, ValueError):  # the dataset lacks the model's columns: no signature
        return None


def _signature(
    given: Signature | Mapping[str, Any] | None, frame: Any, y: Any, model: Any
) -> Signature | None:
    if isinstance(given, Signature):
        return given
    if isinstance(given, Mapping):
        return Signature.from_dict(given)
    if given is not None:
        raise InvalidInput(
            f"signature must be a Signature or its dict form, got {type(given).__name__}."
        )
    if frame is None:
        return None
    return infer_signature(frame, y, model=model)


def _store_sample(store: ArtifactStore, frame: Any, y: Any, sig: Signature | None) -> str | None:
    """Up to 1,000 rows of the training inputs (and labels), as Parquet."""
    if frame is None or sig is None:
        return None
    columns = sig.validate(_head(frame, SAMPLE_ROWS))
    table = sig.frame(columns)
    if y is not None and np.ndim(y) == 1:
        labels = np.asarray(y)[: len(table)]
        if len(labels) == len(table):
            table[LABEL_COLUMN] = labels
    buffer = io.BytesIO()
    table.to_parquet(buffer, index=False)
    return store.put_bytes(buffer.getvalue()).digest


def _head(frame: Any, n: int) -> Any:
    if isinstance(frame, pd.DataFrame):
        return frame.iloc[:n]
    if isinstance(frame, np.ndarray):
        return frame[:n]
    if hasattr(frame, "slice") and hasattr(frame, "schema"):
        return frame.slice(0, n)
    return frame


# -- reading ------------------------------------------------------------------------------


def get(ref: str) -> ModelVersion:
    """The version ``ref`` names: ``churn@3``, ``churn@champion``, ``churn@production``,
    ``churn`` (latest)."""
    return _store().resolve(parse_ref("Model", ref))


def sample(ref: str | ModelVersion) -> pd.DataFrame | None:
    """The input rows stored with a version at registration (up to 1,000; labels, when
    given, in the ``__label__`` column), or None if it was registered without ``X``."""
    info = get(ref) if isinstance(ref, str) else ref
    if info.sample_digest is None:
        return None
    return pd.read_parquet(io.BytesIO(default_artifacts().get_bytes(info.sample_digest)))


def versions(name: str) -> list[ModelVersion]:
    """Every version of a model, newest first."""
    check_name("Model", name)
    return _store().versions(name)


def list_models() -> list[Model]:
    """Every registered model with its latest and production versions and aliases."""
    return _store().list_models()


def trained_on(dataset: str) -> list[ModelVersion]:
    """Model versions trained on a dataset version (``"loans@3"``): its lineage downstream."""
    return _store().trained_on(datasets_api.resolve(dataset).id)


def history(name: str, limit: int = 200) -> list[ModelEvent]:
    """Every recorded move of a model (who, when, what, why), newest first."""
    check_name("Model", name)
    return _store().events(name, limit)


def load(ref: str, *, format: str = "native", check_environment: bool = True) -> LoadedModel:
    """Load the version ``ref`` names, ready to predict.

    Repeat loads of the same version in a process come from a cache (the reference is
    still resolved, so a moved alias loads the version it now names).

    Args:
        ref: ``churn@champion``, ``churn@3``, ``churn@production``, ``churn``.
        format: ``native`` (the flavor's own format), ``onnx``, ``onnx-int8``, or ``auto``
            (the quantized form, else ONNX, else native: what serving uses).
        check_environment: warn (``ModelEnvironmentWarning``) when installed packages differ
            from the recorded ones in a way that matters.

    Raises:
        NotFound: no such model, version or alias; or no export in that format.
        IntegrityError: the stored artifact does not match its recorded sha256.
    """
    if format not in FORMATS:
        raise InvalidInput(f"format must be one of {', '.join(FORMATS)}; got {format!r}.")
    info = _store().resolve(parse_ref("Model", ref))
    chosen = next((f for f in _formats(format) if f == "native" or f in info.exports), format)
    with _lock:
        hit = _loaded.get((info.id, chosen))
        if hit is not None:
            _loaded.move_to_end((info.id, chosen))
    if hit is not None:
        loaded = hit.with_version(info)  # the cached model, with today's stage and aliases
        if loaded is not hit:
            with _lock:
                _loaded[(info.id, chosen)] = loaded
    else:
        loaded = _load(info, chosen)
        with _lock:
            _loaded[(info.id, chosen)] = loaded
            while len(_loaded) > CACHE_SIZE:
                _loaded.popitem(last=False)
    if check_environment and loaded.format == "native":
        _env.check(info.ref, info.environment, info.flavor_meta.get("format"))
    return loaded


def _formats(format: str) -> tuple[str, ...]:
    return ("onnx-int8", "onnx", "native") if format == "auto" else (format,)


def _load(info: ModelVersion, format: str) -> LoadedModel:
    artifacts = default_artifacts()
    chosen = format
    if chosen != "native" and chosen not in info.exports:
        raise NotFound(
            f"Model {info.ref} has no {format} export (exports: "
            f"{', '.join(info.exports) or 'none'}). Try: shipyard models export {info.ref} "
            f"--format onnx{' --quantize int8' if format == 'onnx-int8' else ''}"
        )
    if chosen != "native":
        from shipyard.models._onnx import OnnxPredictor

        if info.signature is None:
            raise InvalidInput(f"Model {info.ref} has no signature to feed its ONNX form.")
        export = info.exports[chosen]
        data = artifacts.get_bytes(export.digest)  # verified against the recorded sha256
        return LoadedModel(info, chosen, data, OnnxPredictor(data, export.meta, info.signature))
    kind = get_flavor(info.flavor)
    data = artifacts.get_bytes(info.digest)  # verified before any deserialization
    native = kind.load(data, info.flavor_meta)
    files = info.flavor_meta.get("artifacts")
    if files and hasattr(native, "load"):
        native.load(_artifact_copies(info, files))
    return LoadedModel(
        info, "native", native, kind.predictor(native, info.flavor_meta, info.signature)
    )


def _artifact_copies(info: ModelVersion, files: Mapping[str, Any]) -> dict[str, Path]:
    """Private copies of a PythonModel's files under their own names (a model that writes to
    its file must not change the stored, shared blob)."""
    folder = get_settings().home / "cache" / "model-files" / info.id
    paths: dict[str, Path] = {}
    for key, entry in files.items():
        target = folder / key / entry["filename"]
        if not (target.exists() and _sha256(target) == entry["digest"]):  # changed or new
            default_artifacts().download(entry["digest"], target)  # verified copy
        paths[key] = target
    return paths


def _sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def clear_cache() -> None:
    """Forget every loaded model held in this process."""
    with _lock:
        _loaded.clear()


# -- moves --------------------------------------------------------------------------------


def set_alias(ref: str, alias: str, *, reason: str | None = None) -> ModelVersion:
    """Point ``alias`` at the version ``ref`` names (``set_alias("churn@7", "champion")``)."""
    return _store().set_alias(parse_ref("Model", ref), alias, current_user(), reason)


def remove_alias(name: str, alias: str, *, reason: str | None = None) -> None:
    """Remove an alias from a model."""
    check_name("Model", name)
    _store().remove_alias(name, alias, current_user(), reason)


def promote(ref: str, to: str = "production", *, reason: str | None = None) -> ModelVersion:
    """Move a version to a stage: ``staging``, ``production`` (the previous production
    version is archived in the same transaction), ``archived`` or ``none``."""
    return _store().set_stage(parse_ref("Model", ref), to, current_user(), reason)


def rollback(name: str, *, reason: str | None = None) -> ModelVersion:
    """Put the previous production version back in production, in one step.

    Raises:
        Conflict: there is no earlier production version.
    """
    check_name("Model", name)
    _, target = _store().rollback(name, current_user(), reason)
    return get(f"{name}@{target}")


def delete(ref: str, *, force: bool = False, reason: str | None = None) -> ModelVersion:
    """Delete a version (``churn@3``). One in production or holding aliases needs ``force``
    (its aliases go with it). Its number is never reused; its history is kept."""
    parsed = parse_ref("Model", ref)
    if parsed.version is None and parsed.alias == "latest" and "@" not in ref:
        raise InvalidInput(
            f"Name the version to delete ({ref}@3); delete_model({ref!r}) deletes every version."
        )
    return _store().delete_version(parsed, current_user(), reason, force)


def delete_model(name: str) -> int:
    """Delete a model, every version and its history; returns the number of versions."""
    check_name("Model", name)
    return _store().delete_model(name)


def compare(refs: Sequence[str]) -> pd.DataFrame:
    """Versions side by side: flavor, stage, size, metrics, params of their runs, datasets.

    One column per version (``churn@3``), one row per field; fields one version lacks are
    empty. Rows whose values differ come first.
    """
    if len(refs) < 2:
        raise InvalidInput("compare needs at least two model references.")
    columns: dict[str, dict[str, Any]] = {}
    for ref in refs:
        v = get(ref)
        fields: dict[str, Any] = {
            "flavor": v.flavor,
            "stage": v.stage,
            "aliases": ", ".join(v.aliases),
            "size": v.size,
            "datasets": ", ".join(v.datasets),
            "inputs": len(v.signature.inputs) if v.signature else None,
            "exports": ", ".join(v.exports),
            "run": v.run_id,
        }
        fields.update({f"metrics.{k}": m for k, m in sorted(v.metrics.items())})
        if v.run_id:
            with contextlib.suppress(NotFound):  # a deleted run: its metrics were copied
                params = get_run(v.run_id).params
                fields.update({f"params.{k}": p for k, p in sorted(params.items())})
        columns[v.ref] = fields
    frame = pd.DataFrame(columns)
    differs = frame.astype(str).nunique(axis=1, dropna=False) > 1
    return pd.concat([frame[differs], frame[~differs]])

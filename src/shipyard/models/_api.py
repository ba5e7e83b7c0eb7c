"""The registry SDK: register, load, remove aliases, roll back, export and compare models
(gated moves, ``promote`` and ``set_alias``, are in ``_promote``)."""

from __future__ import annotations

import contextlib
import io
import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard import data as datasets_api
from shipyard._refs import check_name, parse_ref
from shipyard.config import current_user, get_settings, on_reset
from shipyard.errors import Conflict, IntegrityError, InvalidInput, NotFound
from shipyard.models import _env
from shipyard.models._backend import ModelBackend
from shipyard.models._evidence import check_kind, encode
from shipyard.models._inputs import (
    unpack,
)
from shipyard.models._saving import checked_fields, provenance, put_model, save_model, say_unsigned
from shipyard.models._store import ModelStore, NewModelVersion
from shipyard.models._trust import check_trusted, note_registered
from shipyard.models._types import Evidence, Model, ModelEvent, ModelVersion
from shipyard.store import default_artifacts, default_database
from shipyard.tracking import Run, get_run

if TYPE_CHECKING:  # the functions that use them import them: listings need no pandas, NumPy
    import pandas as pd

    from shipyard.models._flavor import Flavor
    from shipyard.models._loaded import LoadedModel
    from shipyard.models._signature import Signature

__all__ = [
    "compare",
    "delete",
    "get",
    "history",
    "list_models",
    "load",
    "register",
    "remove_alias",
    "trained_on",
    "versions",
]

log = logging.getLogger("shipyard.models")
FORMATS = ("native", "onnx", "onnx-int8", "auto")
CACHE_SIZE = 32

_lock = threading.Lock()
_cache: dict[str, Any] = {}
_loaded: OrderedDict[tuple[str, str], LoadedModel] = OrderedDict()


def _store() -> ModelBackend:
    """The model store: the configured metadata store's, or in remote mode the platform
    server's (:class:`~shipyard.models._http.HttpModelBackend`); built once (until a reset)."""
    store: ModelBackend | None = _cache.get("store")
    if store is None:
        with _lock:
            store = _cache.get("store")
            if store is None:
                store = _cache.setdefault("store", _new_store())
    return store


def _new_store() -> ModelBackend:
    """The platform server's registry in remote mode (``SHIPYARD_URL``), else the local one."""
    if get_settings().remote:
        from shipyard.models._http import HttpModelBackend
        from shipyard.store import remote_client

        return HttpModelBackend(remote_client())
    return ModelStore(default_database())


def _forget() -> None:
    with _lock:
        _cache.clear()
        _loaded.clear()


on_reset(_forget)


def flavor_for(model: Any, flavor: str | None = None) -> Flavor:
    """``_flavors.flavor_for``, imported on first use (the flavors bring NumPy)."""
    from shipyard.models import _flavors

    return _flavors.flavor_for(model, flavor)


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
        X: training inputs (or a sample): the signature, and up to 1,000 rows kept for export
            checks. Without it: from ``datasets[0]``, else what the model records of itself.
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
    """
    check_name("Model", name)
    _refuse_protected(name, aliases, stage)
    model, X, y, run, datasets = unpack(model, X=X, y=y, run=run, datasets=datasets)
    lists = {"aliases": aliases, "requirements": requirements, "datasets": datasets}
    clean_tags, clean_metrics = checked_fields({**lists, "trusted": trusted}, stage, tags, metrics)
    kind = flavor_for(model, flavor)
    sig, saved = save_model(
        kind, model, X, y, datasets, signature, serialization, trusted, artifacts
    )
    say_unsigned(name, model, sig)
    lineage = provenance(run, datasets, clean_metrics)  # before any blob: it may refuse
    new = NewModelVersion(
        flavor=kind.name,
        signature=sig,
        environment=_env.capture([*kind.packages, *_env.packages_of(model)], requirements),
        description=description,
        tags=clean_tags,
        aliases=tuple(aliases),
        stage=stage,
        reason=reason,
        **lineage,
        **put_model(saved, y, sig),
    )
    version = _store().add_version(name, new)
    note_registered(version.id)  # its own object: this process may load it back
    return version


def _refuse_protected(name: str, aliases: Sequence[str], stage: str) -> None:
    """A new version cannot take an alias or stage its model's policy protects: it has
    passed no gate yet (register it, then promote or set the alias)."""
    targets = [*(a for a in aliases if isinstance(a, str)), *([stage] if stage != "none" else [])]
    if not targets:
        return
    try:
        found = _store().policies(name)
    except NotFound:  # a new model has no policy
        return
    hit = [t for t in targets if found and found[0].policy.protects(t)]
    if hit:
        raise Conflict(
            f"{'stage' if hit == [stage] else 'aliases'}: {', '.join(hit)} of model {name!r} "
            "are protected by its policy (version "
            f"{found[0].version}): register without them, then promote the new version "
            "through the gates (sy.models.set_alias / promote)."
        )


# -- reading ------------------------------------------------------------------------------


def get(ref: str) -> ModelVersion:
    """The version ``ref`` names: ``churn@3``, ``churn@champion``, ``churn@production``,
    ``churn`` (latest)."""
    return _store().resolve(parse_ref("Model", ref))


def sample(ref: str | ModelVersion) -> pd.DataFrame | None:
    """The input rows stored with a version at registration (up to 1,000; labels, when
    given, in the ``__label__`` column), or None if it was registered without ``X``."""
    import pandas as pd

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


def load(
    ref: str, *, format: str = "native", check_environment: bool = True, trusted: bool = False
) -> LoadedModel:
    """Load the version ``ref`` names, ready to predict.

    Repeat loads of the same version in a process come from a cache (the reference is
    still resolved, so a moved alias loads the version it now names).

    Args:
        ref: ``churn@champion``, ``churn@3``, ``churn@production``, ``churn``.
        format: ``native`` (the flavor's own format), ``onnx``, ``onnx-int8``, or ``auto``
            (the quantized form, else ONNX, else native: what serving uses).
        check_environment: warn (``ModelEnvironmentWarning``) when installed packages differ
            from the recorded ones in a way that matters.
        trusted: load a pickled version (a :class:`PythonModel`, or scikit-learn registered
            with ``serialization="pickle"``) whoever registered it: unpickling runs its code.
            Without it, a pickled version loads only if this process registered it or its
            registrant is named in ``SHIPYARD_TRUSTED_REGISTRANTS``.

    Raises:
        NotFound: no such model, version or alias; or no export in that format.
        Forbidden: a pickled version nobody trusted (nothing of it was unpickled).
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
        if chosen == "native":
            check_trusted(info, trusted)  # before any byte is unpickled
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
    from shipyard.models._flavors import get_flavor
    from shipyard.models._loaded import LoadedModel
    from shipyard.models._onnx import OnnxPredictor

    artifacts = default_artifacts()
    chosen = format
    if chosen != "native" and chosen not in info.exports:
        raise NotFound(
            f"Model {info.ref} has no {format} export (exports: "
            f"{', '.join(info.exports) or 'none'}). Try: shipyard models export {info.ref} "
            f"--format onnx{' --quantize int8' if format == 'onnx-int8' else ''}"
        )
    if chosen != "native":
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
        filename = str(entry.get("filename", ""))
        if not (_plain_name(str(key)) and _plain_name(filename)):  # the record was edited
            raise IntegrityError(
                f"{info.name}@{info.version}: the stored file {key!r} is named "
                f"{filename[:80]!r}; a model file's name and key must be plain names (no "
                "folders, no '..'), so the record was changed outside Shipyard."
            )
        target = folder / key / filename
        if not (target.exists() and _sha256(target) == entry["digest"]):  # changed or new
            default_artifacts().download(entry["digest"], target)  # verified copy
        paths[key] = target
    return paths


def _plain_name(name: str) -> bool:
    """A file name with no folder in it: a stored record cannot point a copy elsewhere."""
    bad = ("/", "\\", "\x00")
    return name not in ("", ".", "..") and not any(c in name for c in bad)


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


def remove_alias(name: str, alias: str, *, reason: str | None = None) -> None:
    """Remove an alias from a model."""
    check_name("Model", name)
    _store().remove_alias(name, alias, current_user(), reason)


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
    import pandas as pd

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


# -- evidence (what governance records about a version) ------------------------------


def record_evidence(ref: str, kind: str, data: Mapping[str, Any]) -> Evidence:
    """Record ``data`` (a JSON object) about the version ``ref`` names, as ``kind`` (one of
    ``explanation``, ``fairness``, ``mitigation``, ``evaluation``, ``card``, ``approval``,
    ``override``). Governance's functions call this; records are appended, never edited.

    Raises:
        InvalidInput: an unknown kind, or data that is not a JSON object of finite numbers.
        NotFound: no such version.
    """
    check_kind(kind)
    encode(data)  # refuse before any request or transaction
    return _store().add_evidence(parse_ref("Model", ref), kind, data, current_user())


def evidence(ref: str, kind: str | None = None) -> list[Evidence]:
    """What was recorded about the version ``ref`` names, newest first; only ``kind``'s
    records when given."""
    if kind is not None:
        check_kind(kind)
    return _store().evidence(parse_ref("Model", ref), kind)

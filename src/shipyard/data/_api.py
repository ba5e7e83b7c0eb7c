"""The datasets SDK: register, get, version, alias, tag, validate and profile datasets."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard._refs import Ref, check_name, parse_ref
from shipyard._validate import MAX_TAG_VALUE, check_key, text_value
from shipyard.config import get_settings, on_reset
from shipyard.data._backend import POLICIES, DatasetBackend, NewVersion, SchemaChanged
from shipyard.data._schema import Schema
from shipyard.data._store import DatasetStore, check_alias
from shipyard.data._types import Dataset, VersionInfo
from shipyard.errors import Conflict, InvalidInput, NotFound
from shipyard.store import Blob, BlobStore, default_artifacts, default_database
from shipyard.tracking import active_run

if TYPE_CHECKING:  # the functions that use them import them: listings need no pandas, Arrow
    import pandas as pd
    import pyarrow as pa

    from shipyard.data._checks import Check, ValidationReport
    from shipyard.data._profile import Profile

log = logging.getLogger("shipyard.data")
MAX_FAILURES_SHOWN = 2  # in the one-line warning; the report keeps every failure


@dataclass(frozen=True)
class DatasetVersion(VersionInfo):
    """An immutable dataset version; its data loads lazily.

    Example:
        >>> v = sy.datasets.get("loans@3")          # doctest: +SKIP
        >>> v.to_pandas().shape, v.scan().aggregate("avg(income)")  # doctest: +SKIP
    """

    artifacts: BlobStore | None = field(default=None, repr=False, compare=False)

    def path(self) -> Path:
        """A local Parquet file with the version's data (verified against its hash)."""
        assert self.artifacts is not None
        return self.artifacts.local_path(self.digest)

    def to_arrow(self, columns: Sequence[str] | None = None) -> pa.Table:
        """The data as an Arrow table (optionally only some columns)."""
        import pyarrow.parquet as pq

        return pq.read_table(self.path(), columns=list(columns) if columns else None)

    def to_pandas(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """The data as a pandas DataFrame (categories come back as categories)."""
        return self.to_arrow(columns).to_pandas()

    def dataset(self) -> Any:
        """A ``pyarrow.dataset.Dataset`` over the version: filter and project before loading."""
        import pyarrow.dataset as ds

        return ds.dataset(self.path(), format="parquet")

    def scan(self, connection: Any = None) -> Any:
        """A DuckDB relation over the version, for larger-than-memory queries."""
        import duckdb

        con = connection if connection is not None else duckdb.connect()
        return con.read_parquet(str(self.path()))

    def profile(self) -> Profile:
        """The profile computed when the version was registered."""
        from shipyard.data._profile import Profile
        from shipyard.data._profile import profile as profile_table

        assert self.artifacts is not None
        if self.profile_digest is None:
            return profile_table(self.path())
        return Profile.from_dict(json.loads(self.artifacts.get_bytes(self.profile_digest)))

    def check_warning(self) -> str | None:
        """One line when the version failed checks (None otherwise): what failed and, for a
        flagged version, that it is kept but a bare name does not resolve to it, and how to
        use or accept it."""
        state = self.checks
        if state not in ("failed", "warnings"):
            return None
        failures = (self.validation or {}).get("failures") or []
        shown = "; ".join(
            str(f.get("message", f)).rstrip(".") for f in failures[:MAX_FAILURES_SHOWN]
        )
        more = len(failures) - MAX_FAILURES_SHOWN
        shown += f"; and {more} more" if more > 0 else ""
        if state == "warnings":
            return f"{self.ref} has values outside its dataset's schema ({shown}); kept."
        try:
            default = f"'{self.name}' still resolves to {_store().resolve_default(self.name).ref}"
        except NotFound:
            default = f"'{self.name}' resolves to no version until one passes"
        return (
            f"{self.ref} failed its checks ({shown}); it is kept, but {default}. Use it as "
            f"{self.ref}, or make it the default: shipyard data accept {self.ref}"
        )

    def schema(self) -> Schema | None:
        """The schema the version was validated against (or inferred from)."""
        if self.schema_version is None:
            return None
        found = _store().schema(self.dataset_id, self.schema_version)
        return None if found is None else Schema.from_dict(found[1])


_cache: dict[str, DatasetBackend] = {}
_warned: set[str] = set()  # flagged versions '@latest' already warned about
_lock = threading.Lock()


def _store() -> DatasetBackend:
    """The dataset store on the configured metadata store, built once (until a reset): in
    remote mode (``SHIPYARD_URL``) the platform server's, over HTTP."""
    store = _cache.get("store")
    if store is None:
        with _lock:
            store = _cache.get("store") or _cache.setdefault("store", _make_store())
    return store


def _make_store() -> DatasetBackend:
    if get_settings().remote:
        from shipyard.data._http import HttpDatasetBackend
        from shipyard.store import remote_client

        return HttpDatasetBackend(remote_client())
    return DatasetStore(default_database())


def _forget() -> None:
    with _lock:
        _cache.clear()
        _warned.clear()


on_reset(_forget)


def _handle(info: VersionInfo) -> DatasetVersion:
    values = {f: getattr(info, f) for f in VersionInfo.__dataclass_fields__}
    return DatasetVersion(**values, artifacts=default_artifacts())


def register(
    name: str,
    source: Any,
    *,
    description: str | None = None,
    tags: Mapping[str, Any] | None = None,
    aliases: Sequence[str] = (),
    policy: str | None = None,
    parents: Sequence[str] = (),
    transform_id: str | None = None,
    transform_params: Mapping[str, Any] | None = None,
    checks: Mapping[str, tuple[str | None, Check]] | None = None,
) -> DatasetVersion:
    """Register ``source`` as a new immutable version of dataset ``name``.

    ``source`` is a pandas/polars DataFrame, an Arrow table, or a CSV/Parquet/JSON-lines
    file or folder (local or fsspec URL). Identical content returns the existing version and
    stores nothing. The first version's schema is inferred and stored; later versions are
    validated against the current schema, and the dataset's policy decides: ``"reject"``
    raises with the report and stores nothing, ``"warn"`` (default) stores the version with
    its report, flagged: one warning line says so, and a bare ``name`` keeps resolving to
    the newest version that passed (``name@3`` and ``name@latest`` reach the flagged one;
    :func:`accept` makes it eligible). ``checks`` adds user checks (name -> (column or
    None, function returning a boolean Series or bool)) to that validation. Each version
    gets a profile.

    Raises:
        InvalidInput: unreadable or empty data, a mixed-type column, a rejected version.
        NotFound: a file that does not exist.
    """
    from shipyard.data._content import content_hash, to_arrow

    check_name("Dataset", name)
    if policy is not None and policy not in POLICIES:
        raise InvalidInput(f"policy must be one of {POLICIES}, got {policy!r}.")
    labels = _Labels(
        description,
        _clean_tags(tags),
        tuple(aliases),
        tuple(parents),
        transform_id,
        transform_params,
    )
    _check_labels(name, labels)
    store = _store()
    table = to_arrow(source)
    digest_of_content = content_hash(table)
    blobs: tuple[Blob, Blob] | None = None
    for _ in range(3):
        dataset = store.dataset_or_none(name)
        if dataset is not None:
            existing = _existing(store, dataset, policy, digest_of_content, labels)
            if existing is not None:  # same content: nothing new is stored
                return _handle(existing)
        effective = policy or (dataset.policy if dataset is not None else "warn")
        current = store.schema(dataset.id) if dataset is not None else None
        checked = _check(name, table, current, checks, effective)
        blobs = blobs or _store_blobs(table)
        new = _new_version(table, digest_of_content, blobs, current, checked, labels)
        try:
            info = store.add_version(name, replace(new, policy=effective))
        except SchemaChanged:
            continue  # another writer changed the schema: validate against the new one
        version = _handle(info)
        warning = version.check_warning()
        if warning is not None:
            log.warning("%s", warning)
        return version
    raise Conflict(f"The schema of dataset {name!r} kept changing while registering; try again.")


@dataclass(frozen=True)
class _Labels:
    """What a registration records besides the data: description, tags, aliases, lineage."""

    description: str | None
    tags: dict[str, str]
    aliases: tuple[str, ...]
    parents: tuple[str, ...]
    transform_id: str | None
    transform_params: Mapping[str, Any] | None


def _clean_tags(tags: Mapping[str, Any] | None) -> dict[str, str]:
    return {
        check_key("Tag", k): text_value("Tag", k, v, MAX_TAG_VALUE) for k, v in (tags or {}).items()
    }


def _check_labels(name: str, labels: _Labels) -> None:
    """Refuse bad aliases and parents before anything is read or stored."""
    for alias in labels.aliases:
        parse_ref("Dataset", f"{name}@{check_alias(alias)}")
    unknown = _store().unknown_versions(list(labels.parents))
    if unknown:
        raise InvalidInput(f"parents must be dataset version ids; unknown: {unknown}.")


def _existing(
    store: DatasetBackend, dataset: Dataset, policy: str | None, content: str, labels: _Labels
) -> VersionInfo | None:
    """The version with this content (labelled with this call's aliases and tags), if any.

    A policy given with the call becomes the dataset's policy first.
    """
    if policy is not None and policy != dataset.policy:
        store.set_policy(dataset.name, policy)
    existing = store.by_content(dataset.id, content)
    if existing is None:
        return None
    store.label(existing.id, labels.aliases, labels.tags)
    return store.get(existing.id)


def _store_blobs(table: pa.Table) -> tuple[Blob, Blob]:
    """(profile JSON, Parquet data) of a new version, in the artifact store."""
    from shipyard.data._profile import profile as profile_table

    artifacts = default_artifacts()
    stats = profile_table(table)
    return (
        artifacts.put_bytes(json.dumps(stats.to_dict()).encode()),
        _store_parquet(table, artifacts),
    )


def _new_version(
    table: pa.Table,
    content: str,
    blobs: tuple[Blob, Blob],
    current: tuple[int, dict[str, Any]] | None,
    checked: tuple[dict[str, Any] | None, ValidationReport | None],
    labels: _Labels,
) -> NewVersion:
    """The record of a new version (its policy is set by the caller)."""
    new_schema, report = checked
    run = active_run()
    return NewVersion(
        policy="warn",
        expected_schema=current[0] if current else None,
        content_hash=content,
        digest=blobs[1].digest,
        rows=table.num_rows,
        columns=table.num_columns,
        size=blobs[1].size,
        profile_digest=blobs[0].digest,
        validation=report.to_dict() if report is not None else None,
        new_schema=new_schema,
        run_id=run.id if run is not None else None,
        parents=labels.parents,
        transform_id=labels.transform_id,
        transform_params=labels.transform_params,
        description=labels.description,
        tags=labels.tags,
        aliases=labels.aliases,
    )


def _check(
    name: str,
    table: pa.Table,
    current: tuple[int, dict[str, Any]] | None,
    checks: Mapping[str, tuple[str | None, Check]] | None,
    policy: str,
) -> tuple[dict[str, Any] | None, ValidationReport | None]:
    """(schema to store for a first version, validation report); raises when rejected."""
    from shipyard.data._checks import validate as validate_table
    from shipyard.data._infer import infer_schema

    new_schema: dict[str, Any] | None = None
    report: ValidationReport | None = None
    if current is None:
        inferred = infer_schema(table)
        new_schema = inferred.to_dict()
        if checks:
            report = validate_table(table, inferred, checks)
    else:
        report = validate_table(table, Schema.from_dict(current[1]), checks)
    if report is not None and not report.ok:
        schema_version = current[0] if current is not None else 1
        if policy == "reject":
            raise InvalidInput(
                f"New version of dataset {name!r} rejected by its schema (version "
                f"{schema_version}) and checks; nothing was stored.\n{report.summary()}"
            )
    return new_schema, report


def _store_parquet(table: pa.Table, artifacts: BlobStore) -> Blob:
    from shipyard.data._content import write_parquet

    temp_dir = get_settings().home / "tmp"
    temp_dir.mkdir(parents=True, exist_ok=True)
    temp = temp_dir / f"{uuid.uuid4().hex}.parquet"
    try:
        write_parquet(table, temp)
        return artifacts.put_file(temp)
    finally:
        temp.unlink(missing_ok=True)


def get(ref: str) -> DatasetVersion:
    """The version ``ref`` names (``loans``, ``loans@3``, ``loans@v3``, ``loans@golden``).

    A bare ``loans`` is the newest version that did not fail its checks (or was accepted);
    ``loans@latest`` is the newest, flagged or not (a warning says when it is flagged).

    Inside an active run, the run records that it read this version (lineage).
    """
    info = _lookup(ref)
    run = active_run()
    if run is not None:
        _store().record_input(run.id, info.id)
    return _handle(info)


def resolve(ref: str) -> DatasetVersion:
    """Like :func:`get`, without recording a read."""
    return _handle(_lookup(ref))


def _lookup(ref: str) -> VersionInfo:
    """A bare name: the newest version that is not flagged; ``name@latest``: the newest,
    flagged or not (with a warning when flagged); a number or alias: that version."""
    parsed = parse_ref("Dataset", ref)
    if "@" not in ref:
        return _store().resolve_default(parsed.name)
    info = _store().resolve(parsed)
    if parsed.alias == "latest" and info.flagged and info.id not in _warned:
        _warned.add(info.id)  # once per version and process: monitors read @latest often
        log.warning(
            "%s@latest is %s, which failed its checks; '%s' alone resolves to the newest "
            "version that passed them.",
            parsed.name,
            info.ref,
            parsed.name,
        )
    return info


def accept(ref: str) -> DatasetVersion:
    """Accept a version that failed its checks, so that a bare name may resolve to it again
    (it stays the default only while it is the newest unflagged version). Its report is
    kept; accepting a version that passed changes nothing."""
    version = resolve(ref)
    _store().accept(version.id)
    return resolve(version.ref)


def run_inputs(run_id: str) -> list[DatasetVersion]:
    """The dataset versions a run read (its lineage inputs)."""
    return [_handle(info) for info in _store().run_inputs(run_id)]


def list_datasets() -> list[Dataset]:
    """Every dataset with its number of versions."""
    return _store().list_datasets()


def versions(name: str) -> list[DatasetVersion]:
    """Every version of a dataset, newest first."""
    return [_handle(v) for v in _store().versions(check_name("Dataset", name))]


def set_alias(ref: str, alias: str) -> DatasetVersion:
    """Point ``alias`` (e.g. ``golden``) at the version ``ref`` names."""
    version = resolve(ref)
    parse_ref("Dataset", f"{version.name}@{check_alias(alias)}")
    _store().set_alias(version.dataset_id, alias, version.id)
    return resolve(version.ref)


def remove_alias(name: str, alias: str) -> None:
    """Delete an alias of a dataset."""
    _store().remove_alias(_store().dataset(name).id, alias)


def tag(ref: str, **tags: Any) -> DatasetVersion:
    """Set tags on a version."""
    version = resolve(ref)
    _store().set_tags(
        version.id,
        {check_key("Tag", k): text_value("Tag", k, v, MAX_TAG_VALUE) for k, v in tags.items()},
    )
    return resolve(version.ref)


def set_policy(name: str, policy: str) -> None:
    """``"reject"`` invalid new versions, or ``"warn"`` and accept them."""
    _store().set_policy(name, policy)


def schema(name: str) -> Schema:
    """The current schema of a dataset."""
    ds = _store().dataset(check_name("Dataset", name))
    found = _store().schema(ds.id)
    if found is None:
        raise InvalidInput(f"Dataset {name!r} has no schema yet (register a version first).")
    return Schema.from_dict(found[1])


def set_schema(name: str, new: Schema) -> int:
    """Store an edited schema as the dataset's next schema version; returns its number."""
    if not isinstance(new, Schema):
        raise InvalidInput(f"set_schema takes a Schema, got {type(new).__name__}.")
    ds = _store().dataset(check_name("Dataset", name))
    return _store().put_schema(ds.id, new.to_dict())


def validate(
    data: Any,
    against: str | Schema,
    checks: Mapping[str, tuple[str | None, Check]] | None = None,
) -> ValidationReport:
    """Validate a version reference or any table (e.g. a serving batch) against a dataset's
    current schema (``against`` its name) or a given :class:`Schema`, and optional user
    checks."""
    from shipyard.data._checks import validate as validate_table
    from shipyard.data._content import to_arrow

    table = resolve(data).to_arrow() if isinstance(data, str) else to_arrow(data)
    expected = against if isinstance(against, Schema) else schema(against)
    return validate_table(table, expected, checks)


def profile(ref: str) -> Profile:
    """The stored profile of a version."""
    return resolve(ref).profile()


def parse(ref: str) -> Ref:
    """Parse a dataset reference (exposed for the CLI)."""
    return parse_ref("Dataset", ref)

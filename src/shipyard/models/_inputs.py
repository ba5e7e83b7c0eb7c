"""What a registration records besides the model: its inputs, signature, sample and lineage."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard import data as datasets_api
from shipyard._validate import check_key
from shipyard.errors import InvalidInput
from shipyard.store import BlobStore
from shipyard.tracking import Run, active_run, get_run

if TYPE_CHECKING:  # imported where used: listing models needs no NumPy, pandas
    from shipyard.models._flavor import Flavor
    from shipyard.models._signature import Signature

__all__ = [
    "LABEL_COLUMN",
    "SAMPLE_ROWS",
    "check_signature",
    "dataset_version",
    "head",
    "run_lineage",
    "signature_of",
    "store_files",
    "store_sample",
    "training_frame",
    "unpack",
]

SAMPLE_ROWS = 1000
LABEL_COLUMN = "__label__"


def unpack(
    model: Any, *, X: Any, y: Any, run: Any, datasets: Sequence[Any]
) -> tuple[Any, Any, Any, Any, Sequence[Any]]:
    """(model, X, y, run, datasets): a training result (``sy.train``'s: it has
    ``registration()`` and no ``predict``) gives its model, sample rows, run and datasets;
    what the caller gave wins."""
    registration = getattr(model, "registration", None)
    if not callable(registration) or hasattr(model, "predict"):
        return model, X, y, run, datasets
    given = registration()
    return (
        given["model"],
        given.get("X") if X is None else X,
        given.get("y") if y is None else y,
        given.get("run") if run is None else run,
        list(datasets) or list(given.get("datasets", ())),
    )


def store_files(store: BlobStore, artifacts: Mapping[str, str | Path]) -> dict[str, Any]:
    """A PythonModel's files, stored: name -> digest and file name."""
    return {
        check_key("artifact", k): {
            "digest": store.put_file(Path(p)).digest,
            "filename": Path(p).name,
        }
        for k, p in artifacts.items()
    }


def check_signature(kind: Flavor, sig: Signature | None, model: Any) -> None:
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


def run_lineage(
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


def dataset_version(ref: Any) -> Any:
    if isinstance(ref, str):
        return datasets_api.resolve(ref)
    if isinstance(ref, datasets_api.DatasetVersion):
        return ref
    raise InvalidInput(
        f"datasets must hold references like 'loans@3' or DatasetVersion objects, got "
        f"{type(ref).__name__}."
    )


def training_frame(X: Any, model: Any, datasets: Sequence[Any]) -> Any:
    """The training inputs: ``X``, or the model's columns of its first dataset version."""
    if X is not None or not datasets:
        return X
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        return None
    version = dataset_version(datasets[0])
    try:
        return version.to_pandas(columns=[str(n) for n in names])
    except (KeyError, ValueError):  # the dataset lacks the model's columns: no signature
        return None


def signature_of(
    given: Signature | Mapping[str, Any] | None, frame: Any, y: Any, model: Any
) -> Signature | None:
    from shipyard.models._infer_signature import model_signature
    from shipyard.models._signature import Signature, infer_signature

    if isinstance(given, Signature):
        return given
    if isinstance(given, Mapping):
        return Signature.from_dict(given)
    if given is not None:
        raise InvalidInput(
            f"signature must be a Signature or its dict form, got {type(given).__name__}."
        )
    if frame is None:
        return model_signature(model)  # what the model records about its inputs, if anything
    return infer_signature(frame, y, model=model)


def store_sample(store: BlobStore, frame: Any, y: Any, sig: Signature | None) -> str | None:
    """Up to 1,000 rows of the training inputs (and labels), as Parquet."""
    import numpy as np

    if frame is None or sig is None:
        return None
    columns = sig.validate(head(frame, SAMPLE_ROWS))
    table = sig.frame(columns)
    if y is not None and np.ndim(y) == 1:
        labels = np.asarray(y)[: len(table)]
        if len(labels) == len(table):
            table[LABEL_COLUMN] = labels
    buffer = io.BytesIO()
    table.to_parquet(buffer, index=False)
    return store.put_bytes(buffer.getvalue()).digest


def head(frame: Any, n: int) -> Any:
    import numpy as np
    import pandas as pd

    if isinstance(frame, pd.DataFrame):
        return frame.iloc[:n]
    if isinstance(frame, np.ndarray):
        return frame[:n]
    if hasattr(frame, "slice") and hasattr(frame, "schema"):
        return frame.slice(0, n)
    return frame

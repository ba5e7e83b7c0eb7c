"""Turning Python objects into artifact bytes and back, without pickle."""

from __future__ import annotations

import io
import json
from typing import Any

from shipyard.errors import InvalidInput

#: kind -> file extension
EXTENSIONS = {
    "dataframe": ".parquet",
    "arrow": ".parquet",
    "ndarray": ".npy",
    "figure": ".png",
    "plotly": ".plotly.json",
    "json": ".json",
    "text": ".txt",
    "bytes": ".bin",
}


def serialize(obj: Any) -> tuple[bytes, str]:
    """(content, kind) for a supported object; anything else is refused, naming its type."""
    module = type(obj).__module__ or ""
    if module.startswith("pandas") and hasattr(obj, "to_parquet"):
        buf = io.BytesIO()
        obj.to_parquet(buf)
        return buf.getvalue(), "dataframe"
    if module.startswith("pyarrow") and hasattr(obj, "schema") and hasattr(obj, "num_rows"):
        import pyarrow.parquet as pq

        buf = io.BytesIO()
        pq.write_table(obj, buf)
        return buf.getvalue(), "arrow"
    if module.startswith("numpy") and hasattr(obj, "dtype") and hasattr(obj, "shape"):
        import numpy as np

        buf = io.BytesIO()
        np.save(buf, obj, allow_pickle=False)
        return buf.getvalue(), "ndarray"
    if module.startswith("matplotlib") and hasattr(obj, "savefig"):
        buf = io.BytesIO()
        obj.savefig(buf, format="png", bbox_inches="tight")
        return buf.getvalue(), "figure"
    if module.startswith("plotly") and hasattr(obj, "to_json"):
        return str(obj.to_json()).encode(), "plotly"
    if isinstance(obj, (dict, list)):
        try:
            return json.dumps(obj, indent=2, sort_keys=True, allow_nan=False).encode(), "json"
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"Artifact object is not JSON-serializable: {exc}") from exc
    if isinstance(obj, bytes):
        return obj, "bytes"
    raise InvalidInput(
        f"Cannot log an object of type {type(obj).__module__}.{type(obj).__qualname__} as an "
        "artifact; expected a file or folder path, a pandas DataFrame, an Arrow table, a "
        "numpy array, a matplotlib or plotly figure, a dict or list (JSON) or bytes. Use "
        "run.log_text() for text."
    )


def deserialize(data: bytes, kind: str) -> Any:
    """The object an artifact of ``kind`` holds (files come back as bytes)."""
    if kind == "dataframe":
        import pandas as pd

        return pd.read_parquet(io.BytesIO(data))
    if kind == "arrow":
        import pyarrow.parquet as pq

        return pq.read_table(io.BytesIO(data))
    if kind == "ndarray":
        import numpy as np

        return np.load(io.BytesIO(data), allow_pickle=False)
    if kind in ("json", "plotly"):
        return json.loads(data)
    if kind == "text":
        return data.decode()
    return data


def with_extension(name: str, kind: str) -> str:
    """``name`` with the kind's extension when it has none."""
    ext = EXTENSIONS.get(kind, "")
    last = name.rsplit("/", 1)[-1]
    return name if "." in last else name + ext

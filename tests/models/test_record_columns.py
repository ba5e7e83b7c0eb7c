"""``Signature.record_columns``: one record of numbers for a signature of float inputs in
one step (the model server's fast path), the very arrays ``validate`` gives, or None to
leave the decision to ``validate``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from shipyard.models._signature import RowColumns, infer_signature


def test_record_columns_agree_with_validate_or_decline() -> None:
    signature = infer_signature(pd.DataFrame({"a": [1.0], "b": [2.0]}))
    fast = signature.record_columns({"b": 2, "a": 1.5})
    assert isinstance(fast, RowColumns) and list(fast) == ["a", "b"]
    expected = signature.validate({"a": [1.5], "b": [2]})
    for name, values in expected.items():
        assert fast[name].dtype == values.dtype and np.array_equal(fast[name], values)
    assert np.array_equal(fast.matrix, [[1.5, 2.0]])
    declined = [
        {"a": True, "b": 2.0},  # a bool is not a number here
        {"a": "1", "b": 2.0},
        {"a": None, "b": 2.0},
        {"a": float("nan"), "b": 2.0},
        {"a": 1.0},  # missing
        {"a": 1.0, "b": 2.0, "c": 3.0},  # a key that is not an input
        {"a": 10**400, "b": 2.0},  # beyond float64
    ]
    assert all(signature.record_columns(record) is None for record in declined)
    mixed = infer_signature(pd.DataFrame({"a": [1.0], "n": [2]}))
    assert mixed.record_columns({"a": 1.0, "n": 2}) is None

"""Stored values (every entry of VALUE_KINDS round-trips) and the graph a body builds."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

import shipyard as sy
from shipyard.errors import InvalidInput
from shipyard.pipelines import VALUE_KINDS
from shipyard.pipelines._graph import build, parse_memory
from shipyard.pipelines._values import INLINE_LIMIT, Stored, dump, load

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_json_values_round_trip(value: object) -> None:
    stored, data = dump(value, "x")
    assert stored.kind == "json"
    assert load(stored, data) == value
    assert Stored.from_json(stored.to_json()) == stored


def _cases() -> dict[str, object]:
    return {
        "arrow": pa.table({"a": [1, 2], "b": ["x", "y"]}),
        "dataframe": pd.DataFrame({"a": [1.5, 2.5], "b": ["x", None]}),
        "ndarray": np.arange(12, dtype="int32").reshape(3, 4),
        "pickle": {"nan": float("nan"), "set": {1, 2}},
    }


@pytest.mark.parametrize("kind", sorted(_cases()))
def test_each_kind_round_trips(kind: str) -> None:
    value = _cases()[kind]
    stored, data = dump(value, "x")
    assert stored.kind == kind
    back = load(stored, data)
    if kind == "arrow":
        assert back.equals(value)
    elif kind == "dataframe":
        pd.testing.assert_frame_equal(back, value)
    elif kind == "ndarray":
        np.testing.assert_array_equal(back, value)
    else:
        assert back["set"] == {1, 2}


def test_every_kind_has_a_case_and_the_last_takes_anything() -> None:
    names = [k.name for k in VALUE_KINDS]
    assert set(names) >= {*_cases(), "json", "dataset", "model"}
    assert names[-1] == "pickle"


def test_large_values_are_not_kept_inline() -> None:
    small, _ = dump("x" * 10, "x")
    large, data = dump("x" * (INLINE_LIMIT + 10), "x")
    assert small.inline is not None and large.inline is None
    assert large.size == len(data)


def test_what_cannot_be_stored_is_named() -> None:
    with pytest.raises(InvalidInput, match=r"Cannot store the output of step 's': a _thread\.lock"):
        dump(threading.Lock(), "the output of step 's'")


def test_memory_sizes_parse() -> None:
    assert parse_memory("4GB") == 4 * 10**9
    assert parse_memory("512MiB") == 512 * 1024**2
    assert parse_memory(1024) == 1024
    assert parse_memory(None) is None
    for bad in ("", "-1GB", "lots", True, 0):
        with pytest.raises(InvalidInput, match="memory must be bytes"):
            parse_memory(bad)


@sy.step
def _one(x: int) -> int:
    return x


def test_outputs_cannot_be_unpacked_or_branched_on() -> None:
    def unpack(x: int = 1) -> None:
        _a, _b = _one(x)

    def branch(x: int = 1) -> None:
        if _one(x):
            pass

    with pytest.raises(InvalidInput, match="cannot be unpacked"):
        build("p", unpack, {"x": 1})
    with pytest.raises(InvalidInput, match="cannot decide an 'if'"):
        build("p", branch, {"x": 1})


def test_repeated_calls_get_numbered_names_and_outside_a_pipeline_a_step_is_a_function() -> None:
    graph = build("p", lambda: [_one(1), _one(2), _one(3)], {})
    assert list(graph.nodes) == ["_one", "_one-2", "_one-3"]
    assert _one(5) == 5

"""A search filter or order-by that does not parse is the same
:class:`~shipyard.errors.InvalidFilter` locally and through a platform server (its text,
position and message), so callers catch one exception in both modes."""

from __future__ import annotations

import uuid

import pytest

import shipyard as sy
from shipyard.errors import InvalidFilter, InvalidInput


@pytest.mark.parametrize(
    ("filter", "order_by", "position", "length"),
    [("metrics.auc >>> 1", None, 13, 1), (None, "metrics.auc sideways", 12, 8)],
)
def test_a_bad_filter_is_an_invalid_filter_in_both_modes(
    mode: str, filter: str | None, order_by: str | None, position: int, length: int
) -> None:
    exp = f"filters-{uuid.uuid4().hex[:8]}"
    with sy.start_run(experiment=exp) as run:
        run.log_metric("auc", 0.5)
    with pytest.raises(InvalidFilter) as caught:
        sy.search_runs(exp, filter=filter, order_by=order_by)
    given = filter or order_by
    assert caught.value.text == given and caught.value.position == position
    assert str(caught.value).endswith(f"\n  {given}\n  {' ' * position}{'^' * length}")


def test_other_refusals_keep_their_kind(mode: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        sy.search_runs("no-such-experiment-" + uuid.uuid4().hex[:8], max_results=0)
    assert type(caught.value) is InvalidInput and "max_results" in str(caught.value)

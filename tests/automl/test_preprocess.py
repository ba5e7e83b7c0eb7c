"""Preprocessing inside the model: missing dates are imputed, with indicators."""

from __future__ import annotations

import numpy as np
import pandas as pd

from shipyard.automl import make_preprocessor


def test_missing_dates_are_imputed_with_indicators_so_no_nan_reaches_the_model() -> None:
    when = pd.Series(
        pd.to_datetime(["2024-01-05 10:00", "2024-03-01 23:00", None, "2025-07-04 00:00"])
    )
    frame = pd.DataFrame({"when": when, "x": [1.0, 2.0, 3.0, 4.0]})

    for scale in (True, False):
        out = make_preprocessor(frame, scale=scale).fit_transform(frame)
        names = list(make_preprocessor(frame, scale=scale).fit(frame).get_feature_names_out())

        assert not np.isnan(out).any()
        assert out.shape == (4, 1 + 5 + 5)  # x, the five parts, an indicator per part
        flag = out[:, names.index("missingindicator_when_year")]
        assert flag[2] > flag[[0, 1, 3]].max()  # only the row without a date is flagged

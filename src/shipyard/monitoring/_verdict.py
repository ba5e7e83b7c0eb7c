"""The report of :func:`~shipyard.monitoring.drift` (and ``drift_stream``): each feature's
statistics and the verdict of its deciding statistic, and the dataset's verdict.

Which statistic decides (defaults, overridable per feature) is the table's
``DEFAULT_METHODS`` for the feature's kind and window size: on small windows (either side
at most ``SMALL_WINDOW`` values) the tests' p-values, on larger windows effect sizes.

An effect size drifts only when it reaches its threshold *and* is beyond sampling noise:
its p-value under no drift (the entry's ``beyond_noise``) below ``ALPHA`` on small windows
and ``LARGE_ALPHA`` on larger ones. Distances measured on samples are biased upward (over
many categories with few rows each, past any threshold), so the threshold alone would alarm
on every check of a high-cardinality column; the p-value alone would alarm on shifts too
small to matter. Each feature says which rule decided (``rule``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from shipyard.errors import InvalidInput
from shipyard.monitoring._inputs import Inputs
from shipyard.monitoring._noise import Noise
from shipyard.monitoring._statistics import (
    DEFAULT_METHODS,
    DEFAULTS,
    METHODS,
    is_p_value,
    statistic,
)

__all__ = [
    "ALPHA",
    "LARGE_ALPHA",
    "MIN_ROWS",
    "SMALL_WINDOW",
    "DriftReport",
    "FeatureDrift",
    "Side",
    "check_choices",
    "judge",
    "unjudgeable",
    "verdict",
]

SMALL_WINDOW = 1_000
ALPHA = 0.05  # an effect size on a small window: beyond noise below this p-value
LARGE_ALPHA = 0.001  # on larger windows: false alarms well under 1% wherever noise is large
MIN_ROWS = 30  # fewer non-missing values than this on a side: no test has power; no verdict


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's statistics and the verdict of its deciding method."""

    feature: str
    kind: str  # numeric or categorical ("" when the feature is missing on a side)
    method: str | None
    statistic: float | None  # the deciding method's value (a p-value for ks/chisquare)
    threshold: float | None
    drifted: bool
    stats: dict[str, float] = field(default_factory=dict)
    reference_rows: int = 0
    current_rows: int = 0
    reference_missing: float = 0.0  # share of missing values
    current_missing: float = 0.0
    note: str = ""  # why there is no verdict (missing on a side, all missing, too few rows)
    rule: str = ""  # what decided, e.g. "Jensen–Shannon distance 0.14 ≥ 0.05 and beyond ..."
    noise: float | None = None  # the deciding effect size's noise level, where estimated
    significance: float | None = None  # its p-value under no drift, where asked
    # for charts: bin (or category) labels and each side's shares
    distribution: dict[str, list[Any]] = field(default_factory=dict, repr=False)


@dataclass
class DriftReport:
    """Per-feature drift and the dataset-level verdict (``drifted``)."""

    features: list[FeatureDrift]
    share: float  # drifted share of the judged features (importance-weighted when given)
    drift_share: float  # the share at which the dataset counts as drifted
    weighted: bool

    @property
    def drifted(self) -> bool:
        return self.share >= self.drift_share and any(f.drifted for f in self.features)

    @property
    def drifted_features(self) -> list[str]:
        return [f.feature for f in self.features if f.drifted]

    def to_frame(self) -> pd.DataFrame:
        """One row per feature: method, statistic, p-value (the method's, or for an effect
        size that reached its threshold, its p-value under no drift), threshold, drifted,
        the effect size's noise level and the rule that decided; then every statistic
        computed and the notes."""
        rows = []
        for f in self.features:
            p_value = f.statistic if is_p_value(f.method) else f.significance
            rows.append(
                {
                    "feature": f.feature,
                    "kind": f.kind,
                    "method": f.method,
                    "statistic": f.statistic,
                    "p_value": p_value,
                    "threshold": f.threshold,
                    "drifted": f.drifted,
                    "noise": f.noise,
                    "rule": f.rule,
                    **f.stats,
                    "reference_rows": f.reference_rows,
                    "current_rows": f.current_rows,
                    "reference_missing": f.reference_missing,
                    "current_missing": f.current_missing,
                    "note": f.note,
                }
            )
        return pd.DataFrame(rows)

    def to_html(self, path: str | Path, title: str = "Data drift") -> Path:
        """A static HTML page: verdict, table and a chart per feature (it opens offline,
        loading ``plotly.min.js`` written beside it)."""
        from shipyard.monitoring._report import write_html

        return write_html(self, path, title)

    def to_dict(self) -> dict[str, Any]:
        frame = self.to_frame().astype(object).where(lambda d: d.notna(), None)
        return {
            "drifted": self.drifted,
            "share": self.share,
            "drift_share": self.drift_share,
            "weighted": self.weighted,
            "features": frame.to_dict("records"),
        }


class Side(Protocol):
    """What a verdict needs of one side of a feature (a :class:`_Column` here, a streamed
    summary in ``_stream``)."""

    kind: str
    rows: int

    @property
    def missing(self) -> float: ...

    @property
    def present(self) -> int: ...


def check_choices(
    methods: Mapping[str, str], thresholds: Mapping[str, float], names: Sequence[str]
) -> None:
    for feature, method in methods.items():
        if method not in DEFAULTS:
            raise InvalidInput(
                f"methods[{feature!r}] must be one of {', '.join(DEFAULTS)}; got {method!r}."
            )
    for feature, value in thresholds.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
            raise InvalidInput(f"thresholds[{feature!r}] must be a non-negative number.")
    unknown = sorted((set(methods) | set(thresholds)) - set(names))
    if unknown:
        raise InvalidInput(f"methods/thresholds name columns not compared: {unknown}.")


def unjudgeable(name: str, ref: Side | None, cur: Side | None) -> FeatureDrift | None:
    """The feature without a verdict when a side lacks it, the sides' kinds differ or a side
    is all missing; None when its statistics can be computed."""
    if ref is None or cur is None:
        side = "reference" if ref is None else "current window"
        return FeatureDrift(
            name, "", None, None, None, False,
            reference_rows=ref.rows if ref else 0, current_rows=cur.rows if cur else 0,
            note=f"missing in the {side}",
        )  # fmt: skip
    if ref.kind != cur.kind:
        return FeatureDrift(
            name, cur.kind, None, None, None, False,
            note=f"{ref.kind} in the reference but {cur.kind} in the current window",
            **_sizes(ref, cur),
        )  # fmt: skip
    if ref.present == 0 or cur.present == 0:
        side = "reference" if ref.present == 0 else "current window"
        return FeatureDrift(
            name, ref.kind, None, None, None, False, note=f"all missing in the {side}",
            **_sizes(ref, cur),
        )  # fmt: skip
    return None


def _sizes(ref: Side, cur: Side) -> dict[str, Any]:
    return {
        "reference_rows": ref.rows,
        "current_rows": cur.rows,
        "reference_missing": ref.missing,
        "current_missing": cur.missing,
    }


def judge(
    name: str,
    ref: Side,
    cur: Side,
    inputs: Inputs,
    stats: dict[str, float],
    distribution: dict[str, list[Any]],
    method: str | None,
    threshold: float | None,
    constant: bool,
) -> FeatureDrift:
    """The verdict on a feature's statistics: its deciding method (chosen, or the default for
    the window's size), compared with its threshold (given, or the method's default), and
    for an effect size that reaches it, whether it is beyond sampling noise."""
    common = {**_sizes(ref, cur), "distribution": distribution}
    fewest = min(ref.present, cur.present)
    if fewest < MIN_ROWS:
        return FeatureDrift(
            name, ref.kind, None, None, None, False, stats,
            note=f"too few values to judge ({fewest} < {MIN_ROWS})", **common,
        )  # fmt: skip
    small = fewest <= SMALL_WINDOW
    chosen = method or DEFAULT_METHODS[(ref.kind, small)]
    if chosen not in METHODS[ref.kind]:
        raise InvalidInput(
            f"methods[{name!r}]: {chosen} does not apply to a {ref.kind} feature (choose from "
            f"{', '.join(METHODS[ref.kind])})."
        )
    entry = statistic(chosen)
    limit = entry.threshold if threshold is None else float(threshold)
    value = stats[entry.deciding_key]
    said = f"{entry.label} {value:.3g}"
    noise: Noise | None = None
    if not entry.larger_is_drift:
        drifted = value < limit
        rule = f"{said} {'<' if drifted else '≥'} {limit:g}"
    elif value < limit:
        drifted, rule = False, f"{said} < {limit:g}"
    else:
        alpha = ALPHA if small else LARGE_ALPHA
        noise = entry.beyond_noise(inputs, stats, alpha)
        drifted = noise.p_value < alpha
        rule = f"{said} ≥ {limit:g} " + _beyond(noise, alpha, drifted)
    note = "constant in the reference" if constant else ""
    return FeatureDrift(
        name, ref.kind, chosen, value, limit, bool(drifted), stats, note=note, rule=rule,
        noise=noise.level if noise else None, significance=noise.p_value if noise else None,
        **common,
    )  # fmt: skip


def _beyond(noise: Noise, alpha: float, drifted: bool) -> str:
    level = "" if noise.level is None else f"noise level {noise.level:.3g}, "
    if noise.p_value <= 0:  # underflowed
        return f"and beyond sampling noise ({level}{noise.test}<1e-300)"
    test = f"{level}{noise.test}={noise.p_value:.2g}"
    if drifted:
        return f"and beyond sampling noise ({test} < {alpha:g})"
    return f"but within sampling noise ({test} ≥ {alpha:g})"


def verdict(
    features: list[FeatureDrift], importance: Mapping[str, float] | None, drift_share: float
) -> DriftReport:
    judged = [f for f in features if f.method is not None]
    if importance:
        weights = {f.feature: max(float(importance.get(f.feature, 0.0)), 0.0) for f in judged}
        total = sum(weights.values())
        share = sum(weights[f.feature] for f in judged if f.drifted) / total if total else 0.0
    else:
        share = sum(f.drifted for f in judged) / len(judged) if judged else 0.0
    return DriftReport(features, share, drift_share, bool(importance))

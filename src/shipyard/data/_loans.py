"""A seeded synthetic loan-applications dataset: the data the quick start and tests use.

Each row is one application; ``default`` (0/1) says whether the loan defaulted.

Structure, so that every later stage has something real to find:

* numeric features with realistic shapes: ``age`` (18-75), ``income`` (log-normal, rises
  with age and education), ``loan_amount`` (scaled to income), ``term_months``
  (12/24/36/48/60), ``credit_score`` (300-850), ``employment_years`` (3% missing),
  ``debt_to_income``, ``open_accounts``, ``late_payments`` (counts);
* categorical features: ``home_ownership``, ``purpose``, ``region``, ``education``;
* a sensitive attribute, ``gender``, that the default process never reads but that is
  correlated with income, so a model can be unfair by proxy (what fairness checks look for);
* ``applied_at``: application dates over one year, for time-ordered splits;
* ``application_id``: unique, for joins and lineage.

The default probability is a logistic function of credit score, debt-to-income, late
payments, loan-to-income, employment length, term and purpose, with interactions, giving
a base rate near 20% and a ROC AUC around 0.8 for a good model.

Drift knobs:

* ``drift`` in [0, 1] shifts the population: lower incomes and credit scores, more
  debt consolidation, a younger mix, more late payments (data drift);
* ``concept_drift`` in [0, 1] changes how features map to default (the weight of
  debt-to-income grows and credit score matters less), so a model trained before goes stale
  even where the features look the same.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from shipyard.errors import InvalidInput

__all__ = ["make_loans"]

PURPOSES = ["debt_consolidation", "home_improvement", "car", "education", "business", "medical"]
REGIONS = ["north", "south", "east", "west", "central"]
HOME = ["rent", "mortgage", "own"]
EDUCATION = ["high_school", "bachelor", "master", "doctorate"]
GENDERS = ["female", "male", "nonbinary"]


def make_loans(
    n_rows: int = 10_000, *, seed: int = 0, drift: float = 0.0, concept_drift: float = 0.0
) -> pd.DataFrame:
    """Generate ``n_rows`` loan applications; the same arguments give the same frame.

    Args:
        n_rows: number of applications (at least 1).
        seed: random seed.
        drift: population shift in [0, 1] (0: the reference population).
        concept_drift: change of the feature-to-default relationship in [0, 1].

    Example:
        >>> df = make_loans(1_000, seed=1)
        >>> df.shape, round(float(df["default"].mean()), 1)
        ((1000, 17), 0.2)
    """
    if not isinstance(n_rows, int) or n_rows < 1:
        raise InvalidInput(f"n_rows must be a positive integer, got {n_rows!r}.")
    for name, value in (("drift", drift), ("concept_drift", concept_drift)):
        if not 0.0 <= float(value) <= 1.0:
            raise InvalidInput(f"{name} must be between 0 and 1, got {value!r}.")
    rng = np.random.default_rng(seed)
    columns = _applicants(rng, n_rows, drift)  # draws in a fixed order: same seed, same frame
    columns["default"] = _defaults(rng, columns, concept_drift)
    return _frame(rng, columns, seed)


def _applicants(rng: np.random.Generator, n: int, drift: float) -> dict[str, Any]:
    """The applicants' features, shifted by ``drift``."""
    gender = rng.choice(GENDERS, size=n, p=[0.48, 0.49, 0.03])
    age = np.clip(rng.normal(42 - 8 * drift, 12, n), 18, 75).round().astype(int)
    education = rng.choice(EDUCATION, size=n, p=[0.35, 0.40, 0.20, 0.05])
    edu_level = pd.Series(education).map({e: i for i, e in enumerate(EDUCATION)}).to_numpy()
    # Income: rises with age (to ~50) and education; a gap by gender the model can proxy on.
    gap = np.where(gender == "female", -0.12, np.where(gender == "nonbinary", -0.08, 0.0))
    log_income = (
        10.6
        + 0.018 * np.minimum(age, 50)
        + 0.17 * edu_level
        + gap
        - 0.25 * drift
        + rng.normal(0, 0.35, n)
    )
    income = np.round(np.exp(log_income), -2)
    home = np.where(
        age < 30,
        rng.choice(HOME, size=n, p=[0.7, 0.2, 0.1]),
        rng.choice(HOME, size=n, p=[0.3, 0.5, 0.2]),
    )
    purpose_p = np.array([0.38, 0.16, 0.18, 0.10, 0.10, 0.08])
    purpose_p = purpose_p + drift * np.array([0.2, -0.04, -0.06, -0.02, -0.04, -0.04])
    purpose = rng.choice(PURPOSES, size=n, p=purpose_p / purpose_p.sum())
    region = rng.choice(REGIONS, size=n, p=[0.22, 0.24, 0.18, 0.21, 0.15])
    term = rng.choice([12, 24, 36, 48, 60], size=n, p=[0.1, 0.2, 0.35, 0.15, 0.2])
    loan_amount = np.round(income * rng.uniform(0.05, 0.6, n) * (term / 36) ** 0.5, -1)
    employment = np.clip(rng.gamma(2.0, 3.0, n) - 2 * drift, 0, age - 17).round(1)
    late = rng.poisson(0.4 + 0.8 * drift, n)
    open_accounts = rng.poisson(6, n) + 1
    dti = np.clip(rng.beta(2.2, 6, n) + 0.05 * drift + 0.02 * late, 0, 1).round(3)
    credit = (
        np.clip(
            rng.normal(690 - 45 * drift, 55, n) - 25 * late + 6 * np.minimum(employment, 10),
            300,
            850,
        )
        .round()
        .astype(int)
    )

    return {
        "gender": gender,
        "age": age,
        "education": education,
        "income": income,
        "home": home,
        "purpose": purpose,
        "region": region,
        "term": term,
        "loan_amount": loan_amount,
        "employment": employment,
        "late": late,
        "open_accounts": open_accounts,
        "dti": dti,
        "credit": credit,
    }


def _defaults(rng: np.random.Generator, columns: dict[str, Any], concept_drift: float) -> Any:
    """Whether each loan defaults: a logistic function of the features (``concept_drift``
    changes the weights)."""
    credit = columns["credit"]
    dti = columns["dti"]
    late = columns["late"]
    loan_amount = columns["loan_amount"]
    income = columns["income"]
    employment = columns["employment"]
    term = columns["term"]
    purpose = columns["purpose"]
    region = columns["region"]
    lti = loan_amount / income
    w_dti = 3.2 + 3.0 * concept_drift
    w_credit = 0.018 * (1 - 0.6 * concept_drift)
    logit = (
        -1.7
        - w_credit * (credit - 690)
        + w_dti * (dti - 0.27)
        + 0.45 * late
        + 1.6 * (lti - 0.3)
        - 0.06 * np.minimum(employment, 10)
        + 0.012 * (term - 36)
        + np.select(
            [purpose == "business", purpose == "medical", purpose == "car"],
            [0.5, 0.35, -0.3],
            0.0,
        )
        + 0.6 * ((dti > 0.45) & (credit < 640))
        + 0.3 * (region == "south")
        - 0.2 * (region == "north")
    )
    return (rng.uniform(size=len(credit)) < 1 / (1 + np.exp(-logit))).astype(int)


def _frame(rng: np.random.Generator, columns: dict[str, Any], seed: int) -> pd.DataFrame:
    """The columns as a frame: 3% of employment lengths missing, dates over one year,
    categoricals as categories."""
    gender = columns["gender"]
    age = columns["age"]
    education = columns["education"]
    income = columns["income"]
    home = columns["home"]
    purpose = columns["purpose"]
    region = columns["region"]
    term = columns["term"]
    loan_amount = columns["loan_amount"]
    employment = columns["employment"]
    late = columns["late"]
    open_accounts = columns["open_accounts"]
    dti = columns["dti"]
    credit = columns["credit"]
    default = columns["default"]
    n = len(age)
    employment_years = employment.astype(float)
    employment_years[rng.uniform(size=n) < 0.03] = np.nan
    start = np.datetime64("2025-01-01")
    applied_at = start + rng.integers(0, 365, n).astype("timedelta64[D]")
    frame = pd.DataFrame(
        {
            "application_id": np.arange(1, n + 1) + 1_000_000 * seed,
            "applied_at": pd.to_datetime(np.sort(applied_at)),
            "age": age,
            "gender": gender,
            "education": education,
            "income": income,
            "home_ownership": home,
            "employment_years": employment_years,
            "purpose": purpose,
            "region": region,
            "term_months": term,
            "loan_amount": loan_amount,
            "debt_to_income": dti,
            "open_accounts": open_accounts,
            "late_payments": late,
            "credit_score": credit,
            "default": default,
        }
    )
    for column in ("gender", "education", "home_ownership", "purpose", "region"):
        frame[column] = frame[column].astype("category")
    return frame

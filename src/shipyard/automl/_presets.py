"""Search presets: ``sy.automl(..., presets="fast"|"best")``, one :class:`Preset` each.

A preset sets how a search spends its budget beyond the hyper-parameters users pass: how
many trials' out-of-fold predictions it keeps for its ensemble, how the ensemble is built,
how many portfolio configurations each family tries first, and whether larger data gets
low-fidelity trials first (successive halving).
"""

from __future__ import annotations

from dataclasses import dataclass

from shipyard.errors import InvalidInput

__all__ = ["PRESETS", "Preset", "get_preset"]


@dataclass(frozen=True)
class Preset:
    """How a search spends its budget.

    Attributes:
        name: what users pass (``presets="best"``).
        keep: trials whose out-of-fold predictions are kept for the ensemble (0: none).
        ensemble_rounds: rounds of greedy forward selection of the ensemble (0: no
            ensemble; the best single model).
        members: the most distinct trials in the ensemble.
        portfolio: portfolio configurations each family tries first (0: the cheap start).
        halving: larger data gets low-fidelity trials first (successive halving).
    """

    name: str
    keep: int
    ensemble_rounds: int
    members: int
    portfolio: int
    halving: bool


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        # the best single model, quick to predict with, little memory
        Preset("fast", keep=0, ensemble_rounds=0, members=1, portfolio=2, halving=True),
        # an ensemble of up to 10 trials, from the out-of-fold predictions of the best 25
        # (Caruana et al. 2004 prune the library to its best models too; the selection's
        # time grows with it: 40 rounds x 25 trials x 3 folds of scores on 5,000 rows ~ 1-2 s)
        Preset("best", keep=25, ensemble_rounds=40, members=10, portfolio=8, halving=True),
    )
}
DEFAULT_PRESET = "best"


def get_preset(name: object) -> Preset:
    """A preset by name; InvalidInput lists the known ones."""
    if not isinstance(name, str) or name not in PRESETS:
        raise InvalidInput(f"presets must be one of {', '.join(PRESETS)}; got {name!r}.")
    return PRESETS[name]

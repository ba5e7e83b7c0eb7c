"""Concept drift: a streaming change detector on a model's metric (Page–Hinkley).

Feed it one value at a time (a window's error rate, a loss per labelled row): it keeps the
running mean and the cumulative deviation from it, and signals when the deviation climbs
more than ``threshold`` above its lowest point — a lasting rise, not one bad window. Written
here because it is a dozen lines of arithmetic with no dependency worth taking (river has it,
with a web of its own).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from shipyard.errors import InvalidInput

__all__ = ["PageHinkley", "detect_changes"]


@dataclass
class PageHinkley:
    """Detects an increase of a series' mean (use negated values for a decrease).

    Args:
        delta: the change per value tolerated as noise (in the series' units).
        threshold: how far the cumulative deviation may rise before a change is signalled.
        min_values: values seen before any signal (the mean needs a few to settle).
    """

    delta: float = 0.005
    threshold: float = 1.0
    min_values: int = 30
    count: int = field(default=0, init=False)
    mean: float = field(default=0.0, init=False)
    cumulative: float = field(default=0.0, init=False)
    lowest: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        if self.delta < 0 or self.threshold <= 0 or self.min_values < 1:
            raise InvalidInput(
                "PageHinkley needs delta >= 0, threshold > 0 and min_values >= 1; got "
                f"delta={self.delta}, threshold={self.threshold}, min_values={self.min_values}."
            )

    def update(self, value: float) -> bool:
        """Take the next value; True when a change is detected (the detector then resets)."""
        self.count += 1
        self.mean += (value - self.mean) / self.count
        self.cumulative += value - self.mean - self.delta
        self.lowest = min(self.lowest, self.cumulative)
        if self.count >= self.min_values and self.cumulative - self.lowest > self.threshold:
            self.reset()
            return True
        return False

    def reset(self) -> None:
        self.count, self.mean, self.cumulative, self.lowest = 0, 0.0, 0.0, 0.0


def detect_changes(values: Iterable[float], **options: float) -> list[int]:
    """Positions in ``values`` where Page–Hinkley signals a rise (see :class:`PageHinkley`)."""
    detector = PageHinkley(**options)  # type: ignore[arg-type]
    return [i for i, value in enumerate(values) if detector.update(float(value))]

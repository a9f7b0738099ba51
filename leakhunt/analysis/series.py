"""A recorder of per-cycle samples into preallocated arrays, one per signal."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np

from leakhunt.analysis.trend import FloatArray

logger = logging.getLogger(__name__)


class SeriesRecorder:
    """Per-cycle values of every signal, held in arrays sized for the whole run.

    Growing Python lists by one float per cycle would itself show up under
    tracemalloc as a leak of ~100 B per cycle; here each signal gets one
    NaN-filled array of ``capacity`` values when it first appears, and
    recording a cycle allocates nothing. A signal missing from a sample
    stays NaN for that cycle.
    """

    def __init__(self, capacity: int) -> None:
        """Create a recorder for up to ``capacity`` cycles."""
        if capacity < 1:
            raise ValueError(
                f"a recorder needs a capacity of at least 1, got {capacity}"
            )
        self.capacity = capacity
        self._arrays: dict[str, FloatArray] = {}
        self._count = 0

    @property
    def count(self) -> int:
        """How many cycles have been recorded (the highest index + 1)."""
        return self._count

    def record(self, index: int, values: Mapping[str, float]) -> None:
        """Store the sample of cycle ``index`` (0-based)."""
        if index >= self.capacity:
            self._grow(index + 1)

        for name, value in values.items():
            array = self._arrays.get(name)
            if array is None:
                array = np.full(self.capacity, np.nan)
                self._arrays[name] = array
            array[index] = value
        self._count = max(self._count, index + 1)

    def arrays(self) -> dict[str, FloatArray]:
        """Return a view of each signal's recorded cycles, without copying."""
        return {name: array[: self._count] for name, array in self._arrays.items()}

    def series(self) -> dict[str, list[float]]:
        """Return each signal's recorded cycles as a list of floats (NaN if missing)."""
        return {name: array.tolist() for name, array in self.arrays().items()}

    def _grow(self, needed: int) -> None:
        capacity = max(needed, self.capacity * 2)
        logger.debug(
            "Growing the series recorder from %d to %d cycles.", self.capacity, capacity
        )
        for name, array in self._arrays.items():
            grown = np.full(capacity, np.nan)
            grown[: self.capacity] = array
            self._arrays[name] = grown
        self.capacity = capacity

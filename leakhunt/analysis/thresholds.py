"""The knobs of the verdict: minimum growth, confidence, warm-up and plateau."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from leakhunt.errors import UsageError
from leakhunt.units import parse_size

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Thresholds:
    """What it takes for growth to be called a leak.

    ``min_growth`` overrides the registry's minimum growth per cycle for a
    signal or a prefix (``{"traced_bytes": "512 B", "objects.": 2}``); sizes
    may be written with units. The slope's ``confidence`` interval must lie
    above the minimum growth, and the Kendall trend test must reach
    ``alpha``. Exact counts need ``exact_points`` cycles rising by at least
    one each. Automatic warm-up drops at most ``max_warmup_fraction`` of the
    cycles. Growth that stops and then stays flat for at least
    ``plateau_points`` cycles is a plateau (a bounded cache), not a leak.
    """

    min_growth: Mapping[str, float | str] = field(default_factory=dict)
    confidence: float = 0.95
    alpha: float = 0.01
    exact_points: int = 5
    max_warmup_fraction: float = 0.5
    plateau_points: int = 5
    _parsed: dict[str, float] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        """Check every knob and parse sizes, naming what is accepted."""
        for name in ("confidence", "alpha", "max_warmup_fraction"):
            value = getattr(self, name)
            if not _is_number(value) or not 0 < value < 1:
                raise UsageError(
                    f"expected {name} as a number between 0 and 1, such as "
                    f"{getattr(Thresholds, name)}, got {value!r}"
                )
        for name in ("exact_points", "plateau_points"):
            value = getattr(self, name)
            if not _is_number(value) or not isinstance(value, int) or value < 3:
                raise UsageError(
                    f"expected {name} as a whole number of at least 3, such as "
                    f"{getattr(Thresholds, name)}, got {value!r}"
                )
        if not isinstance(self.min_growth, Mapping):
            raise UsageError(
                f"expected min_growth as a dict of signal to growth per cycle, "
                f"such as {{'traced_bytes': '512 B'}}, got {self.min_growth!r}"
            )

        parsed = {name: parse_size(value) for name, value in self.min_growth.items()}
        for name, value in parsed.items():
            if value < 0:
                raise UsageError(
                    f"expected a minimum growth of zero or more for {name}, "
                    f"got {self.min_growth[name]!r}"
                )
        object.__setattr__(self, "_parsed", parsed)

    def min_growth_for(self, signal: str, default: float) -> float:
        """Return the minimum growth per cycle for ``signal``, else ``default``.

        An exact name wins over a prefix (an override ending in ``.``), and a
        longer prefix over a shorter one.
        """
        parsed = self._parsed
        if signal in parsed:
            return parsed[signal]

        prefixes = [p for p in parsed if p.endswith(".") and signal.startswith(p)]
        if prefixes:
            return parsed[max(prefixes, key=len)]
        return default


def _is_number(value: object) -> bool:
    # NB: bool is an int to Python, but alpha=True is a mistake, not 1.
    return isinstance(value, int | float) and not isinstance(value, bool)

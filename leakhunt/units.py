"""Sizes and durations as people write them ("4 KiB", "2s") and as reports show them."""

from __future__ import annotations

import logging
import math
import re

from leakhunt.errors import UsageError

logger = logging.getLogger(__name__)

_SIZE_UNITS: dict[str, float] = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "k": 1024,
    "m": 1024**2,
    "g": 1024**3,
}

_DURATION_UNITS: dict[str, float] = {
    "": 1.0,
    "s": 1.0,
    "ms": 0.001,
    "us": 0.000_001,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
}

_NUMBER_WITH_UNIT = re.compile(
    r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-zA-Z]*)\s*$"
)

_BINARY_PREFIXES = ("B", "KiB", "MiB", "GiB", "TiB")


def parse_size(text: str | float) -> float:
    """Parse a size such as ``512 B``, ``4 KiB`` or ``1.5 MiB`` into bytes.

    A bare number is taken as bytes. ``KB``/``MB``/``GB`` are decimal,
    ``KiB``/``MiB``/``GiB`` (and the shorthands ``K``/``M``/``G``) binary.
    """
    return _parse(text, _SIZE_UNITS, "a size such as 512 B, 4 KiB or 1.5 MiB")


def parse_duration(text: str | float) -> float:
    """Parse a duration such as ``250ms``, ``2s`` or ``1.5 min`` into seconds.

    A bare number is taken as seconds.
    """
    return _parse(text, _DURATION_UNITS, "a duration such as 250ms, 2s or 1.5min")


def _parse(text: object, units: dict[str, float], expected: str) -> float:
    # NB: True is an int to Python, but a size of True is a mistake, not 1.
    if isinstance(text, int | float) and not isinstance(text, bool):
        if math.isfinite(text):
            return float(text)
    elif isinstance(text, str):
        match = _NUMBER_WITH_UNIT.match(text)
        unit = match.group(2).lower() if match else None
        if match is not None and unit in units:
            return float(match.group(1)) * units[unit]
    raise UsageError(f"expected {expected}, got {text!r}")


def format_size(value: float) -> str:
    """Format a number of bytes with a binary prefix: ``1.02 KiB``, ``-300 B``."""
    if not math.isfinite(value):
        return str(value)

    magnitude = abs(value)
    for exponent, prefix in enumerate(_BINARY_PREFIXES):
        scaled = magnitude / 1024**exponent
        if scaled < 1024 or prefix == _BINARY_PREFIXES[-1]:
            sign = "-" if value < 0 else ""
            if exponent == 0:
                return f"{sign}{scaled:.0f} B"
            return f"{sign}{scaled:.2f} {prefix}"
    raise AssertionError("unreachable: the last prefix always formats")


def format_duration(seconds: float) -> str:
    """Format a duration for people: ``850 ms``, ``2.4 s``, ``3 min 5 s``."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"


def format_quantity(value: float, unit: str) -> str:
    """Format a value in a signal's unit: sizes for ``bytes``, else a number."""
    if unit == "bytes":
        return format_size(value)
    if float(value).is_integer():
        return f"{value:.0f}"
    return f"{value:.2f}"

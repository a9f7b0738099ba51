"""Sizes and durations as users write them, and as reports print them."""

from __future__ import annotations

import pytest

from leakhunt.errors import UsageError
from leakhunt.units import (
    format_duration,
    format_quantity,
    format_size,
    parse_duration,
    parse_size,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("512 B", 512),
        ("4 KiB", 4096),
        ("1.5MiB", 1.5 * 2**20),
        ("2 KB", 2000),
        ("300", 300),
    ],
)
def test_sizes_parse_to_bytes(text: str, expected: float) -> None:
    assert parse_size(text) == expected


def test_a_size_in_an_unknown_unit_says_what_is_accepted() -> None:
    with pytest.raises(
        UsageError, match=r"expected a size such as 512 B, 4 KiB .* got '4 megs'"
    ):
        parse_size("4 megs")


@pytest.mark.parametrize(
    ("text", "expected"), [("250ms", 0.25), ("2s", 2.0), ("1.5 min", 90.0)]
)
def test_durations_parse_to_seconds(text: str, expected: float) -> None:
    assert parse_duration(text) == expected


def test_a_duration_that_does_not_parse_shows_the_value() -> None:
    with pytest.raises(UsageError, match=r"got 'soon'"):
        parse_duration("soon")


def test_sizes_print_with_binary_prefixes() -> None:
    assert format_size(1044) == "1.02 KiB"
    assert format_size(-300) == "-300 B"
    assert format_size(3 * 2**20) == "3.00 MiB"


def test_durations_and_counts_print_for_people() -> None:
    assert format_duration(0.85) == "850 ms"
    assert format_duration(185) == "3 min 5 s"
    assert format_quantity(1.0, "count") == "1"
    assert format_quantity(0.5, "count") == "0.50"

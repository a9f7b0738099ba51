"""Thresholds a caller sets, with sizes in units and clear errors."""

from __future__ import annotations

import pytest

from leakhunt.analysis.thresholds import Thresholds
from leakhunt.errors import UsageError


def test_sizes_with_units_are_parsed_to_bytes() -> None:
    thresholds = Thresholds(min_growth={"traced_bytes": "512 B", "rss_bytes": "4 KiB"})

    assert thresholds.min_growth_for("traced_bytes", 256) == 512
    assert thresholds.min_growth_for("rss_bytes", 1024) == 4096


def test_a_signal_without_an_override_keeps_the_registry_default() -> None:
    assert Thresholds().min_growth_for("threads", 0.5) == 0.5


def test_a_prefix_override_covers_a_family_and_an_exact_name_wins() -> None:
    thresholds = Thresholds(min_growth={"objects.": 2, "objects.myop.Pod": 10})

    assert thresholds.min_growth_for("objects.builtins.dict", 0.5) == 2
    assert thresholds.min_growth_for("objects.myop.Pod", 0.5) == 10


def test_a_size_that_does_not_parse_names_the_accepted_form() -> None:
    with pytest.raises(UsageError, match=r"expected a size such as .*got '4 megs'"):
        Thresholds(min_growth={"rss_bytes": "4 megs"})


def test_a_confidence_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(
        UsageError,
        match=r"confidence as a number between 0 and 1, such as 0.95, got 95",
    ):
        Thresholds(confidence=95)


def test_exact_points_below_three_are_refused() -> None:
    with pytest.raises(
        UsageError,
        match=r"exact_points as a whole number of at least 3, such as 5, got 2",
    ):
        Thresholds(exact_points=2)


@pytest.mark.parametrize(
    ("knob", "message"),
    [
        ({"alpha": "x"}, r"alpha as a number between 0 and 1, such as 0.01, got 'x'"),
        ({"alpha": True}, r"alpha as a number between 0 and 1, .* got True"),
        ({"exact_points": 5.5}, r"exact_points as a whole number .* got 5.5"),
        ({"plateau_points": "5"}, r"plateau_points as a whole number .* got '5'"),
        ({"min_growth": [256]}, r"min_growth as a dict .* got \[256\]"),
        ({"min_growth": {"rss_bytes": None}}, r"a size such as 512 B.* got None"),
    ],
)
def test_a_knob_of_the_wrong_type_is_refused_with_the_accepted_form(
    knob: dict[str, object], message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        Thresholds(**knob)  # type: ignore[arg-type]

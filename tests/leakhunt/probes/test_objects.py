"""The objects probe: GC object count and per-type counts that stay small."""

from __future__ import annotations

import gc
import logging
import weakref
from collections import Counter

import pytest

from leakhunt.probes.objects import ObjectsProbe, count_types, type_name


class Widget:
    """A user class whose instances a test creates and keeps."""


def widget_signal() -> str:
    return "objects." + type_name(Widget)


def test_type_counts_match_a_plain_count_over_the_heap() -> None:
    objects = gc.get_objects()
    expected = Counter(type_name(type(obj)) for obj in objects)

    assert count_types(objects) == dict(expected)


def test_a_user_class_that_grows_is_tracked_from_its_first_growth() -> None:
    probe = ObjectsProbe()
    probe.start()
    held: list[Widget] = []
    try:
        probe.sample()
        held.append(Widget())
        first = probe.sample()
        held.append(Widget())
        second = probe.sample()
    finally:
        probe.stop()

    assert first[widget_signal()] == 1
    assert second[widget_signal()] == 2
    assert second["gc_objects"] > 1000


def test_types_that_do_not_grow_are_not_reported() -> None:
    probe = ObjectsProbe(watch_list=(), top=1)
    probe.start()
    try:
        values = probe.sample()
    finally:
        probe.stop()

    per_type = [name for name in values if name.startswith("objects.")]
    assert len(per_type) < 40


def test_the_number_of_tracked_types_is_capped() -> None:
    probe = ObjectsProbe(watch_list=(), top=1, max_tracked=5)
    probe.start()
    classes = [type(f"Made{i}", (), {}) for i in range(20)]
    held = [cls() for cls in classes]
    try:
        values = probe.sample()
    finally:
        probe.stop()

    assert len([name for name in values if name.startswith("objects.")]) == 5
    assert len(held) == 20


def test_the_probe_does_not_keep_classes_alive() -> None:
    probe = ObjectsProbe()
    probe.start()
    try:
        made = type("Ephemeral", (), {})
        instance = made()
        probe.sample()
        ref = weakref.ref(made)
        del instance, made
        gc.collect()
        probe.sample()
        assert ref() is None
    finally:
        probe.stop()


def test_details_list_the_types_that_grew_since_start() -> None:
    probe = ObjectsProbe()
    probe.start()
    held = [Widget() for _ in range(3)]
    try:
        probe.sample()
        details = probe.details()
    finally:
        probe.stop()

    grown = details["grown_types"]
    assert isinstance(grown, list)
    widget = next(item for item in grown if item["type"] == type_name(Widget))
    assert widget["growth"] == 3
    assert len(held) == 3


def test_types_that_change_every_cycle_leave_no_series_behind() -> None:
    probe = ObjectsProbe()
    probe.start()
    held: list[object] = []
    sizes: list[int] = []
    try:
        for cycle in range(60):
            # Each cycle keeps instances of five classes made for it alone.
            held[:] = [type(f"Made{cycle}x{i}", (), {})() for i in range(5)]
            gc.collect()
            values = probe.sample()
            sizes.append(len([name for name in values if name.startswith("objects.")]))
    finally:
        probe.stop()

    assert f"objects.{__name__}.Made59x4" in values
    assert f"objects.{__name__}.Made58x4" not in values
    assert max(sizes[10:]) <= sizes[9] + 5


def test_the_cap_warning_is_given_again_after_a_restart(
    caplog: pytest.LogCaptureFixture,
) -> None:
    probe = ObjectsProbe(watch_list=(), top=1, max_tracked=3)
    held = [type(f"Kept{i}", (), {})() for i in range(10)]
    for _ in range(2):
        probe.start()
        held.append(type("Another", (), {})())
        try:
            with caplog.at_level(logging.WARNING, logger="leakhunt.probes.objects"):
                probe.sample()
                probe.sample()
        finally:
            probe.stop()
        held.extend(type(f"Kept{i}", (), {})() for i in range(10))

    warnings = [r for r in caplog.records if "have grown since the start" in r.message]
    assert len(warnings) == 2

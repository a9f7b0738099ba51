"""Decoded JSON values compared, named and shown as JSON, not as Python."""

from __future__ import annotations

from harness.apiserver.json_values import (
    MAX_SHOWN_VALUE_CHARS,
    copy_json,
    json_depth,
    json_identity,
    json_type,
    show_json,
)


def test_true_and_1_are_different_json_values_though_python_calls_them_equal() -> None:
    assert json_identity(True) != json_identity(1)
    assert json_identity([True]) != json_identity([1])


def test_1_and_1_0_are_the_same_json_number_inside_containers_too() -> None:
    assert json_identity(1) == json_identity(1.0)
    assert json_identity({"a": [1]}) == json_identity({"a": [1.0]})


def test_a_copy_shares_no_container_with_the_original() -> None:
    original = {"a": [{"b": 1}]}

    copied = copy_json(original)
    copied["a"][0]["b"] = 2

    assert original == {"a": [{"b": 1}]}


def test_values_are_named_by_their_json_type() -> None:
    values: list[object] = [None, True, 1.5, "s", [], {}]

    named = [json_type(value) for value in values]

    assert named == ["null", "boolean", "number", "string", "array", "object"]


def test_a_long_value_is_shown_cut_short() -> None:
    shown = show_json("x" * 1000)

    assert len(shown) == MAX_SHOWN_VALUE_CHARS
    assert shown.endswith("...")


def test_depth_counts_the_levels_of_objects_and_arrays() -> None:
    values: list[object] = ["s", {}, [], {"a": [1]}, [[], [[{}]]]]

    depths = [json_depth(value, 10) for value in values]

    assert depths == [0, 1, 1, 2, 4]


def test_depth_stops_counting_one_level_past_the_limit() -> None:
    deep: list[object] = []
    for _ in range(2000):
        deep = [deep]

    assert json_depth(deep, 100) == 101

"""JSON merge and JSON patches apply as in kube-apiserver, leaving inputs alone."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from harness.apiserver.json_values import json_depth
from harness.apiserver.limits import MAX_NESTING
from harness.apiserver.patch import (
    MAX_JSON_PATCH_OPERATIONS,
    PatchError,
    apply_json_patch,
    apply_merge_patch,
)
from harness.apiserver.strategic import apply_strategic_merge_patch

PodFactory = Callable[[], dict[str, Any]]


# --- JSON merge patch (RFC 7386) -----------------------------------------------------


def test_a_merge_patch_sets_and_adds_members_and_keeps_the_others(
    make_pod: PodFactory,
) -> None:
    patched = apply_merge_patch(
        make_pod(), {"metadata": {"labels": {"tier": "edge", "new": "1"}}}
    )

    assert patched["metadata"]["labels"] == {"app": "web", "tier": "edge", "new": "1"}
    assert patched["metadata"]["name"] == "web"
    assert patched["spec"] == make_pod()["spec"]


def test_a_null_in_a_merge_patch_deletes_the_member(make_pod: PodFactory) -> None:
    patched = apply_merge_patch(
        make_pod(), {"metadata": {"labels": {"tier": None}}, "status": None}
    )

    assert patched["metadata"]["labels"] == {"app": "web"}
    assert "status" not in patched


def test_a_null_for_a_missing_member_changes_nothing(make_pod: PodFactory) -> None:
    assert apply_merge_patch(make_pod(), {"metadata": {"missing": None}}) == make_pod()


def test_a_merge_patch_replaces_lists_whole(make_pod: PodFactory) -> None:
    patched = apply_merge_patch(
        make_pod(), {"metadata": {"finalizers": ["example.com/c"]}}
    )

    assert patched["metadata"]["finalizers"] == ["example.com/c"]


def test_a_merge_patch_object_replaces_a_scalar_and_drops_its_own_nulls() -> None:
    patched = apply_merge_patch(
        {"a": "scalar"}, {"a": {"b": 1, "c": None}, "d": {"e": None}}
    )

    assert patched == {"a": {"b": 1}, "d": {}}


def test_a_merge_patch_scalar_replaces_an_object() -> None:
    assert apply_merge_patch({"a": {"b": 1}}, {"a": 5}) == {"a": 5}


@pytest.mark.parametrize("patch", [[], ["a"], "text", 3, None, True])
def test_a_merge_patch_that_is_not_an_object_is_a_bad_request(
    make_pod: PodFactory, patch: object
) -> None:
    with pytest.raises(
        PatchError, match="a JSON merge patch must be a JSON object"
    ) as caught:
        apply_merge_patch(make_pod(), patch)

    assert caught.value.code == 400


# --- JSON patch (RFC 6902) -----------------------------------------------------------


def test_json_patch_operations_apply_in_order(make_pod: PodFactory) -> None:
    patched = apply_json_patch(
        make_pod(),
        [
            {"op": "test", "path": "/metadata/name", "value": "web"},
            {"op": "add", "path": "/metadata/labels/track", "value": "canary"},
            {"op": "replace", "path": "/spec/containers/0/image", "value": "app:2"},
            {"op": "remove", "path": "/spec/tolerations"},
            {
                "op": "copy",
                "from": "/metadata/labels/app",
                "path": "/metadata/labels/copy",
            },
            {"op": "move", "from": "/status/phase", "path": "/status/previousPhase"},
        ],
    )

    assert patched["metadata"]["labels"] == {
        "app": "web",
        "tier": "frontend",
        "track": "canary",
        "copy": "web",
    }
    assert patched["spec"]["containers"][0]["image"] == "app:2"
    assert "tolerations" not in patched["spec"]
    assert patched["status"]["previousPhase"] == "Running"
    assert "phase" not in patched["status"]


def test_adding_at_an_index_inserts_and_dash_appends() -> None:
    patched = apply_json_patch(
        {"list": ["b", "d"]},
        [
            {"op": "add", "path": "/list/0", "value": "a"},
            {"op": "add", "path": "/list/2", "value": "c"},
            {"op": "add", "path": "/list/-", "value": "e"},
            {"op": "add", "path": "/list/5", "value": "f"},
        ],
    )

    assert patched["list"] == ["a", "b", "c", "d", "e", "f"]


def test_removing_and_replacing_array_items_use_their_index() -> None:
    patched = apply_json_patch(
        {"list": ["a", "b", "c"]},
        [
            {"op": "remove", "path": "/list/1"},
            {"op": "replace", "path": "/list/1", "value": "z"},
        ],
    )

    assert patched["list"] == ["a", "z"]


def test_adding_an_existing_member_replaces_it() -> None:
    patched = apply_json_patch({"a": 1}, [{"op": "add", "path": "/a", "value": 2}])

    assert patched == {"a": 2}


def test_replacing_a_member_keeps_its_place_among_the_others() -> None:
    patched = apply_json_patch(
        {"a": 1, "b": 2, "c": 3}, [{"op": "replace", "path": "/b", "value": 0}]
    )

    assert list(patched) == ["a", "b", "c"]


def test_pointer_escapes_name_keys_with_slashes_and_tildes() -> None:
    target = {"metadata": {"annotations": {"example.com/owner": "x", "a~b": "y"}}}

    patched = apply_json_patch(
        target,
        [
            {
                "op": "replace",
                "path": "/metadata/annotations/example.com~1owner",
                "value": "z",
            },
            {"op": "remove", "path": "/metadata/annotations/a~0b"},
        ],
    )

    assert patched["metadata"]["annotations"] == {"example.com/owner": "z"}


def test_the_empty_path_replaces_the_whole_document() -> None:
    patched = apply_json_patch(
        {"a": 1}, [{"op": "replace", "path": "", "value": {"b": 2}}]
    )

    assert patched == {"b": 2}


def test_moving_a_value_onto_itself_changes_nothing() -> None:
    patched = apply_json_patch(
        {"a": {"b": 1}}, [{"op": "move", "from": "/a", "path": "/a"}]
    )

    assert patched == {"a": {"b": 1}}


def test_a_copied_value_is_independent_of_its_source() -> None:
    patched = apply_json_patch(
        {"a": {"b": [1]}},
        [
            {"op": "copy", "from": "/a", "path": "/c"},
            {"op": "add", "path": "/c/b/-", "value": 2},
        ],
    )

    assert patched == {"a": {"b": [1]}, "c": {"b": [1, 2]}}


@pytest.mark.parametrize(
    ("value", "passes"),
    [
        ({"y": [1, 2.0], "x": None}, True),
        ({"x": None, "y": [1, 2]}, True),
        ({"x": None, "y": [2, 1]}, False),
        ({"x": False, "y": [1, 2]}, False),
        ({"x": None, "y": [True, 2]}, False),
        ({"x": None}, False),
    ],
)
def test_test_compares_json_values_not_python_ones(value: Any, passes: bool) -> None:
    target = {"doc": {"x": None, "y": [1, 2]}}
    ops = [{"op": "test", "path": "/doc", "value": value}]

    if passes:
        assert apply_json_patch(target, ops) == target
    else:
        with pytest.raises(PatchError, match="cannot be applied: the value is"):
            apply_json_patch(target, ops)


def test_a_failed_test_names_the_operation_index_path_and_both_values(
    make_pod: PodFactory,
) -> None:
    ops = [
        {"op": "add", "path": "/metadata/labels/x", "value": "1"},
        {"op": "test", "path": "/metadata/labels/app", "value": "db"},
    ]

    with pytest.raises(PatchError) as caught:
        apply_json_patch(make_pod(), ops)

    assert caught.value.code == 422
    assert str(caught.value) == (
        'JSON patch operation 1 (test at "/metadata/labels/app") cannot be applied: '
        'the value is "web", not "db"'
    )


@pytest.mark.parametrize(
    ("operation", "reason"),
    [
        (
            {"op": "remove", "path": "/metadata/missing"},
            "/metadata/missing does not exist",
        ),
        ({"op": "replace", "path": "/nope/x", "value": 1}, "/nope does not exist"),
        ({"op": "add", "path": "/nope/x", "value": 1}, "/nope does not exist"),
        ({"op": "test", "path": "/metadata/missing", "value": None}, "does not exist"),
        (
            {"op": "add", "path": "/metadata/name/x", "value": 1},
            "/metadata/name is a string",
        ),
        ({"op": "remove", "path": "/spec/containers/2"}, "index 2 is out of range"),
        (
            {"op": "add", "path": "/spec/containers/3", "value": {}},
            "index 3 is out of range",
        ),
        ({"op": "remove", "path": "/spec/containers/01"}, "'01' is not an array index"),
        ({"op": "remove", "path": "/spec/containers/-"}, "'-' is not an array index"),
        ({"op": "remove", "path": "/spec/containers/x"}, "'x' is not an array index"),
        ({"op": "remove", "path": ""}, "the whole document cannot be removed"),
        (
            {"op": "move", "from": "/spec", "path": "/spec/x"},
            "cannot be moved into itself",
        ),
        ({"op": "move", "from": "/nope", "path": "/x"}, "/nope does not exist"),
        ({"op": "copy", "path": "/x"}, "'from' must be a JSON pointer string"),
        ({"op": "add", "path": "/x"}, "'add' needs a 'value' member"),
        ({"op": "test", "path": "/kind"}, "'test' needs a 'value' member"),
        ({"op": "add", "path": "x", "value": 1}, "must be empty or start with '/'"),
        ({"op": "add", "path": "/a~2", "value": 1}, "'~' not followed by 0 or 1"),
        ({"op": "add", "value": 1}, "'path' must be a JSON pointer string, got null"),
        ({"op": "merge", "path": "/x"}, "'op' must be one of add, remove, replace"),
        ({"path": "/x"}, "'op' must be one of"),
    ],
)
def test_an_operation_that_does_not_apply_is_unprocessable_and_says_why(
    make_pod: PodFactory, operation: dict[str, Any], reason: str
) -> None:
    with pytest.raises(PatchError) as caught:
        apply_json_patch(make_pod(), [operation])

    assert caught.value.code == 422
    assert str(caught.value).startswith("JSON patch operation 0 (")
    assert reason in str(caught.value)


@pytest.mark.parametrize("ops", [{"op": "add"}, "[]", None, 7])
def test_a_json_patch_that_is_not_an_array_is_a_bad_request(
    make_pod: PodFactory, ops: object
) -> None:
    with pytest.raises(
        PatchError, match="must be a JSON array of operations"
    ) as caught:
        apply_json_patch(make_pod(), ops)

    assert caught.value.code == 400


def test_an_operation_that_is_not_an_object_is_a_bad_request(
    make_pod: PodFactory,
) -> None:
    with pytest.raises(
        PatchError, match="JSON patch operation 1 must be a JSON object"
    ) as caught:
        apply_json_patch(
            make_pod(), [{"op": "test", "path": "", "value": make_pod()}, "remove"]
        )

    assert caught.value.code == 400


def test_too_many_operations_are_refused_as_too_large(make_pod: PodFactory) -> None:
    ops = [{"op": "test", "path": "/kind", "value": "Pod"}] * (
        MAX_JSON_PATCH_OPERATIONS + 1
    )

    with pytest.raises(
        PatchError, match="maximum operations in a JSON patch is 10000"
    ) as caught:
        apply_json_patch(make_pod(), ops)

    assert caught.value.code == 413


def test_copies_that_keep_doubling_the_object_stop_at_3_mib_copied(
    make_pod: PodFactory,
) -> None:
    # Each copy of the object into itself doubles it: 13 would make 8 MiB.
    ops = [{"op": "copy", "from": "/spec", "path": "/copies"}] + [
        {"op": "copy", "from": "", "path": f"/copies/c{index}"} for index in range(13)
    ]

    with pytest.raises(PatchError, match="more than the 3145728") as caught:
        apply_json_patch(make_pod(), ops)

    assert caught.value.code == 422
    assert "copy" in str(caught.value)


def test_moving_a_large_value_back_and_forth_copies_nothing(
    make_pod: PodFactory,
) -> None:
    pod = make_pod()
    pod["data"] = "x" * 2_000_000
    there_and_back = [
        {"op": "move", "from": "/data", "path": "/moved"},
        {"op": "move", "from": "/moved", "path": "/data"},
    ]

    patched = apply_json_patch(pod, there_and_back * 5)

    assert patched["data"] == pod["data"]


def test_adds_that_nest_the_object_past_the_limit_are_refused(
    make_nested: Callable[[int], dict[str, Any]],
) -> None:
    deep = make_nested(MAX_NESTING - 1)
    deepest_path = "/x" + "/a" * (MAX_NESTING - 3)

    with pytest.raises(PatchError, match="more than 128 levels deep") as caught:
        apply_json_patch(
            {},
            [
                {"op": "add", "path": "/x", "value": deep},
                {"op": "add", "path": deepest_path + "/b", "value": deep},
            ],
        )

    assert caught.value.code == 422


def test_moving_a_shallow_value_deep_is_allowed_up_to_the_limit(
    make_nested: Callable[[int], dict[str, Any]],
) -> None:
    target = {"x": make_nested(MAX_NESTING - 1), "y": {}}
    deepest_path = "/x" + "/a" * (MAX_NESTING - 3)

    patched = apply_json_patch(
        target, [{"op": "move", "from": "/y", "path": deepest_path + "/y"}]
    )

    assert "y" not in patched
    assert json_depth(patched, MAX_NESTING) == MAX_NESTING


def test_a_patch_leaving_something_other_than_an_object_is_unprocessable(
    make_pod: PodFactory,
) -> None:
    with pytest.raises(
        PatchError, match="the patched document must be a JSON object"
    ) as caught:
        apply_json_patch(make_pod(), [{"op": "replace", "path": "", "value": [1]}])

    assert caught.value.code == 422


# --- every patch: a new object, inputs untouched -------------------------------------

PATCHERS: list[tuple[Callable[[dict[str, Any], Any], dict[str, Any]], Any]] = [
    (apply_merge_patch, {"metadata": {"labels": {"app": None, "x": {"y": [1]}}}}),
    (
        apply_json_patch,
        [
            {"op": "add", "path": "/metadata/labels/x", "value": {"y": [1]}},
            {"op": "remove", "path": "/spec/containers/0/env/0"},
            {"op": "move", "from": "/spec/volumes", "path": "/spec/moved"},
        ],
    ),
    (
        apply_strategic_merge_patch,
        {
            "metadata": {"$deleteFromPrimitiveList/finalizers": ["example.com/a"]},
            "spec": {
                "$setElementOrder/containers": [{"name": "app"}, {"name": "proxy"}],
                "containers": [{"name": "app", "env": [{"name": "X", "value": "1"}]}],
                "volumes": [
                    {"name": "data", "$patch": "delete"},
                    {"name": "v", "x": {"y": 1}},
                ],
            },
        },
    ),
]


@pytest.mark.parametrize(("apply", "patch"), PATCHERS)
def test_patching_leaves_the_target_and_the_patch_unchanged(
    make_pod: PodFactory,
    apply: Callable[[dict[str, Any], Any], dict[str, Any]],
    patch: Any,
) -> None:
    target = make_pod()
    patch_before = copy.deepcopy(patch)

    patched = apply(target, patch)

    assert target == make_pod()
    assert patch == patch_before
    assert patched != target


@pytest.mark.parametrize(("apply", "patch"), PATCHERS)
def test_the_patched_object_shares_nothing_with_its_inputs(
    make_pod: PodFactory,
    apply: Callable[[dict[str, Any], Any], dict[str, Any]],
    patch: Any,
) -> None:
    target = make_pod()
    patch_before = copy.deepcopy(patch)

    patched = apply(target, patch)
    _scramble(patched)

    assert target == make_pod()
    assert patch == patch_before


def _scramble(value: Any) -> None:
    """Change every container reachable from value in place."""
    if isinstance(value, dict):
        for item in list(value.values()):
            _scramble(item)
        value["scrambled"] = True
    elif isinstance(value, list):
        for item in value:
            _scramble(item)
        value.append("scrambled")


def test_a_failed_json_patch_leaves_the_target_untouched(make_pod: PodFactory) -> None:
    target = make_pod()

    with pytest.raises(PatchError):
        apply_json_patch(
            target,
            [
                {"op": "remove", "path": "/metadata/labels"},
                {"op": "test", "path": "/kind", "value": "Service"},
            ],
        )

    assert target == make_pod()

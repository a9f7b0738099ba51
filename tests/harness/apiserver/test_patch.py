"""JSON merge, JSON and strategic merge patches apply as in kube-apiserver."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from harness.apiserver.patch import (
    MAX_JSON_PATCH_OPERATIONS,
    STRATEGIC_MERGE_KEYS,
    PatchError,
    apply_json_patch,
    apply_merge_patch,
    apply_strategic_merge_patch,
)


def _pod() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "web",
            "namespace": "default",
            "labels": {"app": "web", "tier": "frontend"},
            "finalizers": ["example.com/a", "example.com/b"],
        },
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "app:1",
                    "env": [{"name": "MODE", "value": "prod"}],
                    "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                },
                {"name": "proxy", "image": "proxy:1"},
            ],
            "volumes": [{"name": "data", "emptyDir": {}}],
            "tolerations": [{"key": "a", "operator": "Exists"}],
        },
        "status": {
            "phase": "Running",
            "conditions": [
                {"type": "Ready", "status": "True"},
                {"type": "Initialized", "status": "True"},
            ],
        },
    }


def _names(items: list[dict[str, Any]], key: str = "name") -> list[Any]:
    return [item[key] for item in items]


# --- JSON merge patch (RFC 7386) -----------------------------------------------------


def test_a_merge_patch_sets_and_adds_members_and_keeps_the_others() -> None:
    patched = apply_merge_patch(
        _pod(), {"metadata": {"labels": {"tier": "edge", "new": "1"}}}
    )

    assert patched["metadata"]["labels"] == {"app": "web", "tier": "edge", "new": "1"}
    assert patched["metadata"]["name"] == "web"
    assert patched["spec"] == _pod()["spec"]


def test_a_null_in_a_merge_patch_deletes_the_member() -> None:
    patched = apply_merge_patch(
        _pod(), {"metadata": {"labels": {"tier": None}}, "status": None}
    )

    assert patched["metadata"]["labels"] == {"app": "web"}
    assert "status" not in patched


def test_a_null_for_a_missing_member_changes_nothing() -> None:
    assert apply_merge_patch(_pod(), {"metadata": {"missing": None}}) == _pod()


def test_a_merge_patch_replaces_lists_whole() -> None:
    patched = apply_merge_patch(_pod(), {"metadata": {"finalizers": ["example.com/c"]}})

    assert patched["metadata"]["finalizers"] == ["example.com/c"]


def test_a_merge_patch_object_replaces_a_scalar_and_drops_its_own_nulls() -> None:
    patched = apply_merge_patch(
        {"a": "scalar"}, {"a": {"b": 1, "c": None}, "d": {"e": None}}
    )

    assert patched == {"a": {"b": 1}, "d": {}}


def test_a_merge_patch_scalar_replaces_an_object() -> None:
    assert apply_merge_patch({"a": {"b": 1}}, {"a": 5}) == {"a": 5}


@pytest.mark.parametrize("patch", [[], ["a"], "text", 3, None, True])
def test_a_merge_patch_that_is_not_an_object_is_a_bad_request(patch: object) -> None:
    with pytest.raises(
        PatchError, match="a JSON merge patch must be a JSON object"
    ) as caught:
        apply_merge_patch(_pod(), patch)

    assert caught.value.code == 400


# --- JSON patch (RFC 6902) -----------------------------------------------------------


def test_json_patch_operations_apply_in_order() -> None:
    patched = apply_json_patch(
        _pod(),
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


def test_a_failed_test_names_the_operation_index_path_and_both_values() -> None:
    ops = [
        {"op": "add", "path": "/metadata/labels/x", "value": "1"},
        {"op": "test", "path": "/metadata/labels/app", "value": "db"},
    ]

    with pytest.raises(PatchError) as caught:
        apply_json_patch(_pod(), ops)

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
    operation: dict[str, Any], reason: str
) -> None:
    with pytest.raises(PatchError) as caught:
        apply_json_patch(_pod(), [operation])

    assert caught.value.code == 422
    assert str(caught.value).startswith("JSON patch operation 0 (")
    assert reason in str(caught.value)


@pytest.mark.parametrize("ops", [{"op": "add"}, "[]", None, 7])
def test_a_json_patch_that_is_not_an_array_is_a_bad_request(ops: object) -> None:
    with pytest.raises(
        PatchError, match="must be a JSON array of operations"
    ) as caught:
        apply_json_patch(_pod(), ops)

    assert caught.value.code == 400


def test_an_operation_that_is_not_an_object_is_a_bad_request() -> None:
    with pytest.raises(
        PatchError, match="JSON patch operation 1 must be a JSON object"
    ) as caught:
        apply_json_patch(
            _pod(), [{"op": "test", "path": "", "value": _pod()}, "remove"]
        )

    assert caught.value.code == 400


def test_too_many_operations_are_refused_as_too_large() -> None:
    ops = [{"op": "test", "path": "/kind", "value": "Pod"}] * (
        MAX_JSON_PATCH_OPERATIONS + 1
    )

    with pytest.raises(
        PatchError, match="maximum operations in a JSON patch is 10000"
    ) as caught:
        apply_json_patch(_pod(), ops)

    assert caught.value.code == 413


def test_a_patch_leaving_something_other_than_an_object_is_unprocessable() -> None:
    with pytest.raises(
        PatchError, match="the patched document must be a JSON object"
    ) as caught:
        apply_json_patch(_pod(), [{"op": "replace", "path": "", "value": [1]}])

    assert caught.value.code == 422


# --- strategic merge patch: objects and directives on them ---------------------------


def test_a_strategic_patch_merges_objects_and_deletes_nulls_like_a_merge_patch() -> (
    None
):
    patched = apply_strategic_merge_patch(
        _pod(), {"metadata": {"labels": {"tier": None, "track": "canary"}}}
    )

    assert patched["metadata"]["labels"] == {"app": "web", "track": "canary"}


def test_patch_replace_on_an_object_replaces_it_with_the_rest_of_the_patch() -> None:
    patched = apply_strategic_merge_patch(
        _pod(),
        {"metadata": {"labels": {"$patch": "replace", "only": "this", "gone": None}}},
    )

    assert patched["metadata"]["labels"] == {"only": "this"}


def test_patch_delete_on_an_object_empties_it() -> None:
    patched = apply_strategic_merge_patch(
        _pod(), {"metadata": {"labels": {"$patch": "delete"}}}
    )

    assert patched["metadata"]["labels"] == {}


def test_an_unknown_patch_directive_is_unprocessable_and_lists_the_known_ones() -> None:
    with pytest.raises(PatchError) as caught:
        apply_strategic_merge_patch(_pod(), {"spec": {"$patch": "merge"}})

    assert caught.value.code == 422
    assert str(caught.value) == (
        'unknown $patch directive "merge" in spec; expected "replace" or "delete"'
    )


def test_retain_keys_drops_the_fields_it_does_not_list() -> None:
    target = {
        "spec": {
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}
        }
    }

    patched = apply_strategic_merge_patch(
        target, {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    )

    assert patched["spec"]["strategy"] == {"type": "Recreate"}


def test_retain_keys_must_list_every_field_the_patch_sets() -> None:
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}}

    with pytest.raises(
        PatchError, match="invalid patch format of retainKeys"
    ) as caught:
        apply_strategic_merge_patch({"spec": {"strategy": {}}}, patch)

    assert caught.value.code == 400


@pytest.mark.parametrize("patch", [[{"a": 1}], "text", None])
def test_a_strategic_patch_that_is_not_an_object_is_a_bad_request(patch: Any) -> None:
    with pytest.raises(
        PatchError, match="a strategic merge patch must be a JSON object"
    ) as caught:
        apply_strategic_merge_patch(_pod(), patch)

    assert caught.value.code == 400


# --- strategic merge patch: lists merged by key --------------------------------------


def test_containers_merge_by_name_and_a_new_one_goes_before_the_rest() -> None:
    patched = apply_strategic_merge_patch(
        _pod(),
        {
            "spec": {
                "containers": [
                    {"name": "proxy", "image": "proxy:2"},
                    {"name": "sidecar"},
                ]
            }
        },
    )

    containers = patched["spec"]["containers"]
    assert _names(containers) == ["app", "proxy", "sidecar"]
    assert containers[1] == {"name": "proxy", "image": "proxy:2"}
    assert containers[0] == _pod()["spec"]["containers"][0]


def test_adding_one_container_puts_it_first_as_kube_apiserver_does() -> None:
    patched = apply_strategic_merge_patch(
        _pod(), {"spec": {"containers": [{"name": "sidecar"}]}}
    )

    assert _names(patched["spec"]["containers"]) == ["sidecar", "app", "proxy"]


def test_items_named_by_the_patch_take_the_patch_order() -> None:
    patched = apply_strategic_merge_patch(
        _pod(), {"spec": {"containers": [{"name": "proxy"}, {"name": "app"}]}}
    )

    assert _names(patched["spec"]["containers"]) == ["proxy", "app"]


def test_a_server_only_item_stays_ahead_of_the_patch_items_it_preceded() -> None:
    target = {"spec": {"containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}}

    patched = apply_strategic_merge_patch(
        target, {"spec": {"containers": [{"name": "c", "x": 1}, {"name": "a", "x": 2}]}}
    )

    assert patched["spec"]["containers"] == [
        {"name": "b"},
        {"name": "c", "x": 1},
        {"name": "a", "x": 2},
    ]


def test_nested_lists_of_a_container_merge_by_their_own_keys() -> None:
    patched = apply_strategic_merge_patch(
        _pod(),
        {
            "spec": {
                "containers": [
                    {
                        "name": "app",
                        "env": [{"name": "DEBUG", "value": "1"}],
                        "ports": [{"containerPort": 8080, "name": "http"}],
                        "volumeMounts": [
                            {"name": "data", "mountPath": "/data", "readOnly": True}
                        ],
                    }
                ]
            }
        },
    )

    app = patched["spec"]["containers"][0]
    assert _names(app["env"]) == ["DEBUG", "MODE"]
    assert app["ports"] == [{"containerPort": 8080, "protocol": "TCP", "name": "http"}]
    assert app["volumeMounts"] == [
        {"name": "data", "mountPath": "/data", "readOnly": True}
    ]


def test_pod_template_containers_in_a_deployment_merge_by_name_too() -> None:
    deployment = {
        "spec": {
            "template": {"spec": {"containers": [{"name": "app", "image": "a:1"}]}}
        }
    }

    patched = apply_strategic_merge_patch(
        deployment,
        {
            "spec": {
                "template": {"spec": {"containers": [{"name": "app", "image": "a:2"}]}}
            }
        },
    )

    assert patched["spec"]["template"]["spec"]["containers"] == [
        {"name": "app", "image": "a:2"}
    ]


def test_conditions_merge_by_type() -> None:
    patched = apply_strategic_merge_patch(
        _pod(), {"status": {"conditions": [{"type": "Ready", "status": "False"}]}}
    )

    assert patched["status"]["conditions"] == [
        {"type": "Ready", "status": "False"},
        {"type": "Initialized", "status": "True"},
    ]


def test_volumes_merge_by_name() -> None:
    patched = apply_strategic_merge_patch(
        _pod(), {"spec": {"volumes": [{"name": "cache", "emptyDir": {}}]}}
    )

    assert _names(patched["spec"]["volumes"]) == ["cache", "data"]


def test_patch_delete_in_a_list_removes_every_item_with_that_key() -> None:
    target = {
        "spec": {"volumes": [{"name": "a"}, {"name": "b"}, {"name": "a", "x": 1}]}
    }

    patched = apply_strategic_merge_patch(
        target, {"spec": {"volumes": [{"name": "a", "$patch": "delete"}]}}
    )

    assert patched["spec"]["volumes"] == [{"name": "b"}]


def test_deleting_an_item_the_list_does_not_have_changes_nothing() -> None:
    patched = apply_strategic_merge_patch(
        _pod(), {"spec": {"volumes": [{"name": "nope", "$patch": "delete"}]}}
    )

    assert patched["spec"]["volumes"] == _pod()["spec"]["volumes"]


def test_patch_replace_in_a_list_replaces_it_with_the_other_items() -> None:
    patched = apply_strategic_merge_patch(
        _pod(),
        {
            "spec": {
                "containers": [{"$patch": "replace"}, {"name": "only", "image": None}]
            }
        },
    )

    assert patched["spec"]["containers"] == [{"name": "only"}]


def test_directives_in_a_list_the_object_lacks_are_applied_not_stored() -> None:
    patched = apply_strategic_merge_patch(
        {"spec": {}},
        {"spec": {"volumes": [{"name": "new"}, {"name": "ghost", "$patch": "delete"}]}},
    )

    assert patched["spec"]["volumes"] == [{"name": "new"}]


def test_an_item_without_its_merge_key_is_unprocessable() -> None:
    with pytest.raises(PatchError) as caught:
        apply_strategic_merge_patch(_pod(), {"spec": {"containers": [{"image": "x"}]}})

    assert caught.value.code == 422
    assert "has no 'name', the key its items are merged by" in str(caught.value)
    assert "spec.containers" in str(caught.value)


def test_a_scalar_in_a_list_merged_by_key_is_unprocessable() -> None:
    with pytest.raises(PatchError, match="is a list of objects merged by 'name'"):
        apply_strategic_merge_patch(_pod(), {"spec": {"containers": ["app"]}})


def test_merging_a_list_explicitly_is_refused_as_kube_apiserver_refuses_it() -> None:
    with pytest.raises(PatchError, match='unknown \\$patch directive "merge"'):
        apply_strategic_merge_patch(
            _pod(), {"spec": {"volumes": [{"$patch": "merge"}]}}
        )


def test_lists_without_a_merge_key_are_replaced_whole() -> None:
    patched = apply_strategic_merge_patch(
        _pod(), {"spec": {"tolerations": [{"key": "b", "operator": "Exists"}]}}
    )

    assert patched["spec"]["tolerations"] == [{"key": "b", "operator": "Exists"}]


def test_a_service_merges_ports_by_port_and_a_container_by_container_port() -> None:
    service = {"spec": {"ports": [{"port": 80, "targetPort": 8080}]}}

    patched = apply_strategic_merge_patch(
        service, {"spec": {"ports": [{"port": 80, "name": "http"}]}}
    )

    assert patched["spec"]["ports"] == [
        {"port": 80, "targetPort": 8080, "name": "http"}
    ]
    assert STRATEGIC_MERGE_KEYS[("containers", "ports")] == "containerPort"


# --- strategic merge patch: lists of scalars -----------------------------------------


def test_finalizers_merge_as_a_set_as_in_kube_apiserver() -> None:
    patched = apply_strategic_merge_patch(
        _pod(), {"metadata": {"finalizers": ["example.com/b", "example.com/c"]}}
    )

    assert patched["metadata"]["finalizers"] == [
        "example.com/a",
        "example.com/b",
        "example.com/c",
    ]


def test_delete_from_primitive_list_removes_finalizers() -> None:
    patched = apply_strategic_merge_patch(
        _pod(), {"metadata": {"$deleteFromPrimitiveList/finalizers": ["example.com/a"]}}
    )

    assert patched["metadata"]["finalizers"] == ["example.com/b"]


def test_delete_from_primitive_list_never_creates_the_list() -> None:
    patched = apply_strategic_merge_patch(
        {"metadata": {}}, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["x"]}}
    )

    assert patched == {"metadata": {}}


def test_delete_from_primitive_list_also_works_on_a_replaced_list() -> None:
    patched = apply_strategic_merge_patch(
        {"spec": {"args": ["--a", "--b", "--a"]}},
        {"spec": {"$deleteFromPrimitiveList/args": ["--a"]}},
    )

    assert patched["spec"]["args"] == ["--b"]


def test_a_null_finalizers_list_deletes_it() -> None:
    patched = apply_strategic_merge_patch(_pod(), {"metadata": {"finalizers": None}})

    assert "finalizers" not in patched["metadata"]


@pytest.mark.parametrize(
    "patch",
    [
        {"metadata": {"$deleteFromPrimitiveList/finalizers": "x"}},
        {"metadata": {"$deleteFromPrimitiveList/": ["x"]}},
        {"metadata": {"$setElementOrder/finalizers": "x"}},
        {"metadata": {"$retainKeys": "name"}},
    ],
)
def test_malformed_list_directives_are_a_bad_request(patch: dict[str, Any]) -> None:
    with pytest.raises(PatchError, match="invalid patch format") as caught:
        apply_strategic_merge_patch(_pod(), patch)

    assert caught.value.code == 400


# --- strategic merge patch: $setElementOrder -----------------------------------------


def test_set_element_order_orders_the_merged_list() -> None:
    patched = apply_strategic_merge_patch(
        _pod(),
        {
            "spec": {
                "$setElementOrder/containers": [
                    {"name": "proxy"},
                    {"name": "sidecar"},
                    {"name": "app"},
                ],
                "containers": [{"name": "sidecar", "image": "s:1"}],
            }
        },
    )

    assert _names(patched["spec"]["containers"]) == ["proxy", "sidecar", "app"]


def test_set_element_order_alone_reorders_the_existing_list() -> None:
    patched = apply_strategic_merge_patch(
        _pod(),
        {
            "metadata": {
                "$setElementOrder/finalizers": ["example.com/b", "example.com/a"]
            }
        },
    )

    assert patched["metadata"]["finalizers"] == ["example.com/b", "example.com/a"]


def test_set_element_order_with_additions_and_deletions_of_scalars() -> None:
    target = {"metadata": {"finalizers": ["a", "b", "c", "d"]}}

    patched = apply_strategic_merge_patch(
        target,
        {
            "metadata": {
                "$setElementOrder/finalizers": ["a", "b", "d"],
                "$deleteFromPrimitiveList/finalizers": ["c"],
                "finalizers": ["d"],
            }
        },
    )

    assert patched["metadata"]["finalizers"] == ["a", "b", "d"]


def test_a_patch_list_out_of_its_set_element_order_is_unprocessable() -> None:
    patch = {
        "spec": {
            "$setElementOrder/containers": [{"name": "app"}, {"name": "proxy"}],
            "containers": [{"name": "proxy"}, {"name": "app"}],
        }
    }

    with pytest.raises(
        PatchError, match="are not in the order its \\$setElementOrder"
    ) as caught:
        apply_strategic_merge_patch(_pod(), patch)

    assert caught.value.code == 422


def test_set_element_order_for_a_replaced_list_is_ignored() -> None:
    patched = apply_strategic_merge_patch(
        _pod(),
        {
            "spec": {
                "$setElementOrder/tolerations": [{"key": "z"}],
                "tolerations": [{"key": "y"}],
            }
        },
    )

    assert patched["spec"]["tolerations"] == [{"key": "y"}]


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
    apply: Callable[[dict[str, Any], Any], dict[str, Any]], patch: Any
) -> None:
    target = _pod()
    patch_before = copy.deepcopy(patch)

    patched = apply(target, patch)

    assert target == _pod()
    assert patch == patch_before
    assert patched != target


@pytest.mark.parametrize(("apply", "patch"), PATCHERS)
def test_the_patched_object_shares_nothing_with_its_inputs(
    apply: Callable[[dict[str, Any], Any], dict[str, Any]], patch: Any
) -> None:
    target = _pod()
    patch_before = copy.deepcopy(patch)

    patched = apply(target, patch)
    _scramble(patched)

    assert target == _pod()
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


def test_a_failed_json_patch_leaves_the_target_untouched() -> None:
    target = _pod()

    with pytest.raises(PatchError):
        apply_json_patch(
            target,
            [
                {"op": "remove", "path": "/metadata/labels"},
                {"op": "test", "path": "/kind", "value": "Service"},
            ],
        )

    assert target == _pod()

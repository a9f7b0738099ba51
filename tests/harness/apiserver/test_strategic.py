"""Strategic merge patches merge objects and keyed lists as kube-apiserver does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from harness.apiserver.patch import PatchError
from harness.apiserver.strategic import (
    STRATEGIC_MERGE_KEYS,
    apply_strategic_merge_patch,
)

PodFactory = Callable[[], dict[str, Any]]


def _names(items: list[dict[str, Any]], key: str = "name") -> list[Any]:
    return [item[key] for item in items]


# --- strategic merge patch: objects and directives on them ---------------------------


def test_a_strategic_patch_merges_objects_and_deletes_nulls_like_a_merge_patch(
    make_pod: PodFactory,
) -> None:
    patched = apply_strategic_merge_patch(
        make_pod(), {"metadata": {"labels": {"tier": None, "track": "canary"}}}
    )

    assert patched["metadata"]["labels"] == {"app": "web", "track": "canary"}


def test_patch_replace_on_an_object_replaces_it_with_the_rest_of_the_patch(
    make_pod: PodFactory,
) -> None:
    patched = apply_strategic_merge_patch(
        make_pod(),
        {"metadata": {"labels": {"$patch": "replace", "only": "this", "gone": None}}},
    )

    assert patched["metadata"]["labels"] == {"only": "this"}


def test_patch_delete_on_an_object_empties_it(make_pod: PodFactory) -> None:
    patched = apply_strategic_merge_patch(
        make_pod(), {"metadata": {"labels": {"$patch": "delete"}}}
    )

    assert patched["metadata"]["labels"] == {}


def test_an_unknown_patch_directive_is_unprocessable_and_lists_the_known_ones(
    make_pod: PodFactory,
) -> None:
    with pytest.raises(PatchError) as caught:
        apply_strategic_merge_patch(make_pod(), {"spec": {"$patch": "merge"}})

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
def test_a_strategic_patch_that_is_not_an_object_is_a_bad_request(
    make_pod: PodFactory, patch: Any
) -> None:
    with pytest.raises(
        PatchError, match="a strategic merge patch must be a JSON object"
    ) as caught:
        apply_strategic_merge_patch(make_pod(), patch)

    assert caught.value.code == 400


# --- strategic merge patch: lists merged by key --------------------------------------


def test_containers_merge_by_name_and_a_new_one_goes_before_the_rest(
    make_pod: PodFactory,
) -> None:
    patched = apply_strategic_merge_patch(
        make_pod(),
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
    assert containers[0] == make_pod()["spec"]["containers"][0]


def test_adding_one_container_puts_it_first_as_kube_apiserver_does(
    make_pod: PodFactory,
) -> None:
    patched = apply_strategic_merge_patch(
        make_pod(), {"spec": {"containers": [{"name": "sidecar"}]}}
    )

    assert _names(patched["spec"]["containers"]) == ["sidecar", "app", "proxy"]


def test_items_named_by_the_patch_take_the_patch_order(make_pod: PodFactory) -> None:
    patched = apply_strategic_merge_patch(
        make_pod(), {"spec": {"containers": [{"name": "proxy"}, {"name": "app"}]}}
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


def test_nested_lists_of_a_container_merge_by_their_own_keys(
    make_pod: PodFactory,
) -> None:
    patched = apply_strategic_merge_patch(
        make_pod(),
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


def test_conditions_merge_by_type(make_pod: PodFactory) -> None:
    patched = apply_strategic_merge_patch(
        make_pod(), {"status": {"conditions": [{"type": "Ready", "status": "False"}]}}
    )

    assert patched["status"]["conditions"] == [
        {"type": "Ready", "status": "False"},
        {"type": "Initialized", "status": "True"},
    ]


def test_volumes_merge_by_name(make_pod: PodFactory) -> None:
    patched = apply_strategic_merge_patch(
        make_pod(), {"spec": {"volumes": [{"name": "cache", "emptyDir": {}}]}}
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


def test_deleting_an_item_the_list_does_not_have_changes_nothing(
    make_pod: PodFactory,
) -> None:
    patched = apply_strategic_merge_patch(
        make_pod(), {"spec": {"volumes": [{"name": "nope", "$patch": "delete"}]}}
    )

    assert patched["spec"]["volumes"] == make_pod()["spec"]["volumes"]


def test_patch_replace_in_a_list_replaces_it_with_the_other_items(
    make_pod: PodFactory,
) -> None:
    patched = apply_strategic_merge_patch(
        make_pod(),
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


def test_an_item_without_its_merge_key_is_unprocessable(make_pod: PodFactory) -> None:
    with pytest.raises(PatchError) as caught:
        apply_strategic_merge_patch(
            make_pod(), {"spec": {"containers": [{"image": "x"}]}}
        )

    assert caught.value.code == 422
    assert "has no 'name', the key its items are merged by" in str(caught.value)
    assert "spec.containers" in str(caught.value)


def test_a_scalar_in_a_list_merged_by_key_is_unprocessable(
    make_pod: PodFactory,
) -> None:
    with pytest.raises(PatchError, match="is a list of objects merged by 'name'"):
        apply_strategic_merge_patch(make_pod(), {"spec": {"containers": ["app"]}})


def test_merging_a_list_explicitly_is_refused_as_kube_apiserver_refuses_it(
    make_pod: PodFactory,
) -> None:
    with pytest.raises(PatchError, match='unknown \\$patch directive "merge"'):
        apply_strategic_merge_patch(
            make_pod(), {"spec": {"volumes": [{"$patch": "merge"}]}}
        )


def test_lists_without_a_merge_key_are_replaced_whole(make_pod: PodFactory) -> None:
    patched = apply_strategic_merge_patch(
        make_pod(), {"spec": {"tolerations": [{"key": "b", "operator": "Exists"}]}}
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


def test_finalizers_merge_as_a_set_as_in_kube_apiserver(make_pod: PodFactory) -> None:
    patched = apply_strategic_merge_patch(
        make_pod(), {"metadata": {"finalizers": ["example.com/b", "example.com/c"]}}
    )

    assert patched["metadata"]["finalizers"] == [
        "example.com/a",
        "example.com/b",
        "example.com/c",
    ]


def test_delete_from_primitive_list_removes_finalizers(make_pod: PodFactory) -> None:
    patched = apply_strategic_merge_patch(
        make_pod(),
        {"metadata": {"$deleteFromPrimitiveList/finalizers": ["example.com/a"]}},
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


def test_a_null_finalizers_list_deletes_it(make_pod: PodFactory) -> None:
    patched = apply_strategic_merge_patch(
        make_pod(), {"metadata": {"finalizers": None}}
    )

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
def test_malformed_list_directives_are_a_bad_request(
    make_pod: PodFactory, patch: dict[str, Any]
) -> None:
    with pytest.raises(PatchError, match="invalid patch format") as caught:
        apply_strategic_merge_patch(make_pod(), patch)

    assert caught.value.code == 400


# --- strategic merge patch: $setElementOrder -----------------------------------------


def test_set_element_order_orders_the_merged_list(make_pod: PodFactory) -> None:
    patched = apply_strategic_merge_patch(
        make_pod(),
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


def test_set_element_order_alone_reorders_the_existing_list(
    make_pod: PodFactory,
) -> None:
    patched = apply_strategic_merge_patch(
        make_pod(),
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


def test_a_patch_list_out_of_its_set_element_order_is_unprocessable(
    make_pod: PodFactory,
) -> None:
    patch = {
        "spec": {
            "$setElementOrder/containers": [{"name": "app"}, {"name": "proxy"}],
            "containers": [{"name": "proxy"}, {"name": "app"}],
        }
    }

    with pytest.raises(
        PatchError, match="are not in the order its \\$setElementOrder"
    ) as caught:
        apply_strategic_merge_patch(make_pod(), patch)

    assert caught.value.code == 422


def test_set_element_order_for_a_replaced_list_is_ignored(make_pod: PodFactory) -> None:
    patched = apply_strategic_merge_patch(
        make_pod(),
        {
            "spec": {
                "$setElementOrder/tolerations": [{"key": "z"}],
                "tolerations": [{"key": "y"}],
            }
        },
    )

    assert patched["spec"]["tolerations"] == [{"key": "y"}]

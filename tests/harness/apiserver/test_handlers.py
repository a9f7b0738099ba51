"""The REST verbs through the real ``kubernetes`` client, and what they refuse."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import kubernetes.client
import pytest
from kubernetes.client import (
    AppsV1Api,
    CoordinationV1Api,
    CustomObjectsApi,
    V1ConfigMap,
    V1ObjectMeta,
)

Raw = Callable[..., tuple[int, Any]]


def _config_map(name: str, **labels: str) -> V1ConfigMap:
    return V1ConfigMap(metadata=V1ObjectMeta(name=name, labels=labels or None))


def _meta(obj: Any) -> Any:
    return obj.metadata


def _status_of(exc: kubernetes.client.ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(exc.body or "{}")
    return body


def test_create_fills_in_server_metadata_and_get_returns_it(
    core: Any, namespace: str
) -> None:
    created = core.create_namespaced_config_map(namespace, _config_map("fresh"))
    read = core.read_namespaced_config_map("fresh", namespace)

    assert _meta(created).uid
    assert _meta(created).creation_timestamp is not None
    assert _meta(created).generation == 1
    assert _meta(created).namespace == namespace
    assert _meta(read).resource_version == _meta(created).resource_version


def test_every_write_gets_a_higher_resource_version(core: Any, namespace: str) -> None:
    revisions = [
        int(
            _meta(
                core.create_namespaced_config_map(namespace, _config_map(n))
            ).resource_version
        )
        for n in ("one", "two", "three")
    ]

    assert revisions == sorted(set(revisions))


def test_generate_name_gets_a_unique_suffix(core: Any, namespace: str) -> None:
    body = V1ConfigMap(metadata=V1ObjectMeta(generate_name="gen-"))
    names = {
        _meta(core.create_namespaced_config_map(namespace, body)).name for _ in range(3)
    }

    assert len(names) == 3
    assert all(name.startswith("gen-") and len(name) == 9 for name in names)


def test_creating_an_existing_name_is_409_already_exists(
    core: Any, namespace: str
) -> None:
    core.create_namespaced_config_map(namespace, _config_map("taken"))

    with pytest.raises(kubernetes.client.ApiException) as caught:
        core.create_namespaced_config_map(namespace, _config_map("taken"))

    assert caught.value.status == 409
    assert _status_of(caught.value)["reason"] == "AlreadyExists"


def test_replace_with_a_stale_resource_version_is_409_conflict(
    core: Any, namespace: str
) -> None:
    created = core.create_namespaced_config_map(namespace, _config_map("contended"))
    winner = core.read_namespaced_config_map("contended", namespace)
    winner.data = {"who": "winner"}
    core.replace_namespaced_config_map("contended", namespace, winner)

    created.data = {"who": "loser"}
    with pytest.raises(kubernetes.client.ApiException) as caught:
        core.replace_namespaced_config_map("contended", namespace, created)

    assert caught.value.status == 409
    assert _status_of(caught.value)["reason"] == "Conflict"
    read = core.read_namespaced_config_map("contended", namespace)
    assert read.data == {"who": "winner"}


def test_a_no_op_replace_keeps_the_resource_version(core: Any, namespace: str) -> None:
    created = core.create_namespaced_config_map(namespace, _config_map("still"))

    replaced = core.replace_namespaced_config_map("still", namespace, created)

    assert _meta(replaced).resource_version == _meta(created).resource_version


def test_merge_json_and_strategic_patches_all_apply(
    api_client: kubernetes.client.ApiClient, namespace: str
) -> None:
    apps: Any = AppsV1Api(api_client)
    deployment = {
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1"}]},
            },
        },
    }
    apps.create_namespaced_deployment(namespace, deployment)

    # The client sends a dict as a strategic merge patch: containers merge by name.
    apps.patch_namespaced_deployment(
        "web",
        namespace,
        {
            "spec": {
                "template": {"spec": {"containers": [{"name": "side", "image": "x"}]}}
            }
        },
    )
    apps.patch_namespaced_deployment(
        "web", namespace, [{"op": "replace", "path": "/spec/replicas", "value": 3}]
    )
    patched = apps.read_namespaced_deployment("web", namespace)

    containers = patched.spec.template.spec.containers
    assert sorted(c.name for c in containers) == ["side", "web"]
    assert patched.spec.replicas == 3
    assert _meta(patched).generation == 3


def test_a_bad_json_patch_is_422_and_changes_nothing(core: Any, namespace: str) -> None:
    created = core.create_namespaced_config_map(namespace, _config_map("intact"))

    with pytest.raises(kubernetes.client.ApiException) as caught:
        core.patch_namespaced_config_map(
            "intact", namespace, [{"op": "remove", "path": "/data/missing"}]
        )

    assert caught.value.status == 422
    assert "missing" in _status_of(caught.value)["message"]
    read = core.read_namespaced_config_map("intact", namespace)
    assert _meta(read).resource_version == _meta(created).resource_version


def _refused_patch(
    core: Any, namespace: str, created: V1ConfigMap, patch: object
) -> dict[str, Any]:
    """Send a patch the server must refuse; check it changed nothing; return
    the Status it answered with."""
    name = _meta(created).name
    with pytest.raises(kubernetes.client.ApiException) as caught:
        core.patch_namespaced_config_map(name, namespace, patch)

    read = core.read_namespaced_config_map(name, namespace)
    assert _meta(read).resource_version == _meta(created).resource_version
    return _status_of(caught.value)


def test_a_json_patch_copying_the_object_into_itself_is_422_and_changes_nothing(
    core: Any, namespace: str
) -> None:
    created = core.create_namespaced_config_map(
        namespace, V1ConfigMap(metadata=V1ObjectMeta(name="seed"), data={"a": "x"})
    )
    # Each copy of the object into itself doubles it: 18 would make 200 MiB.
    doubling = [
        {"op": "add", "path": "/data", "value": {"blob": "x" * 800}},
        {"op": "add", "path": "/copies", "value": {}},
    ] + [{"op": "copy", "from": "", "path": f"/copies/c{i}"} for i in range(18)]

    status = _refused_patch(core, namespace, created, doubling)

    assert (status["code"], status["reason"]) == (422, "Invalid")
    assert "more than the 3145728 one JSON patch may copy" in status["message"]


def test_a_patch_growing_the_object_past_3_mib_is_413_and_changes_nothing(
    core: Any, namespace: str
) -> None:
    half = "x" * 2_000_000
    created = core.create_namespaced_config_map(
        namespace, V1ConfigMap(metadata=V1ObjectMeta(name="big"), data={"a": half})
    )

    status = _refused_patch(core, namespace, created, {"data": {"b": half}})

    assert (status["code"], status["reason"]) == (413, "RequestEntityTooLarge")
    assert 'ConfigMap "big" would be 4000' in status["message"]


def test_a_json_patch_of_too_many_operations_is_413_too_large(
    core: Any, namespace: str
) -> None:
    created = core.create_namespaced_config_map(namespace, _config_map("many"))
    test_the_name = {"op": "test", "path": "/metadata/name", "value": "many"}

    status = _refused_patch(core, namespace, created, [test_the_name] * 10_001)

    assert (status["code"], status["reason"]) == (413, "RequestEntityTooLarge")
    assert "maximum operations in a JSON patch is 10000" in status["message"]


def test_finalizers_hold_a_deleted_object_until_they_are_removed(
    core: Any, namespace: str
) -> None:
    body = _config_map("held")
    _meta(body).finalizers = ["leakhunt.dev/hold"]
    core.create_namespaced_config_map(namespace, body)

    core.delete_namespaced_config_map("held", namespace)
    marked = core.read_namespaced_config_map("held", namespace)
    core.patch_namespaced_config_map(
        "held", namespace, {"metadata": {"finalizers": None}}
    )

    assert _meta(marked).deletion_timestamp is not None
    with pytest.raises(kubernetes.client.ApiException) as caught:
        core.read_namespaced_config_map("held", namespace)
    assert caught.value.status == 404


def test_delete_collection_deletes_only_what_the_selector_matches(
    core: Any, namespace: str
) -> None:
    for index in range(4):
        core.create_namespaced_config_map(
            namespace, _config_map(f"cm-{index}", parity=str(index % 2))
        )

    core.delete_collection_namespaced_config_map(namespace, label_selector="parity=0")

    left = core.list_namespaced_config_map(namespace).items
    assert sorted(_meta(cm).name for cm in left) == ["cm-1", "cm-3"]


def test_status_updates_change_only_the_status_and_spec_updates_only_the_spec(
    core: Any, namespace: str
) -> None:
    pod = {
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "i"}]},
    }
    core.create_namespaced_pod(namespace, pod)

    core.patch_namespaced_pod_status(
        "p", namespace, {"status": {"phase": "Running"}, "spec": {"nodeName": "n"}}
    )
    core.patch_namespaced_pod("p", namespace, {"status": {"phase": "Failed"}})
    read = core.read_namespaced_pod("p", namespace)

    assert read.status.phase == "Running"
    assert read.spec.node_name is None
    running = core.list_namespaced_pod(namespace, field_selector="status.phase=Running")
    assert [_meta(p).name for p in running.items] == ["p"]


def test_deleting_a_namespace_deletes_what_it_holds(core: Any) -> None:
    core.create_namespace({"metadata": {"name": "doomed"}})
    core.create_namespaced_config_map("doomed", _config_map("inside"))

    core.delete_namespace("doomed")

    with pytest.raises(kubernetes.client.ApiException) as caught:
        core.read_namespace("doomed")
    assert caught.value.status == 404
    assert (
        core.list_config_map_for_all_namespaces(
            field_selector=("metadata.namespace=doomed")
        ).items
        == []
    )


def test_creating_in_a_missing_namespace_is_404(core: Any) -> None:
    with pytest.raises(kubernetes.client.ApiException) as caught:
        core.create_namespaced_config_map("nowhere", _config_map("lost"))

    assert caught.value.status == 404
    assert _status_of(caught.value)["message"] == 'namespaces "nowhere" not found'


def test_leases_and_replicasets_are_served(
    api_client: kubernetes.client.ApiClient, namespace: str
) -> None:
    leases: Any = CoordinationV1Api(api_client)
    leases.create_namespaced_lease(
        namespace, {"metadata": {"name": "leader"}, "spec": {"holderIdentity": "me"}}
    )
    apps: Any = AppsV1Api(api_client)
    replicasets = apps.list_namespaced_replica_set(namespace)

    lease = leases.read_namespaced_lease("leader", namespace)
    assert lease.spec.holder_identity == "me"
    assert replicasets.items == []


def test_custom_resources_are_served_once_their_crd_exists(
    api_client: kubernetes.client.ApiClient, namespace: str
) -> None:
    extensions: Any = kubernetes.client.ApiextensionsV1Api(api_client)
    custom: Any = CustomObjectsApi(api_client)
    extensions.create_custom_resource_definition(
        {
            "metadata": {"name": "gadgets.leakhunt.dev"},
            "spec": {
                "group": "leakhunt.dev",
                "scope": "Namespaced",
                "names": {"plural": "gadgets", "kind": "Gadget"},
                "versions": [
                    {
                        "name": "v1",
                        "served": True,
                        "storage": True,
                        "subresources": {"status": {}},
                    }
                ],
            },
        }
    )
    try:
        custom.create_namespaced_custom_object(
            "leakhunt.dev",
            "v1",
            namespace,
            "gadgets",
            {
                "apiVersion": "leakhunt.dev/v1",
                "kind": "Gadget",
                "metadata": {"name": "g"},
                "spec": {"size": 1},
            },
        )
        custom.patch_namespaced_custom_object_status(
            "leakhunt.dev", "v1", namespace, "gadgets", "g", {"status": {"ok": True}}
        )
        listed: dict[str, Any] = custom.list_namespaced_custom_object(
            "leakhunt.dev", "v1", namespace, "gadgets"
        )
    finally:
        extensions.delete_custom_resource_definition("gadgets.leakhunt.dev")

    assert [item["status"] for item in listed["items"]] == [{"ok": True}]
    with pytest.raises(kubernetes.client.ApiException) as caught:
        custom.list_namespaced_custom_object("leakhunt.dev", "v1", namespace, "gadgets")
    assert caught.value.status == 404


def _crd(plural: str, group: str, kind: str) -> dict[str, Any]:
    return {
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": plural, "kind": kind},
            "versions": [{"name": "v1", "served": True, "storage": True}],
        },
    }


@pytest.mark.parametrize(
    ("names", "says"),
    [
        (("deployments", "apps", "Deployment"), "should be a domain with at least"),
        (("leases", "coordination.k8s.io", "Lease"), "a built-in resource (Lease)"),
    ],
)
def test_a_crd_cannot_take_the_place_of_a_built_in_resource(
    api_client: kubernetes.client.ApiClient,
    namespace: str,
    names: tuple[str, str, str],
    says: str,
) -> None:
    plural, group, kind = names
    extensions: Any = kubernetes.client.ApiextensionsV1Api(api_client)
    custom: Any = CustomObjectsApi(api_client)
    custom.create_namespaced_custom_object(
        group, "v1", namespace, plural, {"metadata": {"name": "kept"}}
    )

    with pytest.raises(kubernetes.client.ApiException) as caught:
        extensions.create_custom_resource_definition(_crd(plural, group, kind))

    status = _status_of(caught.value)
    assert (caught.value.status, status["reason"]) == (422, "Invalid")
    assert says in status["message"]
    kept = custom.get_namespaced_custom_object(group, "v1", namespace, plural, "kept")
    assert kept["kind"] == kind


CASES = [
    (
        "PUT",
        "/api/v1/namespaces/leakhunt-0/pods/pod-0/status",
        b'{"metadata": {"name": "pod-0"}, "status": 7}',
        (422, "Invalid", "status: Invalid value: 7: expected an object"),
    ),
    (
        "POST",
        "/api/v1/namespaces/default/configmaps",
        b'{"metadata": {"generateName": 12}}',
        (422, "Invalid", "metadata.generateName"),
    ),
    (
        "POST",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        b'{"metadata": {"name": "a.b.c"}, "spec": {"group": "b.c", "versions": '
        b'[{"name": "v1"}], "names": {"plural": "a", "kind": "A", "shortNames": 5}}}',
        (422, "Invalid", "spec.names.shortNames"),
    ),
    (
        "DELETE",
        "/api/v1/namespaces/default/configmaps/x",
        b"{bad",
        (400, "BadRequest", "DeleteOptions body is not valid JSON"),
    ),
    (
        "POST",
        "/api/v1/namespaces/default/configmaps",
        b"{not json",
        (400, "BadRequest", "not valid JSON"),
    ),
    (
        "POST",
        "/api/v1/namespaces/default/configmaps",
        b"[1, 2]",
        (400, "BadRequest", "the object must be a JSON object, got array: [1,2]"),
    ),
    (
        "POST",
        "/api/v1/namespaces/default/configmaps",
        b'{"kind": "Secret", "metadata": {"name": "x"}}',
        (400, "BadRequest", "kind in the body (Secret)"),
    ),
    (
        "POST",
        "/api/v1/namespaces/default/configmaps",
        b'{"metadata": {}}',
        (422, "Invalid", "name or generateName is required"),
    ),
    (
        "POST",
        "/api/v1/namespaces/default/configmaps",
        b'{"metadata": {"name": "Not_Valid"}}',
        (422, "Invalid", "RFC 1123"),
    ),
    (
        "POST",
        "/api/v1/namespaces/default/configmaps",
        b'{"metadata": {"name": "l", "labels": {"bad key!": "v"}}}',
        (
            422,
            "Invalid",
            'ConfigMap "l" is invalid: metadata.labels: Invalid value: "bad key!": '
            "name part must consist of alphanumeric characters",
        ),
    ),
    (
        "POST",
        "/api/v1/namespaces/default/configmaps",
        b'{"metadata": {"name": "l", "labels": {"app": "two words"}}}',
        (
            422,
            "Invalid",
            'metadata.labels: Invalid value: "two words": a valid label must be an '
            "empty string or consist of alphanumeric characters",
        ),
    ),
    (
        "POST",
        "/api/v1/namespaces/default/configmaps",
        b'{"metadata": {"name": "l", "labels": {"app": "' + b"v" * 64 + b'"}}}',
        (422, "Invalid", "must be no more than 63 characters"),
    ),
    (
        "POST",
        "/api/v1/namespaces/default/configmaps",
        b'{"metadata": {"name": "l", "annotations": {"a/b/c": "any text"}}}',
        (422, "Invalid", 'metadata.annotations: Invalid value: "a/b/c"'),
    ),
    (
        "POST",
        "/api/v1/namespaces/default/configmaps",
        b'{"metadata": {"name": "deep"}, "data": {}, "x": '
        + b'{"a": ' * 300
        + b"1"
        + b"}" * 301,
        (400, "BadRequest", "nests objects and arrays 301 levels deep"),
    ),
    (
        "GET",
        "/api/v1/namespaces/default/gizmos",
        None,
        (404, "NotFound", "could not find the requested resource"),
    ),
    (
        "GET",
        "/api/v1/pods?labelSelector=a%20in%20(",
        None,
        (
            400,
            "BadRequest",
            "unable to parse requirement: found '', expected: ',', ')' or identifier",
        ),
    ),
    (
        "GET",
        "/api/v1/pods?fieldSelector=spec.color%3Dred",
        None,
        (400, "BadRequest", "spec.color"),
    ),
    ("GET", "/api/v1/pods?limit=many", None, (400, "BadRequest", "limit")),
    ("GET", "/api/v1/pods?continue=garbage", None, (400, "BadRequest", "continue")),
    (
        "PUT",
        "/api/v1/namespaces/default/configmaps",
        b"{}",
        (405, "MethodNotAllowed", "PUT"),
    ),
    (
        "DELETE",
        "/api/v1/namespaces",
        None,
        (405, "MethodNotAllowed", "does not allow DELETE on /api/v1/namespaces"),
    ),
    (
        "GET",
        "/api/v1/pods?resourceVersion=999999999",
        None,
        (504, "Timeout", "Timeout: Too large resource version: 999999999, current:"),
    ),
    (
        "PATCH",
        "/api/v1/namespaces/default/configmaps/x",
        b"{}",
        (415, "UnsupportedMediaType", "merge-patch"),
    ),
]
"""Bad requests: (method, path, body, (code, reason, part of the message))."""


@pytest.mark.parametrize(("method", "path", "body", "expected"), CASES)
def test_bad_requests_get_a_status_that_says_what_was_wrong(
    raw: Raw,
    method: str,
    path: str,
    body: bytes | None,
    expected: tuple[int, str, str],
) -> None:
    code, reason, says = expected

    status, document = raw(method, path, body)

    assert (status, document["kind"], document["code"]) == (code, "Status", code)
    assert document["reason"] == reason
    assert says in document["message"]


def test_a_continue_token_of_a_pod_list_is_400_on_a_configmap_list(core: Any) -> None:
    pods = core.list_pod_for_all_namespaces(limit=1)

    with pytest.raises(kubernetes.client.ApiException) as caught:
        core.list_config_map_for_all_namespaces(
            limit=1, _continue=pods.metadata._continue
        )

    status = _status_of(caught.value)
    assert (caught.value.status, status["reason"]) == (400, "BadRequest")
    assert status["message"].startswith(
        "continue key is not valid: it continues a list of pods in all namespaces, "
        "not of configmaps in all namespaces"
    )


def test_labels_and_annotations_kube_accepts_are_stored(
    core: Any, namespace: str
) -> None:
    labels = {"example.com/Tier": "", "a.b_c-d": "X.y_z-1", "n" * 63: "v" * 63}
    annotations = {"Example.com/Note": "any text at all: {} / ?"}
    body = V1ConfigMap(
        metadata=V1ObjectMeta(name="kept", labels=labels, annotations=annotations)
    )

    core.create_namespaced_config_map(namespace, body)

    read = core.read_namespaced_config_map("kept", namespace)
    assert (_meta(read).labels, _meta(read).annotations) == (labels, annotations)


def test_an_oversized_body_is_413(raw: Raw) -> None:
    huge = b'{"metadata": {"name": "big"}, "data": {"x": "' + b"y" * 4_000_000 + b'"}}'

    status, document = raw("POST", "/api/v1/namespaces/default/configmaps", huge)

    assert (status, document["reason"]) == (413, "RequestEntityTooLarge")


def test_a_body_of_a_megabyte_is_read_whole_and_stored(
    core: Any, namespace: str
) -> None:
    blob = "x" * 1_000_000
    body = V1ConfigMap(metadata=V1ObjectMeta(name="large"), data={"blob": blob})

    core.create_namespaced_config_map(namespace, body)

    read = core.read_namespaced_config_map("large", namespace)
    assert read.data == {"blob": blob}


def test_a_request_without_the_token_is_401(raw: Raw) -> None:
    status, document = raw(
        "GET", "/api/v1/pods", headers={"Authorization": "Bearer wrong"}
    )

    assert (status, document["reason"]) == (401, "Unauthorized")


def test_bad_requests_leave_the_server_serving(raw: Raw, core: Any) -> None:
    refused = [
        (b"", 400, "the create request has an empty body"),
        (b"null", 400, "the object must be a JSON object, got null: null"),
        (b'{"metadata": 5}', 400, "has a metadata that is a number, 5;"),
        (
            b'{"metadata": {"name": "x", "labels": 1}}',
            422,
            "metadata.labels: Invalid value: 1: expected a map of string keys",
        ),
    ]

    answers = [
        raw("POST", "/api/v1/namespaces/default/configmaps", body)
        for body, _, _ in refused
    ]

    for (status, document), (_, code, says) in zip(answers, refused, strict=True):
        assert (status, document["kind"], document["code"]) == (code, "Status", code)
        assert says in document["message"]
    assert core.list_namespaced_pod("leakhunt-0").items

"""What the server writes into objects on create and keeps on update."""

from __future__ import annotations

from typing import Any

import pytest

from harness.apiserver.resources import BUILTIN_RESOURCES, NAMESPACES
from harness.apiserver.server_set import (
    merged_update,
    name_from_metadata,
    stamp_created,
)
from harness.apiserver.status import ApiError

PODS = next(r for r in BUILTIN_RESOURCES if r.plural == "pods")


def test_a_generated_name_is_the_prefix_and_five_characters_without_vowels() -> None:
    meta: dict[str, object] = {"generateName": "web-"}

    name = name_from_metadata(PODS, meta)

    assert isinstance(name, str)
    assert name == meta["name"]
    assert name.startswith("web-")
    assert len(name) == 9
    assert not set(name[4:]) & set("aeiou")


def test_a_generate_name_that_is_not_a_string_is_invalid() -> None:
    with pytest.raises(ApiError) as caught:
        name_from_metadata(PODS, {"generateName": 5})

    assert caught.value.code == 422
    assert "metadata.generateName" in caught.value.message


def test_a_created_pod_starts_pending_whatever_status_it_was_sent_with() -> None:
    pod = {"metadata": {"name": "p", "uid": "mine"}, "status": {"phase": "Running"}}

    stamp_created(PODS, "ns", pod, keep_status=False)

    assert pod["status"] == {"phase": "Pending", "qosClass": "BestEffort"}
    assert pod["metadata"]["uid"] != "mine"
    assert pod["metadata"]["namespace"] == "ns"


def test_a_created_namespace_has_no_namespace_and_the_kubernetes_finalizer() -> None:
    namespace: dict[str, Any] = {"metadata": {"name": "ns", "namespace": "elsewhere"}}

    stamp_created(NAMESPACES, "", namespace, keep_status=False)

    assert "namespace" not in namespace["metadata"]
    assert namespace["spec"] == {"finalizers": ["kubernetes"]}


def test_an_update_keeps_the_server_set_metadata_and_the_status() -> None:
    old = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "uid": "u1", "generation": 3},
        "status": {"phase": "Running"},
    }
    sent = {"metadata": {"name": "q", "uid": "u2"}, "status": {"phase": "Failed"}}

    new = merged_update(PODS, old, sent, None)

    assert new["metadata"] == {"name": "p", "uid": "u1", "generation": 3}
    assert new["status"] == {"phase": "Running"}
    assert new["kind"] == "Pod"


def test_a_status_update_changes_the_status_only() -> None:
    old = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"nodeName": "a"},
    }
    sent = {"metadata": {"name": "p"}, "spec": {"nodeName": "b"}, "status": {}}

    new = merged_update(PODS, old, sent, "status")

    assert new["spec"] == {"nodeName": "a"}
    assert new["status"] == {}

"""The store on its own: revisions, history, compaction, namespaces, CRDs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from harness.apiserver.resources import CRD, NAMESPACES, ResourceType
from harness.apiserver.status import ApiError
from harness.apiserver.store import Preconditions, Store

Nested = Callable[[int], dict[str, Any]]


def _store_with_namespace(name: str = "ns", **options: Any) -> Store:
    store = Store(**options)
    store.create(NAMESPACES, "", {"metadata": {"name": name}})
    return store


def _configmaps(store: Store) -> ResourceType:
    resource = store.registry.lookup("", "v1", "configmaps")
    assert resource is not None
    return resource


def test_history_older_than_the_window_is_compacted_away() -> None:
    store = _store_with_namespace(compaction_window=10.0)
    configmaps = _configmaps(store)
    first = store.create(configmaps, "ns", {"metadata": {"name": "a"}})
    store.create(configmaps, "ns", {"metadata": {"name": "b"}})

    store.trim_history(now=first_event_time(store) + 5)
    kept = list(store.events_since(configmaps, first.revision - 1))
    store.trim_history(now=first_event_time(store) + 60)

    assert [event.name for event in kept] == ["a", "b"]
    assert store.is_compacted(first.revision - 1)
    assert not store.is_compacted(store.revision)


def first_event_time(store: Store) -> float:
    """Return when the oldest event still in the history happened."""
    return next(store.events_since(NAMESPACES, 0)).time


def test_the_history_is_bounded_by_length_too() -> None:
    store = _store_with_namespace(history_limit=5)
    configmaps = _configmaps(store)

    for index in range(20):
        store.create(configmaps, "ns", {"metadata": {"name": f"cm-{index}"}})

    newest = [e.name for e in store.events_since(configmaps, store.revision - 5)]
    assert newest == [f"cm-{index}" for index in range(15, 20)]
    assert store.is_compacted(store.revision - 6)


def test_a_delete_precondition_on_a_stale_uid_is_a_conflict() -> None:
    store = _store_with_namespace()
    configmaps = _configmaps(store)
    store.create(configmaps, "ns", {"metadata": {"name": "a"}})

    with pytest.raises(ApiError) as caught:
        store.delete(configmaps, "ns", "a", Preconditions(uid="someone-else"))

    assert caught.value.code == 409
    assert "Precondition failed: UID in precondition: someone-else" in str(caught.value)
    assert store.find(configmaps, "ns", "a") is not None


def test_a_terminating_namespace_waits_for_finalized_content() -> None:
    store = _store_with_namespace()
    configmaps = _configmaps(store)
    store.create(
        configmaps, "ns", {"metadata": {"name": "held", "finalizers": ["x/y"]}}
    )

    _, gone = store.delete(NAMESPACES, "", "ns")
    terminating = store.get(NAMESPACES, "", "ns").load()
    with pytest.raises(ApiError) as refused:
        store.create(configmaps, "ns", {"metadata": {"name": "late"}})
    held = store.get(configmaps, "ns", "held").load()
    held["metadata"]["finalizers"] = []
    store.update(configmaps, "ns", "held", held)

    assert not gone
    assert terminating["status"]["phase"] == "Terminating"
    assert refused.value.code == 403
    assert not store.namespace_exists("ns")


def test_an_invalid_crd_is_refused_and_serves_nothing() -> None:
    store = Store()

    with pytest.raises(ApiError) as caught:
        store.create(
            CRD,
            "",
            {
                "metadata": {"name": "things.example.com"},
                "spec": {"group": "example.com", "names": {"plural": "things"}},
            },
        )

    assert caught.value.code == 422
    assert "spec.names.kind" in str(caught.value)
    assert store.registry.lookup("example.com", "v1", "things") is None


def test_deleting_a_crd_deletes_its_custom_resources() -> None:
    store = _store_with_namespace()
    store.create(
        CRD,
        "",
        {
            "metadata": {"name": "things.example.com"},
            "spec": {
                "group": "example.com",
                "names": {"plural": "things", "kind": "Thing"},
                "versions": [{"name": "v1", "served": True, "storage": True}],
            },
        },
    )
    things = store.registry.lookup("example.com", "v1", "things")
    assert things is not None
    store.create(things, "ns", {"metadata": {"name": "t"}})

    store.delete(CRD, "", "things.example.com")

    assert store.registry.lookup("example.com", "v1", "things") is None
    assert store.count(things) == 0
    deleted = [e.type for e in store.events_since(things, 0)]
    assert deleted == ["ADDED", "DELETED"]


def test_the_default_namespace_cannot_be_deleted() -> None:
    store = _store_with_namespace("default")

    with pytest.raises(ApiError) as caught:
        store.delete(NAMESPACES, "", "default")

    assert caught.value.code == 403
    assert store.namespace_exists("default")


def test_a_finalized_namespace_stays_terminating_until_its_finalizer_goes() -> None:
    store = Store()
    store.create(NAMESPACES, "", {"metadata": {"name": "ns", "finalizers": ["x/y"]}})
    configmaps = _configmaps(store)
    store.create(configmaps, "ns", {"metadata": {"name": "inside"}})

    store.delete(NAMESPACES, "", "ns")
    with pytest.raises(ApiError) as refused:
        store.create(configmaps, "ns", {"metadata": {"name": "late"}})
    namespace = store.get(NAMESPACES, "", "ns").load()
    namespace["metadata"]["finalizers"] = []
    store.update(NAMESPACES, "", "ns", namespace)

    assert refused.value.code == 403
    assert store.count(configmaps) == 0
    assert not store.namespace_exists("ns")


def test_an_object_too_deep_to_serialize_is_refused_and_bumps_no_revision(
    make_nested: Nested,
) -> None:
    store = _store_with_namespace()
    configmaps = _configmaps(store)
    before = store.revision

    with pytest.raises(ApiError) as caught:
        store.create(
            configmaps, "ns", {"metadata": {"name": "deep"}, "x": make_nested(300)}
        )
    after = store.create(configmaps, "ns", {"metadata": {"name": "flat"}})

    assert caught.value.code == 422
    assert "at most 128 levels" in caught.value.message
    assert store.find(configmaps, "ns", "deep") is None
    assert after.revision == before + 1


def test_a_crd_too_deep_to_serialize_serves_nothing(make_nested: Nested) -> None:
    store = Store()
    crd = {
        "metadata": {"name": "things.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"plural": "things", "kind": "Thing"},
            "versions": [{"name": "v1", "served": True, "schema": make_nested(300)}],
        },
    }

    with pytest.raises(ApiError) as caught:
        store.create(CRD, "", crd)

    assert caught.value.code == 422
    assert store.find(CRD, "", "things.example.com") is None
    assert store.registry.lookup("example.com", "v1", "things") is None

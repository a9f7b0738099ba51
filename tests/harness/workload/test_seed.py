"""Seeding: realistic pods spread over the namespaces, labelled by shard."""

from __future__ import annotations

import orjson

from harness.apiserver.resources import NAMESPACES
from harness.apiserver.selectors import parse_label_selector
from harness.apiserver.store import Store
from harness.workload.seed import namespace_names, pod, seed


def test_seeded_pods_spread_evenly_over_the_seeded_namespaces() -> None:
    store = Store()

    names = seed(store, objects=10, namespaces=3)

    pods = store.registry.lookup("", "v1", "pods")
    assert pods is not None
    assert names == ["leakhunt-0", "leakhunt-1", "leakhunt-2"]
    assert [len(store.list(pods, ns)) for ns in names] == [4, 3, 3]
    assert {ns for ns, _, _ in store.list(NAMESPACES, None)} == {""}


def test_seeded_pods_are_running_and_selectable_by_shard() -> None:
    store = Store()
    seed(store, objects=8, namespaces=1)
    pods = store.registry.lookup("", "v1", "pods")
    assert pods is not None

    shard = store.list(pods, None, parse_label_selector("leakhunt.dev/shard=3"))
    running = [orjson.loads(entry.raw)["status"]["phase"] for _, _, entry in shard]

    assert [name for _, name, _ in shard] == ["pod-3", "pod-7"]
    assert running == ["Running", "Running"]


def test_a_seeded_pod_is_a_few_kilobytes_of_json_like_a_real_one() -> None:
    size = len(orjson.dumps(pod("pod-0", "leakhunt-0", 0)))

    assert 3_000 < size < 8_000


def test_namespace_names_follow_the_documented_pattern() -> None:
    assert namespace_names(2) == ["leakhunt-0", "leakhunt-1"]

"""Conformance of whole conversations: informers, pagination under churn, re-lists."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import kubernetes.client
import pytest
from kubernetes.client import CoreV1Api, V1ConfigMap, V1ObjectMeta
from kubernetes.informer import SharedInformer

from harness.apiserver.process import SimulatorProcess


def _wait_for(condition: Callable[[], object], seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def _names(informer: Any) -> set[str]:
    return {obj.metadata.name for obj in informer.cache.list()}


def _pod_lists(simulator: SimulatorProcess) -> list[dict[str, Any]]:
    audit = simulator.control("GET", "/audit")["items"]
    return [r for r in audit if r["verb"] == "list" and r["resource"] == "pods"]


@pytest.fixture
def private_simulator() -> Iterator[SimulatorProcess]:
    """A simulator of its own: these tests expire watches server-wide."""
    with SimulatorProcess(objects=20, namespaces=2) as process:
        yield process


def test_shared_informer_syncs_follows_changes_and_stops(
    simulator: SimulatorProcess, core: Any, namespace: str
) -> None:
    core.create_namespaced_config_map(
        namespace, V1ConfigMap(metadata=V1ObjectMeta(name="existing"))
    )
    informer = SharedInformer(core.list_namespaced_config_map, namespace=namespace)
    informer.start()
    try:
        assert _wait_for(lambda: _names(informer) == {"existing"})

        core.create_namespaced_config_map(
            namespace, V1ConfigMap(metadata=V1ObjectMeta(name="new"))
        )
        core.delete_namespaced_config_map("existing", namespace)
        assert _wait_for(lambda: _names(informer) == {"new"})
    finally:
        # NB: the informer only notices stop() at its watch's next event.
        stopper = threading.Thread(target=informer.stop)
        stopper.start()
        core.create_namespaced_config_map(
            namespace, V1ConfigMap(metadata=V1ObjectMeta(name="wake-up"))
        )
        stopper.join(10)

    assert not stopper.is_alive()
    assert _wait_for(
        lambda: not [w for w in simulator.open_watches() if w["namespace"] == namespace]
    )


def test_shared_informer_relists_after_its_watch_expires(
    private_simulator: SimulatorProcess,
) -> None:
    with kubernetes.client.ApiClient(private_simulator.configuration()) as api:
        core: Any = CoreV1Api(api)
        informer = SharedInformer(core.list_namespaced_pod, namespace="leakhunt-0")
        errors: list[object] = []
        informer.add_event_handler("ERROR", errors.append)
        informer.start()
        try:
            assert _wait_for(lambda: len(informer.cache.list()) == 10)
            assert _wait_for(private_simulator.open_watches)

            # The informer's namespace stays quiet while another one changes,
            # so its watch's resourceVersion falls behind the compaction.
            core.delete_namespaced_pod("pod-1", "leakhunt-1")
            private_simulator.compact()
            private_simulator.control("POST", "/watches/expire")

            assert _wait_for(lambda: len(_pod_lists(private_simulator)) == 2)
            assert _wait_for(lambda: len(private_simulator.open_watches()) == 1)
            core.delete_namespaced_pod("pod-0", "leakhunt-0")
            assert _wait_for(lambda: "pod-0" not in _names(informer))
        finally:
            stopper = threading.Thread(target=informer.stop)
            stopper.start()
            private_simulator.control("POST", "/watches/drop")
            stopper.join(10)

    statuses = [
        e.status for e in errors if isinstance(e, kubernetes.client.ApiException)
    ]
    assert statuses == [410]
    assert len(_pod_lists(private_simulator)) == 2


def test_pagination_under_concurrent_writes_returns_one_consistent_snapshot(
    core: Any, namespace: str
) -> None:
    for index in range(30):
        core.create_namespaced_config_map(
            namespace, V1ConfigMap(metadata=V1ObjectMeta(name=f"cm-{index:02d}"))
        )

    first = core.list_namespaced_config_map(namespace, limit=7)
    pages = [first]
    # The world changes between pages: new objects, deletions.
    core.delete_namespaced_config_map("cm-29", namespace)
    core.create_namespaced_config_map(
        namespace, V1ConfigMap(metadata=V1ObjectMeta(name="cm-99"))
    )
    while pages[-1].metadata._continue:
        pages.append(
            core.list_namespaced_config_map(
                namespace, limit=7, _continue=pages[-1].metadata._continue
            )
        )

    names = [cm.metadata.name for page in pages for cm in page.items]
    assert names == [f"cm-{index:02d}" for index in range(30)]
    assert {page.metadata.resource_version for page in pages} == {
        first.metadata.resource_version
    }
    assert first.metadata.remaining_item_count == 23


def test_a_resumed_watch_gets_every_event_of_a_busy_writer(
    core: Any, namespace: str, watch_events: Callable[..., list[dict[str, Any]]]
) -> None:
    start = core.list_namespaced_config_map(namespace).metadata.resource_version
    seen: list[str] = []
    resume_from = start

    def writer() -> None:
        for index in range(60):
            core.create_namespaced_config_map(
                namespace, V1ConfigMap(metadata=V1ObjectMeta(name=f"w-{index}"))
            )

    thread = threading.Thread(target=writer)
    thread.start()
    # Watch in short sessions, each resuming where the last one stopped, as a
    # client does after every dropped connection.
    while thread.is_alive() or len(seen) < 60:
        events = watch_events(
            core.list_namespaced_config_map,
            namespace,
            resource_version=resume_from,
            timeout_seconds=1,
        )
        for event in events:
            seen.append(event["raw_object"]["metadata"]["name"])
            resume_from = event["raw_object"]["metadata"]["resourceVersion"]
        if not thread.is_alive() and not events:
            break
    thread.join()

    assert seen == [f"w-{index}" for index in range(60)]

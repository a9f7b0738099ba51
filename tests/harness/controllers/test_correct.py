"""The correct reference controller syncs, reconciles and leaves nothing behind."""

from __future__ import annotations

import threading
import time
from typing import Any

from kubernetes.client import ApiClient, CoreV1Api

from harness.controllers import correct
from harness.controllers.correct import RECONCILED_ANNOTATION, CorrectController

AGENT = "leakhunt-correct"


def annotated_pods(world: Any) -> int:
    """Pods of the test namespace that carry the correct controller's annotation."""
    with ApiClient(world.simulator.configuration()) as api_client:
        pods = CoreV1Api(api_client).list_namespaced_pod(world.namespace)
    return sum(
        1
        for pod in pods.items
        if ((pod.metadata.annotations if pod.metadata else None) or {}).get(
            RECONCILED_ANNOTATION
        )
        == "correct"
    )


def test_the_cache_holds_the_seeded_pods_of_its_namespace(world: Any) -> None:
    controller = correct.controller(world.context())
    controller.start()
    try:
        assert controller.wait_for_sync(10.0)
        informer = controller.informer
        assert informer is not None
        assert len(informer) == world.pods_in_namespace
        keys = informer.list_keys()
        assert all(key.startswith(f"{world.namespace}/") for key in keys)
    finally:
        controller.stop()


def test_it_reconciles_pods_by_annotating_them_within_its_write_budget(
    world: Any,
) -> None:
    controller = correct.controller(world.context())
    controller.start()
    try:
        assert controller.wait_for_sync(10.0)
        assert world.wait_for(lambda: controller.writes >= correct.WRITE_BURST)
    finally:
        controller.stop()

    assert annotated_pods(world) >= correct.WRITE_BURST
    # The burst, then at most WRITE_RATE a second: never one write per pod at once.
    assert controller.writes < world.pods_in_namespace


def test_a_stop_on_an_idle_watch_returns_at_once_and_leaves_nothing(
    world: Any,
) -> None:
    before = set(threading.enumerate())
    connections = world.connections()
    controller = correct.controller(world.context())
    controller.start()
    assert controller.wait_for_sync(10.0)
    assert world.wait_for(lambda: len(world.watches(AGENT)) == 1)

    # Let the watch go quiet: nothing changes in the namespace meanwhile.
    time.sleep(1.0)
    started = time.monotonic()
    controller.stop()
    took = time.monotonic() - started

    assert took < 0.5
    assert controller.informer is None
    assert set(threading.enumerate()) <= before
    assert world.wait_for(lambda: not world.watches(AGENT))
    world.settle()
    assert world.connections() <= connections


def test_a_stop_before_the_first_list_ends_opens_no_watch(world: Any) -> None:
    for _ in range(5):
        controller = correct.controller(world.context())
        controller.start()
        started = time.monotonic()
        controller.stop()

        assert time.monotonic() - started < 0.5
        assert not world.threads(f"{AGENT}-")
    world.settle()
    assert not world.watches(AGENT)


def test_a_stopped_controller_starts_again_and_syncs(world: Any) -> None:
    controller = CorrectController(world.context())

    for _ in range(2):
        controller.start()
        assert controller.wait_for_sync(10.0)
        controller.stop()

    assert not world.threads(f"{AGENT}-")
    assert world.wait_for(lambda: not world.watches(AGENT))


def test_cycles_of_create_sync_stop_leave_no_thread_watch_or_socket(
    world: Any,
) -> None:
    before = set(threading.enumerate())
    connections = world.connections()

    for cycle in range(3):
        controller = correct.controller(world.context(cycle))
        controller.start()
        assert controller.wait_for_sync(10.0)
        time.sleep(0.3)
        controller.stop()

    world.settle()
    assert set(threading.enumerate()) <= before
    assert not world.watches(AGENT)
    assert world.connections() <= connections
    assert world.requests(AGENT, "list") >= 3

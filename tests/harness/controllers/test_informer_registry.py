"""The informer-registry controller keeps every cache it ever filled."""

from __future__ import annotations

import gc
from typing import Any

import pytest
from kubernetes.client import V1Pod

from harness.controllers import informer_registry

pytestmark = pytest.mark.usefixtures("reaper")


def live_pods() -> int:
    """Pod models reachable in this process, after a full collection."""
    gc.collect()
    return sum(1 for obj in gc.get_objects() if isinstance(obj, V1Pod))


def test_every_cycle_keeps_one_more_cache_of_pods_alive(world: Any) -> None:
    baseline = live_pods()

    for cycle in range(3):
        controller = informer_registry.controller(world.context(cycle))
        controller.start()
        assert controller.wait_for_sync(10.0)
        controller.stop()
        del controller

        assert informer_registry.registered() == cycle + 1
        grown = live_pods() - baseline
        assert grown >= (cycle + 1) * world.pods_in_namespace

    # Stopped, the informers hold no thread and no watch: only their caches.
    world.settle()
    assert not world.threads("SharedInformer")
    assert not world.watches("leakhunt-informer-registry")

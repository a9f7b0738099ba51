"""The unscoped-watch controller watches every pod of the cluster."""

from __future__ import annotations

from typing import Any

import pytest

from harness.controllers import unscoped_watch

from_agent = "leakhunt-unscoped"

pytestmark = pytest.mark.usefixtures("reaper")


def test_its_watch_on_the_server_has_no_namespace_and_no_selector(
    world: Any,
) -> None:
    controller = unscoped_watch.controller(world.context())
    controller.start()
    try:
        assert controller.wait_for_sync(10.0)
        assert world.wait_for(lambda: len(world.watches(from_agent)) == 1)
        watch = world.watches(from_agent)[0]
        informer = controller.informer
        assert informer is not None
        cached = len(informer)
    finally:
        controller.stop()

    assert watch["path"].startswith("/api/v1/pods?")
    assert watch["namespace"] in (None, "")
    assert not watch["labelSelector"]
    # It caches every pod of the cluster to reconcile those of one namespace.
    assert cached > world.pods_in_namespace

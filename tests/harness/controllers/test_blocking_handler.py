"""The blocking-handler controller makes a request per watch event."""

from __future__ import annotations

from typing import Any

import pytest

from harness.controllers import blocking_handler

pytestmark = pytest.mark.usefixtures("reaper")

AGENT = "leakhunt-blocking"


def test_its_handler_reads_every_listed_pod_back_from_the_server(world: Any) -> None:
    gets = world.requests(AGENT, "get")
    controller = blocking_handler.controller(world.context())
    controller.start()
    try:
        assert controller.wait_for_sync(10.0)
        expected = gets + world.pods_in_namespace
        assert world.wait_for(lambda: world.requests(AGENT, "get") >= expected, 15.0)
    finally:
        controller.stop()


def test_it_still_syncs_and_stops_cleanly(world: Any) -> None:
    controller = blocking_handler.controller(world.context())
    controller.start()
    assert controller.wait_for_sync(10.0)
    controller.stop()

    assert not world.threads(AGENT)
    world.settle()
    assert not world.watches(AGENT)

"""The unclosed-watch controller leaves its watch open on the server."""

from __future__ import annotations

from typing import Any

import pytest

from harness.controllers import unclosed_watch

pytestmark = pytest.mark.usefixtures("reaper")

AGENT = "leakhunt-unclosed-watch"


def test_every_stop_leaves_a_watch_a_socket_and_a_thread(world: Any) -> None:
    connections = world.connections()

    for cycle in range(3):
        controller = unclosed_watch.controller(world.context(cycle))
        controller.start()
        assert controller.wait_for_sync(10.0)
        assert world.wait_for(lambda n=cycle + 1: len(world.watches(AGENT)) == n)
        controller.stop()

    world.settle()
    assert len(world.watches(AGENT)) == 3
    assert len(world.threads(AGENT)) == 3
    assert world.connections() >= connections + 3

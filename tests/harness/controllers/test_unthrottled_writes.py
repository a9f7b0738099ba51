"""The unthrottled-writes controller patches every pod on every event."""

from __future__ import annotations

from typing import Any

import pytest

from harness.controllers import unthrottled_writes

pytestmark = pytest.mark.usefixtures("reaper")

AGENT = "leakhunt-unthrottled"


def test_every_cycle_writes_at_least_once_per_pod(world: Any) -> None:
    for cycle in range(2):
        patches = world.requests(AGENT, "patch")
        controller = unthrottled_writes.controller(world.context(cycle))
        controller.start()
        try:
            assert controller.wait_for_sync(10.0)
            expected = patches + world.pods_in_namespace
            assert world.wait_for(
                lambda n=expected: world.requests(AGENT, "patch") >= n
            )
        finally:
            controller.stop()

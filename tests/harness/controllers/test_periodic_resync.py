"""The periodic-resync controller lists every pod several times a second."""

from __future__ import annotations

import time
from typing import Any

from harness.controllers import periodic_resync

AGENT = "leakhunt-periodic-resync"


def test_one_second_of_running_costs_several_full_lists(world: Any) -> None:
    lists = world.requests(AGENT, "list")
    controller = periodic_resync.controller(world.context())
    controller.start()
    assert controller.wait_for_sync(10.0)
    time.sleep(1.0)
    controller.stop()

    # A watching controller lists once per start.
    assert world.requests(AGENT, "list") - lists >= 5
    assert not world.watches(AGENT)
    assert not world.threads(AGENT)

"""The ApiClient-per-cycle controller keeps one more open connection per cycle."""

from __future__ import annotations

from typing import Any

import pytest

from harness.controllers import apiclient_per_cycle

pytestmark = pytest.mark.usefixtures("reaper")


def test_every_cycle_caches_a_client_and_leaves_its_connection_open(
    world: Any,
) -> None:
    connections = world.connections()

    for cycle in range(3):
        controller = apiclient_per_cycle.controller(world.context(cycle))
        controller.start()
        assert controller.wait_for_sync(10.0)
        assert world.wait_for(lambda c=controller: c.reconciled > 0)
        controller.stop()

    assert apiclient_per_cycle.cached_clients() == 3
    world.settle()
    assert world.connections() >= connections + 3
    # Threads and watches are not what leaks here.
    assert not world.threads("leakhunt-apiclient-per-cycle")
    assert not world.watches("leakhunt-apiclient-per-cycle")

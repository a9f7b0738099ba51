"""The informer-per-reconcile controller leaves an informer running per reconcile."""

from __future__ import annotations

from typing import Any

import pytest

from harness.controllers import informer_per_reconcile

pytestmark = pytest.mark.usefixtures("reaper")

AGENT = "leakhunt-per-reconcile"


def test_every_cycle_leaves_running_informers_and_their_watches(world: Any) -> None:
    for cycle in range(3):
        controller = informer_per_reconcile.controller(world.context(cycle))
        controller.start()
        assert controller.wait_for_sync(10.0)
        assert world.wait_for(lambda c=controller: c.reconciled > 0)
        assert controller.pods_seen == world.pods_in_namespace
        controller.stop()

    world.settle()
    leaked = world.threads("leakhunt-reconcile-informer-")
    assert len(leaked) >= 3
    assert len(world.watches(AGENT)) >= 3
    # The controller's own informer and worker did stop.
    assert not world.threads(f"{AGENT}-")

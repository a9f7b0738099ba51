"""The unjoined-worker controller leaks one worker thread per cycle."""

from __future__ import annotations

from typing import Any

import pytest

from harness.controllers import unjoined_worker

pytestmark = pytest.mark.usefixtures("reaper")


def test_every_cycle_leaves_one_more_worker_thread_running(world: Any) -> None:
    for cycle in range(3):
        controller = unjoined_worker.controller(world.context(cycle))
        controller.start()
        assert controller.wait_for_sync(10.0)
        controller.stop()

        workers = world.threads("leakhunt-unjoined-worker")
        assert len(workers) == cycle + 1

    # The rest of the controller stopped cleanly: only the workers are left.
    assert not world.threads("leakhunt-unjoined-informer")
    world.settle()
    assert not world.watches("leakhunt-unjoined")

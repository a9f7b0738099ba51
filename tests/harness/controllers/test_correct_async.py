"""The asyncio reference controller syncs, reconciles and returns cleanly on stop."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from harness.controllers import correct_async

AGENT = "leakhunt-correct-async"


async def one_cycle(world: Any, cycle: int, run_for: float) -> dict[str, Any]:
    """Run the controller for ``run_for`` seconds after its watch opens; stop it."""
    ctx = world.loop_context(cycle)
    task = asyncio.create_task(correct_async.controller(ctx))
    watching = await asyncio.to_thread(
        world.wait_for, lambda: len(world.watches(AGENT)) == 1, 10.0
    )
    patches = await asyncio.to_thread(world.requests, AGENT, "patch")
    await asyncio.sleep(run_for)

    ctx.stop.set()
    started = time.monotonic()
    await asyncio.wait_for(task, 5.0)
    took = time.monotonic() - started

    current = asyncio.current_task()
    pending = [t.get_name() for t in asyncio.all_tasks() if t is not current]
    return {"watching": watching, "stop": took, "pending": pending, "patches": patches}


def test_cycles_sync_write_and_stop_with_no_task_thread_or_watch_left(
    world: Any,
) -> None:
    before = set(threading.enumerate())

    async def cycles() -> list[dict[str, Any]]:
        return [await one_cycle(world, cycle, 0.5) for cycle in range(3)]

    results = asyncio.run(cycles())

    assert all(result["watching"] for result in results)
    assert all(result["stop"] < 0.5 for result in results)
    assert all(result["pending"] == [] for result in results)
    assert results[-1]["patches"] > 0
    assert set(threading.enumerate()) <= before
    world.settle()
    assert not world.watches(AGENT)


def test_a_stop_before_the_first_list_returns_at_once(world: Any) -> None:
    async def early() -> tuple[float, list[str]]:
        ctx = world.loop_context()
        task = asyncio.create_task(correct_async.controller(ctx))
        await asyncio.sleep(0)
        ctx.stop.set()
        started = time.monotonic()
        await asyncio.wait_for(task, 5.0)
        current = asyncio.current_task()
        pending = [t.get_name() for t in asyncio.all_tasks() if t is not current]
        return time.monotonic() - started, pending

    took, pending = asyncio.run(early())

    assert took < 0.5
    assert pending == []
    world.settle()
    assert not world.watches(AGENT)

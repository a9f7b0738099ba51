"""An asyncio controller that leaves a task pending on the loop at every stop.

It starts a "resync" task per run and forgets it: the task sleeps for an hour,
so when the controller returns the task is still pending on the shared loop.
leakhunt must report a ``task-leak`` naming the task and where it waits.
"""

from __future__ import annotations

import asyncio
from typing import Any

_TASKS: set[asyncio.Task[None]] = set()
"""Where the forgotten tasks are kept, as a real controller's registry would."""


async def _resync_forever() -> None:
    await asyncio.sleep(3600)


async def controller(ctx: Any) -> None:
    """Start a resync task, wait for the stop, return without cancelling it."""
    task = asyncio.create_task(_resync_forever(), name=f"resync-{ctx.cycle}")
    _TASKS.add(task)
    await ctx.stop.wait()

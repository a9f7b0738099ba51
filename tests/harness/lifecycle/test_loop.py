"""The shared event loop, and how it shows the tasks left pending on it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from harness.lifecycle.loop import EventLoopHost


@pytest.fixture
def host() -> Iterator[EventLoopHost]:
    loop_host = EventLoopHost(name="test-loop")
    yield loop_host
    loop_host.close()


async def _innermost_wait() -> None:
    await asyncio.sleep(3600)


async def _reconnect_later() -> None:
    await _innermost_wait()


def test_a_task_left_pending_is_listed_with_where_it_waits(
    host: EventLoopHost,
) -> None:
    async def leave_a_task() -> None:
        asyncio.get_running_loop().create_task(_reconnect_later(), name="reconnect")

    host.submit(leave_a_task()).result(5)

    pending = host.pending_tasks(5)

    assert [t["name"] for t in pending] == ["reconnect"]
    assert pending[0]["coro"] == "_reconnect_later"
    stack = pending[0]["stack"]
    assert stack.index("_reconnect_later") < stack.index("_innermost_wait")
    assert "asyncio.sleep(3600)" in stack


def test_a_task_that_is_finishing_is_not_reported(host: EventLoopHost) -> None:
    async def cancel_on_the_way_out() -> None:
        task = asyncio.get_running_loop().create_task(_reconnect_later())
        await asyncio.sleep(0)
        task.cancel()

    host.submit(cancel_on_the_way_out()).result(5)

    assert host.pending_tasks(5) == []


def test_tasks_stay_on_the_loop_from_one_call_to_the_next(host: EventLoopHost) -> None:
    async def leave_a_task(n: int) -> None:
        asyncio.get_running_loop().create_task(_reconnect_later(), name=f"leak-{n}")

    for n in range(3):
        host.submit(leave_a_task(n)).result(5)

    assert [t["name"] for t in host.pending_tasks(5)] == ["leak-0", "leak-1", "leak-2"]


def test_closing_cancels_what_is_left_and_ends_the_loop_thread() -> None:
    host = EventLoopHost(name="closing")

    async def leave_a_task() -> asyncio.Task[None]:
        return asyncio.get_running_loop().create_task(_reconnect_later())

    task = host.submit(leave_a_task()).result(5)
    host.close()

    assert task.cancelled()
    assert host.loop.is_closed()
    assert host.thread_name not in {t.name for t in threading.enumerate()}

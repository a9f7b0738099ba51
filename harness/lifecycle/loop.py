"""The one event loop async controllers share across cycles, and its pending tasks."""

from __future__ import annotations

import asyncio
import concurrent.futures
import linecache
import logging
import threading
import types
from collections.abc import Callable, Coroutine
from typing import Any, TypedDict, TypeVar

from harness.lifecycle.threads import HELPER_THREAD_PREFIX

logger = logging.getLogger(__name__)

MAX_AWAIT_DEPTH = 40
"""Frames followed down an await chain when showing where a task waits."""

SETTLE_PASSES = 5
"""Loop iterations given to tasks that are finishing before pending ones count."""

CLOSE_TIMEOUT = 5.0
"""Seconds :meth:`EventLoopHost.close` waits for cancelled tasks and the thread."""

T = TypeVar("T")


class TaskRecord(TypedDict):
    """TaskRecord is one asyncio task still pending after a stop, ready for JSON."""

    name: str
    coro: str
    stack: str


class EventLoopHost:
    """EventLoopHost runs one asyncio loop in a daemon thread until closed.

    Async controllers run on it cycle after cycle, as they would in
    production, so a task a controller leaves behind stays pending and is
    seen instead of being cancelled by a fresh loop.
    """

    def __init__(self, name: str = "asyncio") -> None:
        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(_log_loop_exception)
        self._thread = threading.Thread(
            target=self._run, name=f"{HELPER_THREAD_PREFIX}{name}", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    @property
    def thread_name(self) -> str:
        """The name of the thread the loop runs in."""
        return self._thread.name

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coro`` on the loop; the future completes with its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call(self, function: Callable[[], T], timeout: float) -> T:
        """Call ``function`` in the loop's thread and return its result.

        Raises :class:`TimeoutError` if the loop does not get to it within
        ``timeout`` seconds (something is blocking the loop).
        """

        async def invoke() -> T:
            return function()

        return self.submit(invoke()).result(timeout)

    def is_responsive(self, timeout: float) -> bool:
        """Tell whether the loop runs a trivial callback within ``timeout`` s."""
        try:
            self.call(lambda: None, timeout)
        except TimeoutError:
            return False
        return True

    def pending_tasks(self, timeout: float) -> list[TaskRecord]:
        """List the tasks on the loop that are not done, after letting them settle.

        The harness's own task asking is left out. Raises :class:`TimeoutError`
        if the loop is blocked.
        """
        return self.submit(_collect_pending()).result(timeout)

    def close(self) -> None:
        """Cancel what is left on the loop, stop it and join its thread.

        A loop that a controller blocks is abandoned after
        :data:`CLOSE_TIMEOUT` seconds rather than waited for.
        """
        if self.loop.is_closed():
            return

        try:
            self.submit(_cancel_all()).result(CLOSE_TIMEOUT)
        except (TimeoutError, RuntimeError):
            logger.warning(
                "The controllers' event loop did not cancel its tasks within %.1f s.",
                CLOSE_TIMEOUT,
            )

        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(CLOSE_TIMEOUT)
        if self._thread.is_alive():
            logger.warning(
                "The controllers' event loop in thread %s is blocked; leaving it.",
                self._thread.name,
            )
            return
        self.loop.close()


async def _collect_pending() -> list[TaskRecord]:
    # First, let tasks that are already finishing (cancelled, or woken by the
    # stop) run to their end, so only those truly left behind are reported.
    for _ in range(SETTLE_PASSES):
        await asyncio.sleep(0)

    me = asyncio.current_task()
    pending = [t for t in asyncio.all_tasks() if t is not me and not t.done()]
    pending.sort(key=lambda t: t.get_name())
    return [describe_task(t) for t in pending]


async def _cancel_all() -> None:
    me = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not me and not t.done()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def describe_task(task: asyncio.Task[Any]) -> TaskRecord:
    """Describe ``task``: its name, its coroutine's qualname, where it waits."""
    coro = task.get_coro()
    qualname = getattr(coro, "__qualname__", None) or type(coro).__qualname__
    return TaskRecord(name=task.get_name(), coro=qualname, stack=await_stack(coro))


def await_stack(awaitable: object) -> str:
    """Format where ``awaitable`` is suspended, outermost frame first.

    ``Task.get_stack()`` shows only the task's own coroutine frame; this
    follows the chain of awaits (coroutines, generators, async generators)
    down to the innermost one, which is where the task is actually stuck.
    """
    lines: list[str] = []
    current: object = awaitable
    for _ in range(MAX_AWAIT_DEPTH):
        frame, inner = _frame_and_inner(current)
        if frame is not None:
            lines.append(_format_frame(frame))
        if inner is None:
            break
        current = inner

    if not lines:
        return f"(no Python frame: {type(awaitable).__qualname__})\n"
    return "".join(lines)


def _frame_and_inner(obj: object) -> tuple[types.FrameType | None, object | None]:
    if isinstance(obj, types.CoroutineType):
        return obj.cr_frame, obj.cr_await
    if isinstance(obj, types.GeneratorType):
        return obj.gi_frame, obj.gi_yieldfrom
    if isinstance(obj, types.AsyncGeneratorType):
        return obj.ag_frame, obj.ag_await
    # NB: a future being awaited (asyncio.sleep, an Event.wait) ends the
    # chain; a task awaited by another task is followed into its coroutine.
    if isinstance(obj, asyncio.Task):
        return None, obj.get_coro()
    return None, None


def _format_frame(frame: types.FrameType) -> str:
    code = frame.f_code
    line = linecache.getline(code.co_filename, frame.f_lineno).strip()
    text = f'  File "{code.co_filename}", line {frame.f_lineno}, in {code.co_name}\n'
    return text + (f"    {line}\n" if line else "")


def _log_loop_exception(
    loop: asyncio.AbstractEventLoop, context: dict[str, Any]
) -> None:
    message = context.get("message", "unhandled error")
    exception = context.get("exception")
    task = context.get("task") or context.get("future")
    logger.warning(
        "The controllers' event loop reported: %s (%s)%s",
        message,
        task,
        f": {type(exception).__name__}: {exception}" if exception else "",
    )

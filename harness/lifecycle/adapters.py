"""Adapters that give the three controller shapes one start / stop interface."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
import traceback
from abc import ABC, abstractmethod
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

from harness.errors import ConfigurationError
from harness.lifecycle.context import Context, StopEvent
from harness.lifecycle.loop import EventLoopHost, TaskRecord
from harness.lifecycle.target import Shape, Target, check_started_object
from harness.lifecycle.threads import ThreadRecord, call_with_deadline, dump_threads

logger = logging.getLogger(__name__)

DEFAULT_STOP_TIMEOUT = 5.0
"""Seconds a controller has to stop before its threads are dumped."""

LOOP_CALL_TIMEOUT = 2.0
"""Seconds to wait for the shared event loop to run a harness callback."""


@dataclass
class StopOutcome:
    """StopOutcome is what happened when a controller was asked to stop.

    ``timed_out`` means it was still stopping at the deadline; then
    ``thread_dump`` holds every live thread and the stop goes on in its own
    daemon thread. ``pending_tasks`` lists asyncio tasks still pending on the
    shared loop after the stop (async controllers only). ``error`` is the
    traceback text of an exception from the stop or from the controller.
    """

    seconds: float
    timed_out: bool = False
    error: str | None = None
    thread_dump: list[ThreadRecord] = field(default_factory=list)
    pending_tasks: list[TaskRecord] = field(default_factory=list)


class StartFailed(Exception):
    """StartFailed is a controller that raised while being created or started.

    ``detail`` is the traceback text.
    """

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Adapter(ABC):
    """Adapter drives one controller of any shape through start and stop.

    One adapter serves one cycle. It may be started again after a stop (the
    ``restart`` scenario): a factory's object is started again, a generator
    or async function is called again with the same context.
    """

    def __init__(self, target: Target) -> None:
        self.target = target
        self._ctx: Context | None = None

    def new_stop_event(self) -> StopEvent:
        """Make the stop event a context for this controller carries."""
        return threading.Event()

    @property
    def handle(self) -> object | None:
        """The started object, probed for ``wait_for_sync()`` / ``has_synced()``."""
        return None

    def ended(self) -> bool:
        """Tell whether the controller has already returned on its own."""
        return False

    def start(self, ctx: Context) -> None:
        """Create the controller if needed and start it with ``ctx``.

        The creation and start run in the calling thread, as a controller's
        main would run them: threads it starts inherit that thread's daemon
        flag, and it may install signal handlers from the main thread. Raises
        :class:`StartFailed` if the controller raises,
        :class:`ConfigurationError` if it has the wrong shape.
        """
        self._ctx = ctx
        self._clear_stop(ctx.stop)
        try:
            self._start(ctx)
        except ConfigurationError:
            raise
        except Exception:
            raise StartFailed(traceback.format_exc()) from None

    def stop(self, deadline: float = DEFAULT_STOP_TIMEOUT) -> StopOutcome:
        """Set ``ctx.stop``, stop the controller and wait at most ``deadline`` s."""
        ctx = self._ctx
        if ctx is None:
            return StopOutcome(seconds=0.0)
        self._ctx = None
        return self._stop(ctx, deadline)

    def abandon(self) -> None:
        """Set ``ctx.stop`` without waiting and let go of the controller.

        For a controller that failed to start: there is nothing to stop, but
        whatever it started may be watching the event.
        """
        ctx, self._ctx = self._ctx, None
        if ctx is not None:
            self._signal(ctx.stop)
        self._release()

    def _clear_stop(self, stop: StopEvent) -> None:
        stop.clear()

    def _signal(self, stop: StopEvent) -> None:
        stop.set()

    def _release(self) -> None:
        """Drop the adapter's references to the controller."""
        self._ctx = None

    @abstractmethod
    def _start(self, ctx: Context) -> None: ...

    @abstractmethod
    def _stop(self, ctx: Context, deadline: float) -> StopOutcome: ...


class FactoryAdapter(Adapter):
    """FactoryAdapter drives ``factory(ctx)`` and the object's start() and stop()."""

    def __init__(self, target: Target) -> None:
        super().__init__(target)
        self._obj: Any = None

    @property
    def handle(self) -> object | None:
        """The object the factory returned."""
        obj: object | None = self._obj
        return obj

    def _start(self, ctx: Context) -> None:
        if self._obj is None:
            obj = self.target.function(ctx)
            check_started_object(obj, self.target)
            self._obj = obj
        self._obj.start()

    def _stop(self, ctx: Context, deadline: float) -> StopOutcome:
        self._signal(ctx.stop)
        obj = self._obj
        if obj is None:
            return StopOutcome(seconds=0.0)
        result = call_with_deadline(
            obj.stop, deadline, name=f"stop-{self.target.name}-cycle-{ctx.cycle}"
        )
        del obj
        return StopOutcome(
            seconds=result.seconds,
            timed_out=result.timed_out,
            error=result.error,
            thread_dump=result.thread_dump or [],
        )

    def _release(self) -> None:
        self._obj = None


class GeneratorAdapter(Adapter):
    """GeneratorAdapter drives a generator function that yields once."""

    def __init__(self, target: Target) -> None:
        super().__init__(target)
        self._generator: Generator[Any, None, None] | None = None
        self._value: Any = None

    @property
    def handle(self) -> object | None:
        """The value the generator yielded."""
        value: object | None = self._value
        return value

    def _start(self, ctx: Context) -> None:
        generator = self.target.function(ctx)
        try:
            value = next(generator)
        except StopIteration:
            raise ConfigurationError(
                f"expected {self.target.spec} to yield once (before the yield"
                " is start, after it is stop), but it returned without yielding"
            ) from None
        self._generator = generator
        self._value = value

    def _release(self) -> None:
        self._generator = None
        self._value = None

    def _stop(self, ctx: Context, deadline: float) -> StopOutcome:
        self._signal(ctx.stop)
        generator, self._generator, self._value = self._generator, None, None
        if generator is None:
            return StopOutcome(seconds=0.0)
        spec = self.target.spec

        def finish() -> None:
            try:
                next(generator)
            except StopIteration:
                return
            generator.close()
            raise RuntimeError(
                f"{spec} yielded a second time; a controller generator yields once"
            )

        result = call_with_deadline(
            finish, deadline, name=f"stop-{self.target.name}-cycle-{ctx.cycle}"
        )
        return StopOutcome(
            seconds=result.seconds,
            timed_out=result.timed_out,
            error=result.error,
            thread_dump=result.thread_dump or [],
        )


class AsyncAdapter(Adapter):
    """AsyncAdapter runs ``async def run(ctx)`` on the shared event loop."""

    def __init__(self, target: Target, host: EventLoopHost) -> None:
        super().__init__(target)
        self._host = host
        self._future: concurrent.futures.Future[None] | None = None

    def new_stop_event(self) -> StopEvent:
        """Make an :class:`asyncio.Event` on the controllers' loop."""
        return self._host.call(asyncio.Event, LOOP_CALL_TIMEOUT)

    def _clear_stop(self, stop: StopEvent) -> None:
        self._host.call(stop.clear, LOOP_CALL_TIMEOUT)

    def _signal(self, stop: StopEvent) -> None:
        # NB: an asyncio.Event is not thread-safe; it is set from its loop.
        self._host.loop.call_soon_threadsafe(stop.set)

    def _release(self) -> None:
        self._future = None

    def ended(self) -> bool:
        """Tell whether ``run(ctx)`` has returned or raised."""
        return self._future is not None and self._future.done()

    def _start(self, ctx: Context) -> None:
        task_name = f"{self.target.name}-cycle-{ctx.cycle}"

        async def run() -> None:
            task = asyncio.current_task()
            if task is not None:
                task.set_name(task_name)
            await self.target.function(ctx)

        self._future = self._host.submit(run())

    def _stop(self, ctx: Context, deadline: float) -> StopOutcome:
        future, self._future = self._future, None
        if future is None:
            return StopOutcome(seconds=0.0)
        stop = ctx.stop
        assert isinstance(stop, asyncio.Event)

        # First, a controller that ended on its own before being asked to is
        # an error worth showing: its watches and tasks stopped mid-cycle.
        error: str | None = None
        if future.done():
            error = _future_error(future) or (
                f"{self.target.spec} returned before ctx.stop was set"
            )

        # Then set the stop event from the loop's own thread and wait.
        started = time.monotonic()
        self._signal(stop)
        try:
            future.result(deadline)
        except concurrent.futures.TimeoutError:
            seconds = time.monotonic() - started
            logger.warning(
                "%s did not return within %.1f s of ctx.stop being set in cycle %d;"
                " dumping threads and tasks.",
                self.target.spec,
                deadline,
                ctx.cycle,
            )
            return StopOutcome(
                seconds=seconds,
                timed_out=True,
                error=error,
                thread_dump=dump_threads(),
                pending_tasks=self._pending(),
            )
        except (Exception, asyncio.CancelledError):
            error = error or traceback.format_exc()
        seconds = time.monotonic() - started
        del future

        # Finally, whatever the controller left on the loop is a leaked task.
        return StopOutcome(seconds=seconds, error=error, pending_tasks=self._pending())

    def _pending(self) -> list[TaskRecord]:
        try:
            return self._host.pending_tasks(LOOP_CALL_TIMEOUT)
        except TimeoutError:
            logger.warning(
                "The controllers' event loop is blocked; cannot list its tasks."
            )
            return []


def _future_error(future: concurrent.futures.Future[None]) -> str | None:
    if future.cancelled():
        return "the controller's task was cancelled before ctx.stop was set"
    exc = future.exception()
    if exc is None:
        return None
    return "".join(traceback.format_exception(exc))


def make_adapter(target: Target, host: EventLoopHost | None) -> Adapter:
    """Make the adapter for ``target``'s shape; async ones need ``host``."""
    if target.shape is Shape.GENERATOR:
        return GeneratorAdapter(target)
    if target.shape is Shape.ASYNC:
        if host is None:
            raise ValueError(f"{target.spec} is async and needs an event loop host")
        return AsyncAdapter(target, host)
    return FactoryAdapter(target)

"""Small controllers of every shape, good and bad, that the lifecycle tests load.

They are loaded by path (``tests/harness/lifecycle/sample_controllers.py:NAME``)
as a user's own controller would be, in this process and in the signal
scenario's child. None of them needs an API server. ``WATCH_ADDRESS`` is the
address of the tests' fake server, for the controllers that hold a watch.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import time
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Any

import kubernetes.client
from kubernetes.informer import SharedInformer

from harness.lifecycle.context import Context

SEEN: list[weakref.ref[Any]] = []
"""Weak references to what the controllers were given and made, for GC tests."""

RELEASE = threading.Event()
"""Set by the tests to let hung controllers finish, so no thread outlives them."""

NOT_CALLABLE = 42

CALLS: list[tuple[str, int]] = []
"""What ``RecordsCalls`` objects were asked, in order: (method, id of the object)."""


def _remember(*objects: object) -> None:
    SEEN.extend(weakref.ref(o) for o in objects)


class ThreadController:
    """A correct controller: one worker thread, stopped and joined."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.starts = 0
        self.stops = 0
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None
        _remember(self, ctx, ctx.stop)

    def start(self) -> None:
        self.starts += 1
        self._halt.clear()
        self._thread = threading.Thread(
            target=self._halt.wait, name=f"worker-cycle-{self.ctx.cycle}"
        )
        self._thread.start()

    def stop(self) -> None:
        self.stops += 1
        self._halt.set()
        if self._thread is not None:
            self._thread.join()
        self._thread = None


def make_thread_controller(ctx: Context) -> ThreadController:
    return ThreadController(ctx)


class RecordsCalls(ThreadController):
    """A correct controller that records every start() and stop() in CALLS."""

    def start(self) -> None:
        CALLS.append(("start", id(self)))
        super().start()

    def stop(self) -> None:
        CALLS.append(("stop", id(self)))
        super().stop()


class HangsInStart:
    """A controller whose start() never returns (until the tests release it)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def start(self) -> None:
        RELEASE.wait(60)

    def stop(self) -> None:
        pass


class HangingStop(ThreadController):
    """A controller whose stop() waits for an event nobody sets."""

    def stop(self) -> None:
        self.wait_forever_for_release()
        super().stop()

    def wait_forever_for_release(self) -> None:
        RELEASE.wait(30)


class SyncsSlowly(ThreadController):
    """A controller that reports its sync through has_synced() after a while."""

    def start(self) -> None:
        self._started_at = time.monotonic()
        super().start()

    def has_synced(self) -> bool:
        return time.monotonic() - self._started_at > 0.2


class NeverSyncs(ThreadController):
    """A controller whose wait_for_sync() always gives up."""

    def wait_for_sync(self, timeout: float) -> bool:
        time.sleep(min(timeout, 0.1))
        return False


class RaisesOnStart(ThreadController):
    def start(self) -> None:
        raise RuntimeError("cannot reach the API server")


class MissingStop:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def start(self) -> None:
        pass


def returns_object_without_stop(ctx: Context) -> object:
    return MissingStop(ctx)


def generator_controller(ctx: Context) -> Iterator[ThreadController]:
    controller = ThreadController(ctx)
    controller.start()
    yield controller
    controller.stop()


def never_yields(ctx: Context) -> Iterator[None]:
    if ctx.cycle >= 0:
        return
    yield


def yields_twice(ctx: Context) -> Iterator[int]:
    yield 1
    yield 2


async def async_controller(ctx: Context) -> None:
    assert isinstance(ctx.stop, asyncio.Event)
    holder = ThreadController.__new__(ThreadController)
    _remember(holder, ctx, ctx.stop)
    await ctx.stop.wait()


async def _sleep_in_a_helper() -> None:
    await asyncio.sleep(3600)


async def _forgotten_poller() -> None:
    await _sleep_in_a_helper()


async def async_leaves_task(ctx: Context) -> None:
    assert isinstance(ctx.stop, asyncio.Event)
    asyncio.get_running_loop().create_task(_forgotten_poller(), name="poller")
    await ctx.stop.wait()


async def async_ignores_stop(ctx: Context) -> None:
    await asyncio.sleep(0.5 if RELEASE.is_set() else 30)


async def async_returns_early(ctx: Context) -> None:
    return None


async def async_generator_controller(ctx: Context) -> AsyncIterator[None]:
    yield


class NonDaemonThread:
    """A controller whose stop() forgets its non-daemon thread (a process hangs)."""

    def __init__(self, ctx: Context) -> None:
        self._halt = threading.Event()
        self._thread = threading.Thread(
            target=self._halt.wait, args=(20,), name="forgotten-poller"
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        pass


class Watcher(ThreadController):
    """A controller holding one connection to the fake server, like a watch.

    When the server closes the connection it connects again, as an informer
    watches again after a 410 or a dropped connection; ``rewatch=False``
    makes it give up instead, as a controller with that bug would.
    """

    rewatch = True

    def start(self) -> None:
        self.starts += 1
        self._halt.clear()
        self._socket: socket.socket | None = None
        self._thread = threading.Thread(target=self._watch, name="watcher")
        self._thread.start()

    def _watch(self) -> None:
        host, port = os.environ["LEAKHUNT_TEST_WATCH_ADDRESS"].split(":")
        while not self._halt.is_set():
            with socket.create_connection((host, int(port))) as connection:
                self._socket = connection
                # NB: stop() sets the halt flag before it reads the socket, and
                # this thread sets the socket before it reads the flag: one of
                # the two always sees the other.
                if self._halt.is_set():
                    return
                while connection.recv(1024):
                    pass
            if not self.rewatch:
                return

    def stop(self) -> None:
        self.stops += 1
        self._halt.set()
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join()


class GivesUpWatching(Watcher):
    rewatch = False


class SharedInformerController:
    """The official client's own informer, scoped to the seeded pods."""

    def __init__(self, ctx: Context) -> None:
        self.api = kubernetes.client.ApiClient(ctx.configuration)
        pods = kubernetes.client.CoreV1Api(self.api)
        self.informer = SharedInformer(
            pods.list_namespaced_pod,
            namespace=ctx.namespace,
            label_selector=ctx.label_selector,
        )
        _remember(self, ctx, ctx.stop)

    def start(self) -> None:
        self.informer.start()

    def stop(self) -> None:
        self.informer.stop()
        self.api.close()


def shared_informer_controller(ctx: Context) -> SharedInformerController:
    return SharedInformerController(ctx)

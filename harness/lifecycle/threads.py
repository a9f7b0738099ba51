"""Calls bounded by a deadline, and the dump of live threads when one is missed."""

from __future__ import annotations

import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypedDict, TypeVar

logger = logging.getLogger(__name__)

MAX_STACK_FRAMES = 40
"""Innermost frames kept per thread in a dump; the outer ones are bootstrapping."""

HELPER_THREAD_PREFIX = "leakhunt-"
"""Names of the threads the harness itself starts begin with this."""

T = TypeVar("T")


class ThreadRecord(TypedDict):
    """ThreadRecord is one live thread in a dump, ready for JSON."""

    name: str
    ident: int
    daemon: bool
    stack: str


def dump_threads(*, exclude_current: bool = True) -> list[ThreadRecord]:
    """Dump every live thread: its name, ident, daemon flag and stack.

    The calling thread is left out unless ``exclude_current`` is false: its
    stack is only the harness asking for the dump.
    """
    frames = sys._current_frames()
    current = threading.get_ident()
    records: list[ThreadRecord] = []
    for thread in threading.enumerate():
        ident = thread.ident
        if ident is None or (exclude_current and ident == current):
            continue

        frame = frames.get(ident)
        stack = (
            "".join(traceback.format_stack(frame, limit=MAX_STACK_FRAMES))
            if frame is not None
            else "(no Python frame: the thread is starting or exiting)\n"
        )
        records.append(
            ThreadRecord(
                name=thread.name, ident=ident, daemon=thread.daemon, stack=stack
            )
        )

    # NB: the frames dict holds every thread's frame, and so every local of
    # every thread; it must not outlive the dump.
    del frames
    return records


@dataclass
class Bounded(Generic[T]):
    """Bounded is the outcome of a call made under a deadline.

    ``value`` is what the call returned (``None`` if it raised or is still
    running), ``error`` the traceback text if it raised, ``timed_out`` whether
    it was still running at the deadline, and ``thread_dump`` the dump taken
    then.
    """

    seconds: float
    timed_out: bool = False
    value: T | None = None
    error: str | None = None
    thread_dump: list[ThreadRecord] | None = None


class _Outcome(Generic[T]):
    """Where the helper thread leaves its result; plain slots, no traceback."""

    __slots__ = ("error", "value")

    def __init__(self) -> None:
        self.value: T | None = None
        self.error: str | None = None


def call_with_deadline(
    call: Callable[[], T],
    timeout: float,
    *,
    name: str,
) -> Bounded[T]:
    """Run ``call`` in a daemon thread named ``name`` and wait ``timeout`` s.

    On a missed deadline every live thread is dumped and the call is left
    running in its thread: the caller decides whether to go on or end, and
    never hangs. An exception from ``call`` comes back as traceback text, so
    no frame of the controller is kept alive by the harness.
    """
    outcome: _Outcome[T] = _Outcome()

    def run() -> None:
        try:
            outcome.value = call()
        except BaseException:
            outcome.error = traceback.format_exc()

    thread = threading.Thread(
        target=run, name=f"{HELPER_THREAD_PREFIX}{name}", daemon=True
    )
    started = time.monotonic()
    thread.start()
    thread.join(timeout)
    seconds = time.monotonic() - started

    if thread.is_alive():
        logger.warning(
            "%s did not return within %.1f s; dumping every live thread and"
            " leaving it running in thread %s.",
            name,
            timeout,
            thread.name,
        )
        return Bounded(seconds=seconds, timed_out=True, thread_dump=dump_threads())

    return Bounded(seconds=seconds, value=outcome.value, error=outcome.error)

"""Where watch threads spend a cycle: reading the watch, or stuck in handlers.

A watch is read by one thread that also runs the controller's event handlers,
so while a handler works nothing reads the watch. :class:`HandlerSampler`
samples every thread's Python stack many times a second while a cycle runs.
A thread inside a watch loop (a frame whose function or file names a watch)
is either *reading* (a stream read from the API server is on its stack) or
*handling* (the read has returned and the event is being processed). The
share of handling samples is ``watch_handling_share``; a handler that blocks,
on a sleep or a request to the API server, pushes it towards 1.

Only threads are sampled: a blocking call on an asyncio loop shows as a
blocked loop instead (see :mod:`harness.lifecycle.loop`).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections import Counter
from pathlib import Path
from types import FrameType

logger = logging.getLogger(__name__)

SAMPLE_INTERVAL = 0.005
"""Seconds between two stack samples; 200 a second costs well under 1% CPU."""

MAX_HOT_FRAMES = 5
"""Handler frames listed as evidence, most frequent first."""

_NETWORK_MODULES = ("urllib3/", "http/client.py", "/ssl.py", "/socket.py")
"""Files whose frames mean the thread waits on the API server (the watch's read,
or the request that opens it)."""

MIN_WATCH_SAMPLES = 40
"""Watch-thread samples a cycle needs (0.2 s of watching) before its share
counts; a cycle that barely watched says nothing about its handlers."""

_OWN_FILES = (str(Path(__file__).resolve().parents[1]) + os.sep, threading.__file__)
"""leakhunt's package and thread bootstrap: never the handler's own code."""


def _reading(frame: FrameType | None) -> bool:
    while frame is not None:
        filename = frame.f_code.co_filename
        if any(module in filename for module in _NETWORK_MODULES):
            return True
        frame = frame.f_back
    return False


def _in_watch_loop(frame: FrameType | None) -> bool:
    while frame is not None:
        code = frame.f_code
        if "watch" in code.co_name.lower() or "/watch/" in code.co_filename:
            return True
        frame = frame.f_back
    return False


def _handler_frame(frame: FrameType | None) -> str | None:
    """The innermost frame outside the standard library and client internals."""
    while frame is not None:
        filename = frame.f_code.co_filename
        library = "site-packages" in filename or "/lib/python" in filename
        if not library and not filename.startswith(_OWN_FILES):
            return f"{filename}:{frame.f_lineno} in {frame.f_code.co_name}"
        frame = frame.f_back
    return None


class HandlerSampler:
    """Samples thread stacks while a cycle runs; restartable, one cycle at a time."""

    def __init__(self, interval: float = SAMPLE_INTERVAL) -> None:
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._reading = 0
        self._handling = 0
        self._hot: Counter[str] = Counter()
        self._caller = 0

    def start(self) -> None:
        """Start sampling; the counts of the previous cycle are dropped."""
        self._reading = 0
        self._handling = 0
        self._hot = Counter()
        self._stop.clear()
        self._caller = threading.get_ident()
        self._thread = threading.Thread(
            target=self._run, name="leakhunt-handler-sampler", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop sampling and wait for the sampling thread to end."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        # The thread that drives the cycle runs the harness, not a watch.
        skip = {threading.get_ident(), self._caller}
        while not self._stop.wait(self.interval):
            self._take(skip)

    def _take(self, skip: set[int]) -> None:
        # NB: the frames keep their locals alive; they must not outlive the
        # sample, or the sampler itself would hold a controller's objects.
        for ident, frame in sys._current_frames().items():
            if ident in skip or not _in_watch_loop(frame):
                continue
            if _reading(frame):
                self._reading += 1
            else:
                self._handling += 1
                where = _handler_frame(frame)
                if where is not None:
                    self._hot[where] += 1

    def sample(self) -> dict[str, float]:
        """Return ``watch_handling_share`` of the last cycle (NaN with no watch)."""
        total = self._reading + self._handling
        if total < MIN_WATCH_SAMPLES:
            return {"watch_handling_share": float("nan")}
        return {"watch_handling_share": self._handling / total}

    def details(self) -> dict[str, object]:
        """The handler frames where watch threads spent the most samples."""
        total = self._reading + self._handling
        return {
            "watch_samples": total,
            "handler_frames": [
                {"frame": where, "share": round(count / total, 3)}
                for where, count in self._hot.most_common(MAX_HOT_FRAMES)
            ]
            if total
            else [],
        }

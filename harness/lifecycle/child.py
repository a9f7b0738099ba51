"""A controller run as a process of its own, stopped by SIGTERM or SIGINT.

Run as ``python -m harness.lifecycle.child TARGET --kubeconfig PATH
--namespace NS --report-fd FD``. It starts the controller, waits for its
sync, reports ``ready``, and on SIGTERM or SIGINT sets ``ctx.stop`` (as a
controller's own main would), stops it within ``--stop-timeout`` and exits.
It reports on file descriptor ``FD``, one JSON object per line, so whatever
the controller prints cannot be mistaken for a report; on SIGUSR1 it reports
a dump of its threads, which is how the harness learns why it did not exit.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from harness.errors import HarnessError
from harness.lifecycle.adapters import DEFAULT_STOP_TIMEOUT, StartFailed, make_adapter
from harness.lifecycle.context import DEFAULT_LABEL_SELECTOR, ContextFactory
from harness.lifecycle.loop import EventLoopHost
from harness.lifecycle.scenarios import CycleSession
from harness.lifecycle.sync import DEFAULT_SETTLE_DELAY, DEFAULT_SYNC_TIMEOUT
from harness.lifecycle.target import Shape, load_target
from harness.lifecycle.threads import dump_threads

logger = logging.getLogger(__name__)

EXIT_CONTROLLER_FAILED = 1
"""The controller raised while starting or stopping, or its stop timed out."""

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

SIGNAL_POLL_SECONDS = 0.05
"""How often the main thread looks for a stop signal: a stop is seen at most
this long after its signal arrives."""
DUMP_SIGNAL = signal.SIGUSR1
"""Asks for a dump of the child's threads (the harness sends it on a hang)."""


class Reporter:
    """Reporter writes the child's JSON lines to the harness."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, event: str, **fields: Any) -> None:
        """Write one ``event`` line with ``fields``."""
        line = json.dumps({"event": event, **fields}) + "\n"
        # NB: no lock wait in a signal handler could ever return if the main
        # thread held it, so a dump written mid-line is accepted instead.
        if self._lock.acquire(timeout=0.5):
            try:
                self._stream.write(line)
                self._stream.flush()
            finally:
                self._lock.release()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the child's command line."""
    parser = argparse.ArgumentParser(
        prog="python -m harness.lifecycle.child", description=__doc__
    )
    parser.add_argument("target")
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--label-selector", default=DEFAULT_LABEL_SELECTOR)
    parser.add_argument("--cycle", type=int, default=0)
    parser.add_argument("--stop-timeout", type=float, default=DEFAULT_STOP_TIMEOUT)
    parser.add_argument("--sync-timeout", type=float, default=DEFAULT_SYNC_TIMEOUT)
    parser.add_argument("--settle-delay", type=float, default=DEFAULT_SETTLE_DELAY)
    parser.add_argument("--report-fd", type=int, required=True)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run one controller until a stop signal; return the process's exit code."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    reporter = Reporter(os.fdopen(args.report_fd, "w", encoding="utf-8"))

    # First, the signals: a dump on request, and stop on SIGTERM / SIGINT.
    received: list[str] = []

    def on_stop_signal(signum: int, frame: FrameType | None) -> None:
        # NB: a handler runs in the main thread between two of its bytecodes,
        # so it must not take a lock the main thread may hold: setting a
        # threading.Event here deadlocks when the signal lands inside that
        # event's wait(). Appending to a list takes no lock.
        received.append(signal.Signals(signum).name)

    def on_dump_signal(signum: int, frame: FrameType | None) -> None:
        reporter.send("thread-dump", threads=dump_threads(exclude_current=False))

    signal.signal(DUMP_SIGNAL, on_dump_signal)
    for signum in STOP_SIGNALS:
        signal.signal(signum, on_stop_signal)

    # Then the controller, on a loop of its own if it is async.
    try:
        target = load_target(args.target)
        factory = ContextFactory.from_kubeconfig(
            args.kubeconfig, args.namespace, label_selector=args.label_selector
        )
    except HarnessError as exc:
        reporter.send("failed", error=str(exc))
        return exc.exit_code

    host = EventLoopHost() if target.shape is Shape.ASYNC else None
    adapter = make_adapter(target, host)
    session = CycleSession(
        adapter=adapter,
        ctx=factory(args.cycle, adapter.new_stop_event()),
        server=None,
        tracker=None,
        stop_timeout=args.stop_timeout,
        sync_timeout=args.sync_timeout,
        settle_delay=args.settle_delay,
    )
    try:
        session.start()
    except (StartFailed, HarnessError) as exc:
        reporter.send("failed", error=str(exc))
        return EXIT_CONTROLLER_FAILED
    sync = session.sync()
    reporter.send(
        "ready",
        synced=sync.synced,
        sync_seconds=sync.seconds,
        sync_method=sync.method,
        error=sync.error,
    )

    # Finally, wait for the signal and stop within the deadline. Returning
    # lets the interpreter shut down as it would in production: a non-daemon
    # thread the controller left running keeps the process alive from here.
    while not received:
        time.sleep(SIGNAL_POLL_SECONDS)
    outcome = session.stop()
    if host is not None:
        host.close()
    reporter.send(
        "stopped",
        signal=received[0],
        seconds=outcome.seconds,
        timed_out=outcome.timed_out,
        error=outcome.error,
        thread_dump=outcome.thread_dump,
        pending_tasks=outcome.pending_tasks,
    )
    failed = outcome.timed_out or outcome.error is not None
    return EXIT_CONTROLLER_FAILED if failed else 0


if __name__ == "__main__":
    sys.exit(main())

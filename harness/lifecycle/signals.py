"""The signal scenario's side in the harness: run a child controller and signal it."""

from __future__ import annotations

import json
import logging
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import IO, Any

from harness.lifecycle.child import DUMP_SIGNAL
from harness.lifecycle.context import Context
from harness.lifecycle.scenarios import (
    CHILD_DUMP_WAIT,
    CHILD_EXIT_GRACE,
    CHILD_START_GRACE,
    SIGNALS_PER_CYCLE,
)
from harness.lifecycle.server import ServerControl
from harness.lifecycle.sync import WatchTracker
from harness.lifecycle.target import Target
from harness.lifecycle.threads import ThreadRecord

logger = logging.getLogger(__name__)

MAX_OUTPUT_TAIL = 2000
"""Characters of a failed child's own output quoted in the cycle's error."""


@dataclass
class SignalCycle:
    """SignalCycle is what the children of one signal cycle did."""

    synced: bool = True
    sync_seconds: float = 0.0
    sync_method: str = "skipped"
    stop_seconds: float = 0.0
    stop_timed_out: bool = False
    thread_dump: list[ThreadRecord] = field(default_factory=list)
    error: str | None = None
    notes: list[str] = field(default_factory=list)

    def add_error(self, text: str) -> None:
        """Record an error after any earlier one."""
        self.error = text if self.error is None else f"{self.error}\n{text}"


@dataclass(frozen=True)
class ChildOptions:
    """ChildOptions is how each child of a signal cycle is run and judged.

    With a ``server``, the child does not settle on its own: the harness
    watches the server's registry for a watch from the child's process, as
    it does for a controller in its own process.
    """

    stop_timeout: float
    sync_timeout: float
    settle_delay: float
    server: ServerControl | None = None
    start_grace: float = CHILD_START_GRACE


def run_signal_cycle(
    target: Target, ctx: Context, options: ChildOptions
) -> SignalCycle:
    """Run ``target`` in a child per signal, signal it once ready, time its exit."""
    result = SignalCycle()
    for signum in SIGNALS_PER_CYCLE:
        _run_child(target, ctx, signum, options, result)
    return result


def _run_child(
    target: Target,
    ctx: Context,
    signum: signal.Signals,
    options: ChildOptions,
    result: SignalCycle,
) -> None:
    read_fd, write_fd = os.pipe()
    # NB: binary files only. Opening a text file leaves a few memory blocks
    # behind in CPython's codec machinery, and this runs in the measured
    # process every cycle.
    with tempfile.TemporaryFile(mode="w+b") as output:
        try:
            process = subprocess.Popen(
                _command(target, ctx, write_fd, options),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                pass_fds=(write_fd,),
                env=_environment(),
            )
        finally:
            os.close(write_fd)
        reports = _Reports(os.fdopen(read_fd, "rb"))
        try:
            if _wait_until_ready(process, reports, options, result):
                _signal_and_wait(process, reports, signum, options, result)
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
            reports.close()

        if process.returncode != 0:
            output.seek(0)
            tail = output.read().decode(errors="replace")[-MAX_OUTPUT_TAIL:]
            result.add_error(
                f"the controller's process exited with code {process.returncode}"
                f" after {signum.name}; its last output:\n{tail}"
            )


def _wait_until_ready(
    process: subprocess.Popen[bytes],
    reports: _Reports,
    options: ChildOptions,
    result: SignalCycle,
) -> bool:
    # First, the child's own word that it has started (and synced, if the
    # controller can say so).
    wait = options.sync_timeout + options.start_grace
    ready = reports.wait_for(("ready", "failed"), wait)
    if ready is None or ready["event"] == "failed":
        result.synced = False
        result.add_error(
            ready["error"]
            if ready is not None
            else f"the controller's process did not start within {wait:.1f} s"
        )
        return False

    synced = bool(ready["synced"])
    seconds = float(ready["sync_seconds"])
    method = str(ready["sync_method"])
    if ready.get("error"):
        result.add_error(str(ready["error"]))

    # Then, for a controller that cannot say, the server's word: a watch
    # from the child's process.
    if method == "settle" and options.server is not None:
        tracker = WatchTracker(options.server, pid=process.pid)
        started = time.monotonic()
        synced = tracker.wait_for_new(
            set(), options.sync_timeout, lambda: process.poll() is not None
        )
        seconds += time.monotonic() - started
        method = "server-watch"

    result.synced = result.synced and synced
    result.sync_seconds = max(result.sync_seconds, seconds)
    result.sync_method = method
    return True


def _signal_and_wait(
    process: subprocess.Popen[bytes],
    reports: _Reports,
    signum: signal.Signals,
    options: ChildOptions,
    result: SignalCycle,
) -> None:
    name = signum.name
    exit_deadline = options.stop_timeout + CHILD_EXIT_GRACE

    # First, signal it, and time the whole process's exit, not only the stop.
    started = time.monotonic()
    process.send_signal(signum)
    try:
        process.wait(exit_deadline)
    except subprocess.TimeoutExpired:
        seconds = time.monotonic() - started
        result.stop_seconds = max(result.stop_seconds, seconds)
        result.stop_timed_out = True
        result.notes.append(
            f"after {name} the controller's process did not exit within"
            f" {exit_deadline:.1f} s and was killed"
        )
        process.send_signal(DUMP_SIGNAL)
        dump = reports.wait_for(("thread-dump",), CHILD_DUMP_WAIT)
        stopped = reports.seen.get("stopped")
        if stopped is not None and stopped["timed_out"]:
            result.thread_dump = result.thread_dump or stopped["thread_dump"]
        elif dump is not None:
            result.thread_dump = result.thread_dump or dump["threads"]
        logger.warning(
            "The controller's process %d did not exit within %.1f s of %s.",
            process.pid,
            exit_deadline,
            name,
        )
        return

    # Then, what the child said about its own stop.
    seconds = time.monotonic() - started
    result.stop_seconds = max(result.stop_seconds, seconds)
    result.notes.append(
        f"after {name} the controller's process exited in {seconds:.2f} s"
    )
    stopped = reports.wait_for(("stopped",), CHILD_DUMP_WAIT)
    if stopped is not None and stopped["timed_out"]:
        result.stop_timed_out = True
        result.thread_dump = result.thread_dump or stopped["thread_dump"]


def _command(
    target: Target, ctx: Context, report_fd: int, options: ChildOptions
) -> list[str]:
    # NB: with a server to ask, the child need not wait a settle delay.
    settle = 0.0 if options.server is not None else options.settle_delay
    command = [
        sys.executable,
        "-m",
        "harness.lifecycle.child",
        target.spec,
        "--kubeconfig",
        str(ctx.kubeconfig),
        "--namespace",
        ctx.namespace,
        "--cycle",
        str(ctx.cycle),
        "--stop-timeout",
        str(options.stop_timeout),
        "--sync-timeout",
        str(options.sync_timeout),
        "--settle-delay",
        str(settle),
        "--report-fd",
        str(report_fd),
    ]
    if ctx.label_selector is not None:
        command += ["--label-selector", ctx.label_selector]
    return command


def _environment() -> dict[str, str]:
    # NB: the child must import the target exactly as this process did, and
    # this process's sys.path may have been extended after it started.
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p or os.getcwd() for p in sys.path)
    return env


class _Reports:
    """The child's JSON lines, read in a thread so a silent child cannot block."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.seen: dict[str, dict[str, Any]] = {}
        self._thread = threading.Thread(
            target=self._read, name="leakhunt-child-reports", daemon=True
        )
        self._thread.start()

    def _read(self) -> None:
        for line in self._stream:
            try:
                self._lines.put(json.loads(line))
            except ValueError:
                logger.debug("Ignoring a garbled report line from a child: %r", line)
        self._lines.put(None)

    def wait_for(
        self, events: tuple[str, ...], timeout: float
    ) -> dict[str, Any] | None:
        """The first report among ``events``; None at the timeout or the end."""
        for event in events:
            if event in self.seen:
                return self.seen[event]
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                report = self._lines.get(timeout=remaining)
            except queue.Empty:
                return None
            if report is None:
                self._lines.put(None)
                return None
            self.seen[str(report.get("event"))] = report
            if report.get("event") in events:
                return report
        return None

    def close(self) -> None:
        """Wait for the reader to finish (the child has exited) and close the pipe."""
        self._thread.join(CHILD_DUMP_WAIT)
        self._stream.close()

"""The conductor's handle on a worker process: start, one cycle, details, stop.

Each cycle gets a deadline. A worker that misses it is asked for a stack dump
(``SIGUSR1``; :mod:`faulthandler` writes every thread's stack to the worker's
log) and killed; one that exits mid-cycle is a crash. Both become findings
with the tail of the worker's log as evidence, and the soak ends cleanly.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from harness.errors import EXIT_RUN_FAILED, EXIT_USAGE, ConfigurationError
from leakhunt.channel import ChannelClosed, ChannelTimeout, Receiver, send
from leakhunt.errors import LeakhuntError
from leakhunt.report.model import STOP_TIMEOUT, Finding
from leakhunt.worker import DETAILS, FATAL, READY, SAMPLE, WorkerSpec

if TYPE_CHECKING:
    from leakhunt.soak import SoakOptions
    from leakhunt.world import World

logger = logging.getLogger(__name__)

WORKER_CRASH = "worker-crash"
"""The finding kind of a worker that exited in the middle of a cycle."""

READY_TIMEOUT = 120.0
"""Seconds for the worker to import the target and its dependencies."""

CYCLE_MARGIN = 30.0
"""Seconds a cycle may take beyond its sync and stop deadlines (the scenario's
own work, garbage collection, sampling a large heap)."""

DUMP_WAIT = 1.0
"""Seconds to let faulthandler write the stacks of a hung worker."""

LOG_TAIL_LINES = 80


class WorkerFailed(LeakhuntError):
    """The worker could not run a cycle; :meth:`finding` says why."""

    kind = WORKER_CRASH

    def __init__(self, message: str, log_tail: str) -> None:
        super().__init__(message)
        self.log_tail = log_tail

    def finding(self, cycle: int) -> Finding:
        """This failure as a finding of the soak."""
        return Finding(
            kind=self.kind,
            signal="worker",
            per_cycle=1.0,
            unit="count",
            message=f"cycle {cycle}: {self}",
            evidence={"cycle": cycle, "log_tail": self.log_tail},
        )


class WorkerHung(WorkerFailed):
    """The worker missed a cycle's deadline and was killed."""

    kind = STOP_TIMEOUT


class WorkerCrashed(WorkerFailed):
    """The worker exited in the middle of a cycle."""


class WorkerProcess:
    """A running worker and the two pipes to it."""

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        commands: BinaryIO,
        results: Receiver,
        log_path: Path,
        cycle_deadline: float,
    ) -> None:
        self.process = process
        self.log_path = log_path
        self._commands = commands
        self._results = results
        self._cycle_deadline = cycle_deadline

    @classmethod
    @contextmanager
    def start(
        cls,
        options: SoakOptions,
        world: World,
        *,
        log_dir: Path,
        attribution: dict[str, Any] | None = None,
    ) -> Iterator[WorkerProcess]:
        """Start a worker for ``options`` against ``world``; stop it on exit.

        ``attribution`` (a :class:`~leakhunt.probes.deep.DeepConfig` as data)
        adds the expensive probes of the attribution pass.
        """
        spec = WorkerSpec(
            target=options.target,
            scenario=options.scenario,
            kubeconfig=str(world.kubeconfig),
            kube_context=world.kube_context,
            namespace=world.namespace,
            label_selector="app=leakhunt",
            stop_timeout=options.stop_timeout,
            sync_timeout=options.sync_timeout,
            churn_rate=options.churn,
            control_url=world.control_url,
            control_token=world.control_token,
            tracemalloc=options.tracemalloc,
            attribution=attribution,
        )
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / "worker.log"
        command_read, command_write = os.pipe()
        result_read, result_write = os.pipe()
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "leakhunt.worker",
                    spec.to_json(),
                    str(command_read),
                    str(result_write),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(command_read, result_write),
                # Ctrl-C is for the conductor, which then stops the worker cleanly.
                start_new_session=True,
            )
        os.close(command_read)
        os.close(result_write)

        # A restart scenario stops twice; the stop deadline counts for each.
        deadline = options.sync_timeout + 3 * options.stop_timeout + CYCLE_MARGIN
        worker = cls(
            process,
            os.fdopen(command_write, "wb"),
            Receiver(result_read),
            log_path,
            deadline,
        )
        try:
            worker._wait_ready()
            yield worker
        finally:
            worker.stop()

    def _wait_ready(self) -> None:
        try:
            message = self._results.receive(READY_TIMEOUT)
        except ChannelTimeout as exc:
            raise LeakhuntError(
                f"the worker did not start within {READY_TIMEOUT:.0f} s; "
                f"see {self.log_path}"
            ) from exc
        except ChannelClosed as exc:
            error = LeakhuntError(
                f"the worker exited before it was ready:\n{self.log_tail()}"
            )
            error.exit_code = EXIT_RUN_FAILED
            raise error from exc

        _raise_if_fatal(message)
        if message["type"] != READY:
            raise LeakhuntError(f"the worker sent {message!r} before it was ready")
        logger.info(
            "Worker %d is ready (a %s controller).", message["pid"], message["shape"]
        )

    def cycle(self, index: int) -> dict[str, Any]:
        """Run cycle ``index`` in the worker and return its sample message."""
        try:
            send(self._commands, {"command": "cycle"})
            message = self._receive(SAMPLE, self._cycle_deadline)
        except ChannelTimeout:
            self._dump_stacks()
            raise WorkerHung(
                f"the worker did not finish the cycle within "
                f"{self._cycle_deadline:.0f} s and was killed; the stacks of its "
                "threads are in the evidence",
                self.log_tail(),
            ) from None
        except (ChannelClosed, BrokenPipeError):
            code = self.process.wait(timeout=5)
            raise WorkerCrashed(
                f"the worker exited with code {code} in the middle of the cycle",
                self.log_tail(),
            ) from None
        return message

    def details(self) -> dict[str, Any]:
        """Ask the worker for its probes' evidence (thread stacks, fds, sockets)."""
        try:
            send(self._commands, {"command": "details"})
            message = self._receive(DETAILS, self._cycle_deadline)
        except (ChannelTimeout, ChannelClosed, BrokenPipeError):
            logger.warning(
                "The worker did not send its details; see %s.", self.log_path
            )
            return {}
        details: dict[str, Any] = message["details"]
        return details

    def _receive(self, kind: str, timeout: float) -> dict[str, Any]:
        message = self._results.receive(timeout)
        _raise_if_fatal(message)
        if message.get("type") != kind:
            raise ChannelClosed
        return message

    def _dump_stacks(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGUSR1)
            time.sleep(DUMP_WAIT)
        self.process.kill()
        self.process.wait()

    def log_tail(self) -> str:
        """The last lines the worker logged (and its controller printed)."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-LOG_TAIL_LINES:])

    def stop(self) -> None:
        """Ask the worker to exit, and kill it if it does not."""
        if self.process.poll() is None:
            with suppress(BrokenPipeError, ValueError):
                send(self._commands, {"command": "exit"})
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            logger.warning("Worker %d did not exit; killing it.", self.process.pid)
            self.process.kill()
            self.process.wait()
        for close in (self._commands.close, self._results.close):
            with suppress(OSError):
                close()


def _raise_if_fatal(message: dict[str, Any]) -> None:
    """Raise the error a worker reported instead of running the controller."""
    if message.get("type") != FATAL:
        return
    text = str(message.get("message", "the worker failed"))
    if message.get("exit_code") == EXIT_USAGE:
        raise ConfigurationError(text)
    raise LeakhuntError(text)

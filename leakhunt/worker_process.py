"""The conductor's handle on a worker process: start, one cycle, details, stop.

Each cycle gets a deadline: the longest its scenario can take, plus a margin.
The worker says which phase of the cycle it is in (start, sync, scenario,
stop, sample), so a worker that misses the deadline is reported by where it
hung. It is asked for a stack dump (``SIGUSR1``; :mod:`faulthandler` writes
every thread's stack to the worker's log) and killed with every process it
started; one that exits mid-cycle is a crash. Both become findings with the
tail of the worker's log as evidence, and the soak ends cleanly.
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

from harness.errors import EXIT_USAGE, ConfigurationError
from harness.lifecycle.scenarios import Phase, get_scenario
from leakhunt.channel import ChannelClosed, ChannelTimeout, Receiver, send
from leakhunt.errors import LeakhuntError
from leakhunt.report.model import (
    START_TIMEOUT,
    STOP_TIMEOUT,
    WORKER_CRASH,
    Finding,
)
from leakhunt.worker import (
    CHECK_OPTION,
    DETAILS,
    FATAL,
    PHASE,
    READY,
    SAMPLE,
    SAMPLING,
    WorkerSpec,
)

if TYPE_CHECKING:
    from leakhunt.soak import SoakOptions
    from leakhunt.world import World

logger = logging.getLogger(__name__)

HUNG_IN = {
    Phase.START: "in the controller's creation or start()",
    Phase.SYNC: "waiting for the controller's sync (its wait_for_sync() or"
    " has_synced())",
    Phase.SCENARIO: "in the scenario's work between the sync and the stop",
    Phase.STOP: "stopping the controller",
    Phase.CHILD: "running the controller's child processes",
    SAMPLING: "collecting garbage and sampling after the stop",
}
"""Where a worker that missed its deadline was, by the last phase it named."""

CHECK_TIMEOUT = 120.0
"""Seconds to import the target in a throwaway process before the world is made."""

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
    """The worker missed a cycle's deadline and was killed.

    The kind says where: ``start-timeout`` when it hung creating, starting or
    syncing the controller, ``stop-timeout`` anywhere after that.
    """

    def __init__(self, message: str, log_tail: str, phase: str | None) -> None:
        super().__init__(message, log_tail)
        self.phase = phase
        self.kind = (
            START_TIMEOUT if phase in (Phase.START, Phase.SYNC, None) else STOP_TIMEOUT
        )


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
        self._phase: str | None = None

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

        worker = cls(
            process,
            os.fdopen(command_write, "wb"),
            Receiver(result_read),
            log_path,
            cycle_deadline(options),
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
            code = self.process.wait(timeout=10)
            raise LeakhuntError(
                f"the worker exited with code {code} before it was ready"
                f"{_colon(_last_line(self.log_tail()))}; see {self.log_path}"
            ) from exc

        _raise_if_fatal(message)
        if message["type"] != READY:
            raise LeakhuntError(f"the worker sent {message!r} before it was ready")
        logger.info(
            "Worker %d is ready (a %s controller).", message["pid"], message["shape"]
        )

    def cycle(self, index: int) -> dict[str, Any]:
        """Run cycle ``index`` in the worker and return its sample message."""
        self._phase = None
        try:
            send(self._commands, {"command": "cycle"})
            message = self._receive(SAMPLE, self._cycle_deadline)
        except ChannelTimeout:
            self._dump_stacks()
            where = HUNG_IN.get(self._phase or Phase.START, f"in {self._phase}")
            raise WorkerHung(
                f"the worker was still {where} when the cycle's deadline of "
                f"{self._cycle_deadline:.0f} s passed and was killed; the stacks "
                "of its threads are in the evidence",
                self.log_tail(),
                self._phase,
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
        deadline = time.monotonic() + timeout
        while True:
            message = self._results.receive(max(0.0, deadline - time.monotonic()))
            _raise_if_fatal(message)
            if message.get("type") == PHASE:
                self._phase = str(message["phase"])
                continue
            if message.get("type") != kind:
                raise ChannelClosed
            return message

    def _dump_stacks(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGUSR1)
            time.sleep(DUMP_WAIT)
        self._kill_group()

    def _kill_group(self) -> None:
        """Kill the worker and every process it started (the signal scenario's
        children, whatever the controller ran), then reap the worker."""
        # NB: the worker leads a session of its own, so its process group has
        # its pid; killpg reaches members whose parent has already died.
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def log_tail(self) -> str:
        """The last lines the worker logged (and its controller printed)."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-LOG_TAIL_LINES:])

    def stop(self) -> None:
        """Ask the worker to exit, kill it if it does not, and kill whatever it
        left running."""
        if self.process.poll() is None:
            with suppress(BrokenPipeError, ValueError):
                send(self._commands, {"command": "exit"})
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            logger.warning("Worker %d did not exit; killing it.", self.process.pid)
        else:
            if _group_alive(self.process.pid):
                logger.warning(
                    "Processes started in worker %d were still running after it "
                    "exited; killing them.",
                    self.process.pid,
                )
        self._kill_group()
        for close in (self._commands.close, self._results.close):
            with suppress(OSError):
                close()


def cycle_deadline(options: SoakOptions) -> float:
    """Seconds a worker may take for one cycle of ``options``'s scenario."""
    scenario = get_scenario(options.scenario)
    longest = scenario.longest_cycle(
        sync_timeout=options.sync_timeout, stop_timeout=options.stop_timeout
    )
    return longest + CYCLE_MARGIN


def check_target(target: str) -> None:
    """Import ``target`` in a throwaway worker and raise its one-line error.

    The conductor never imports the code under test itself; this lets a
    mistyped target be refused before anything is created on a cluster.
    """
    try:
        completed = subprocess.run(
            [sys.executable, "-m", "leakhunt.worker", CHECK_OPTION, target],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=CHECK_TIMEOUT,
            check=False,
            start_new_session=True,
        )
    except subprocess.TimeoutExpired:
        raise ConfigurationError(
            f"importing {target!r} took more than {CHECK_TIMEOUT:.0f} s; a"
            " target's module should not do its work at import"
        ) from None
    if completed.returncode == 0:
        return

    # NB: the target's module may print while importing; the error is the
    # last line.
    message = _last_line(completed.stdout.decode(errors="replace"))
    if completed.returncode == EXIT_USAGE and message:
        raise ConfigurationError(message)
    stderr = _last_line(completed.stderr.decode(errors="replace"))
    raise LeakhuntError(
        f"checking the target {target!r} failed with exit code "
        f"{completed.returncode}{_colon(stderr)}"
    )


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _colon(text: str) -> str:
    """``": text"`` to end a sentence with, or nothing for no text."""
    return f": {text}" if text else ""


def _raise_if_fatal(message: dict[str, Any]) -> None:
    """Raise the error a worker reported instead of running the controller."""
    if message.get("type") != FATAL:
        return
    text = str(message.get("message", "the worker failed"))
    if message.get("exit_code") == EXIT_USAGE:
        raise ConfigurationError(text)
    raise LeakhuntError(text)

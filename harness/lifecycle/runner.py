"""The cycle runner: one controller through one scenario, cycle after cycle."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.errors import ConfigurationError, HarnessError
from harness.lifecycle.adapters import (
    DEFAULT_STOP_TIMEOUT,
    LOOP_CALL_TIMEOUT,
    StartFailed,
    StopOutcome,
    make_adapter,
)
from harness.lifecycle.context import Context, StopEvent
from harness.lifecycle.loop import EventLoopHost, TaskRecord
from harness.lifecycle.scenarios import (
    CHILD_START_GRACE,
    CycleSession,
    Phase,
    PhaseListener,
    Scenario,
    Signal,
    get_scenario,
    ignore_phase,
)
from harness.lifecycle.server import ServerControl
from harness.lifecycle.signals import ChildOptions, run_signal_cycle
from harness.lifecycle.sync import (
    DEFAULT_SETTLE_DELAY,
    DEFAULT_SYNC_TIMEOUT,
    WatchTracker,
)
from harness.lifecycle.target import Shape, Target
from harness.lifecycle.threads import ThreadRecord

logger = logging.getLogger(__name__)

MAX_PENDING_TASKS_LISTED = 20
"""Pending tasks described per cycle; ``pending_task_count`` has the full count."""

ContextMaker = Callable[[int, StopEvent], Context]
"""Makes the context of cycle N around a stop event (see ``ContextFactory``)."""


@dataclass
class CycleResult:
    """CycleResult is what one cycle did, small and JSON-able.

    It holds no reference to the controller, its context or its stop event.
    ``sync_method`` says how the sync was judged (see ``SyncOutcome``);
    ``thread_dump`` is set when a stop missed its deadline; ``pending_tasks``
    lists, up to :data:`MAX_PENDING_TASKS_LISTED`, asyncio tasks still pending
    on the shared loop after the stop; ``error`` is the traceback text of
    anything the controller raised; ``notes`` are sentences about what the
    scenario saw (a controller that never watched again after a 410, say).
    """

    cycle: int
    scenario: str
    sync_seconds: float = 0.0
    synced: bool = False
    sync_method: str = "skipped"
    stop_seconds: float = 0.0
    stop_timed_out: bool = False
    thread_dump: list[ThreadRecord] = field(default_factory=list)
    pending_tasks: list[TaskRecord] = field(default_factory=list)
    pending_task_count: int = 0
    error: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """This result as plain JSON types."""
        return dataclasses.asdict(self)

    def add_error(self, text: str) -> None:
        """Record an error; a cycle with several keeps them all, in order."""
        self.error = text if self.error is None else f"{self.error}\n{text}"

    def add_stop(self, outcome: StopOutcome) -> None:
        """Fold one stop's outcome in: the slowest stop and the first dump count."""
        self.stop_seconds = max(self.stop_seconds, outcome.seconds)
        if outcome.timed_out and not self.stop_timed_out:
            self.stop_timed_out = True
            self.thread_dump = outcome.thread_dump
        if outcome.error is not None:
            self.add_error(outcome.error)
        self.pending_task_count = len(outcome.pending_tasks)
        self.pending_tasks = outcome.pending_tasks[:MAX_PENDING_TASKS_LISTED]


class CycleRunner:
    """CycleRunner runs one controller through cycles of one scenario.

    Each :meth:`run_cycle` creates the controller, starts it, waits for its
    sync, applies the scenario, stops it within ``stop_timeout`` seconds and
    lets go of it: afterwards the runner holds nothing of the controller but
    a :class:`CycleResult`. Garbage collection and measuring are the caller's.
    Async controllers share one event loop, kept until :meth:`close`.
    ``on_phase`` is told each :class:`Phase` the cycle enters, so that a
    caller watching from outside can say where a cycle hung.
    """

    def __init__(
        self,
        target: Target,
        *,
        scenario: Scenario | str,
        stop_timeout: float = DEFAULT_STOP_TIMEOUT,
        sync_timeout: float = DEFAULT_SYNC_TIMEOUT,
        server: ServerControl | None = None,
        context_factory: ContextMaker,
        settle_delay: float = DEFAULT_SETTLE_DELAY,
        on_phase: PhaseListener | None = None,
    ) -> None:
        self.target = target
        self.scenario = (
            get_scenario(scenario) if isinstance(scenario, str) else scenario
        )
        if self.scenario.needs_server and server is None:
            raise ConfigurationError(
                f"the {self.scenario.name} scenario drives the API server, which"
                " needs the simulator; run it without --kubeconfig, or choose"
                " lifecycle, idle-stop, early-stop, restart or signal"
            )
        for what, value in (
            ("stop timeout", stop_timeout),
            ("sync timeout", sync_timeout),
        ):
            if not value > 0:
                raise ConfigurationError(
                    f"expected a {what} of more than 0 seconds, got {value!r}"
                )

        self.stop_timeout = stop_timeout
        self.sync_timeout = sync_timeout
        self.settle_delay = settle_delay
        self.server = server
        self.context_factory = context_factory
        self.on_phase: PhaseListener = on_phase or ignore_phase
        self._tracker = WatchTracker(server) if server is not None else None
        self._host: EventLoopHost | None = None

    def run_cycle(self, index: int) -> CycleResult:
        """Run cycle ``index`` and say what happened; never raises for the controller.

        What the controller raises is recorded in the result. What ends the
        run is raised: :class:`ConfigurationError` for a target of the wrong
        shape (a factory whose object has no ``stop()``, a generator that
        never yields), :class:`ServerError` from a server the scenario could
        not drive.
        """
        result = CycleResult(cycle=index, scenario=self.scenario.name)
        if self.scenario.in_process:
            self._run_in_process(index, result)
        else:
            self._run_in_child(index, result)

        logger.info(
            "Cycle %d (%s) of %s: %s in %.2f s, stopped in %.2f s%s.",
            index,
            self.scenario.name,
            self.target.spec,
            "synced" if result.synced else f"not synced ({result.sync_method})",
            result.sync_seconds,
            result.stop_seconds,
            ", STOP TIMED OUT" if result.stop_timed_out else "",
        )
        return result

    def close(self) -> None:
        """Stop the shared event loop, cancelling any task still on it."""
        host, self._host = self._host, None
        if host is not None:
            host.close()

    def __enter__(self) -> CycleRunner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _run_in_process(self, index: int, result: CycleResult) -> None:
        adapter = make_adapter(self.target, self._loop_host(index, result))
        session = CycleSession(
            adapter=adapter,
            ctx=self.context_factory(index, adapter.new_stop_event()),
            server=self.server,
            tracker=self._tracker,
            stop_timeout=self.stop_timeout,
            sync_timeout=self.sync_timeout,
            settle_delay=self.settle_delay,
            on_phase=self.on_phase,
        )
        try:
            self._drive(session, result)
        except BaseException:
            # NB: the run is ending; put the server back as well as it can,
            # but the error that ends the run is the one to report.
            with contextlib.suppress(Exception):
                self.scenario.after_stop(session)
            raise
        else:
            self.scenario.after_stop(session)
        finally:
            for outcome in session.stops:
                result.add_stop(outcome)
            result.notes.extend(session.notes)

    def _drive(self, session: CycleSession, result: CycleResult) -> None:
        scenario = self.scenario

        # First, start; a controller that fails to start is told to stop
        # through its event, and the cycle ends there.
        scenario.before_start(session)
        try:
            session.start()
        except StartFailed as exc:
            result.add_error(exc.detail)
            session.adapter.abandon()
            return

        # Then the sync and the scenario's workload, then the stop.
        try:
            if scenario.waits_for_sync:
                sync = session.sync()
                result.synced = sync.synced
                result.sync_seconds = sync.seconds
                result.sync_method = sync.method
                if sync.error is not None:
                    result.add_error(sync.error)
            self.on_phase(Phase.SCENARIO)
            scenario.apply(session)
        except HarnessError:
            raise
        except Exception:
            result.add_error(traceback.format_exc())
        finally:
            session.stop()

    def _run_in_child(self, index: int, result: CycleResult) -> None:
        ctx = self.context_factory(index, threading.Event())
        options = ChildOptions(
            stop_timeout=self.stop_timeout,
            sync_timeout=self.sync_timeout,
            settle_delay=self.settle_delay,
            server=self.server,
            start_grace=(
                self.scenario.start_grace
                if isinstance(self.scenario, Signal)
                else CHILD_START_GRACE
            ),
        )
        self.on_phase(Phase.CHILD)
        child = run_signal_cycle(self.target, ctx, options)
        result.synced = child.synced
        result.sync_seconds = child.sync_seconds
        result.sync_method = child.sync_method
        result.stop_seconds = child.stop_seconds
        result.stop_timed_out = child.stop_timed_out
        result.thread_dump = child.thread_dump
        result.error = child.error
        result.notes.extend(child.notes)

    def _loop_host(self, index: int, result: CycleResult) -> EventLoopHost | None:
        if self.target.shape is not Shape.ASYNC:
            return None

        if self._host is not None and not self._host.is_responsive(LOOP_CALL_TIMEOUT):
            # NB: a controller that blocks the loop (a sync call in a coroutine)
            # would stall every later cycle; it keeps its loop, later cycles
            # get a new one, and the cycle says so.
            result.notes.append(
                f"the event loop in thread {self._host.thread_name} was blocked at"
                f" the start of cycle {index}; this cycle runs on a new loop"
            )
            logger.warning(
                "The controllers' event loop is blocked at cycle %d;"
                " starting a new one.",
                index,
            )
            self._host = None
        if self._host is None:
            self._host = EventLoopHost(name=f"asyncio-{self.target.name}")
        return self._host

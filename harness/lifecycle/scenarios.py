"""The scenarios: what happens to a controller between its sync and its stop."""

from __future__ import annotations

import enum
import logging
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType
from typing import Any

from harness.errors import ConfigurationError
from harness.lifecycle.adapters import Adapter, StopOutcome
from harness.lifecycle.context import Context
from harness.lifecycle.server import ServerControl
from harness.lifecycle.sync import (
    SyncOutcome,
    WatchKey,
    WatchTracker,
    wait_for_sync,
)

logger = logging.getLogger(__name__)

CHILD_START_GRACE = 20.0
"""Seconds a signal scenario's child has, on top of the sync timeout, to import
and start."""

CHILD_EXIT_GRACE = 2.0
"""Seconds a child has, on top of the stop deadline, for interpreter shutdown."""

CHILD_DUMP_WAIT = 2.0
"""Seconds to wait for a hung child's thread dump before killing it."""

SIGNALS_PER_CYCLE = (signal.SIGTERM, signal.SIGINT)
"""One child per signal, in this order."""


class Phase(enum.StrEnum):
    """Phase is the part of a cycle the harness is in, as a listener is told.

    A caller that watches the cycle from outside (the soak conductor, whose
    worker may hang) uses it to say where a cycle hung.
    """

    START = "start"
    """Creating and starting the controller (``factory(ctx)``, ``start()``)."""

    SYNC = "sync"
    """Waiting for the controller to sync."""

    SCENARIO = "scenario"
    """The scenario's own work between the sync and the stop."""

    STOP = "stop"
    """Stopping the controller, within the stop deadline."""

    CHILD = "child"
    """The signal scenario: the controller runs in child processes."""


PhaseListener = Callable[[Phase], None]
"""Called as a cycle enters each :class:`Phase`, in the thread running it."""


def ignore_phase(phase: Phase) -> None:
    """The phase listener of a cycle nobody watches from outside."""


@dataclass
class CycleSession:
    """CycleSession is one cycle's controller, context and server, for a scenario.

    The runner makes one per cycle and drops it at the end; scenarios start,
    stop and restart the controller through it so that every stop keeps its
    deadline and every outcome is recorded.
    """

    adapter: Adapter
    ctx: Context
    server: ServerControl | None
    tracker: WatchTracker | None
    stop_timeout: float
    sync_timeout: float
    settle_delay: float
    notes: list[str] = field(default_factory=list)
    stops: list[StopOutcome] = field(default_factory=list)
    on_phase: PhaseListener = ignore_phase
    _watches_before: set[WatchKey] = field(default_factory=set, init=False)

    def start(self) -> None:
        """Start the controller, remembering which watches were open before."""
        self._watches_before = self.own_watches()
        self.on_phase(Phase.START)
        self.adapter.start(self.ctx)

    def sync(self) -> SyncOutcome:
        """Wait for the controller to sync (see :func:`wait_for_sync`)."""
        self.on_phase(Phase.SYNC)
        return wait_for_sync(
            self.adapter.handle,
            timeout=self.sync_timeout,
            tracker=self.tracker,
            watches_before=self._watches_before,
            settle_delay=self.settle_delay,
            ended=self.adapter.ended,
        )

    def stop(self) -> StopOutcome:
        """Stop the controller within the deadline and record the outcome."""
        self.on_phase(Phase.STOP)
        outcome = self.adapter.stop(self.stop_timeout)
        self.stops.append(outcome)
        return outcome

    def own_watches(self) -> set[WatchKey]:
        """The watches this process has open on the server (empty without one)."""
        return self.tracker.own() if self.tracker is not None else set()

    def note(self, message: str) -> None:
        """Record something the user should read about this cycle."""
        logger.info("Cycle %d: %s", self.ctx.cycle, message)
        self.notes.append(message)


@dataclass(frozen=True)
class Scenario:
    """Scenario is a named way to exercise a controller in one cycle.

    The runner starts the controller, waits for its sync (unless
    ``waits_for_sync`` is false), calls :meth:`apply`, then stops it.
    ``needs_server`` scenarios drive the API server and cannot run without a
    :class:`ServerControl`; ``in_process`` is false for the one that runs the
    controller in a child process of its own.
    """

    name: str
    description: str
    needs_server: bool = False
    waits_for_sync: bool = True
    in_process: bool = True

    def before_start(self, session: CycleSession) -> None:
        """Prepare the server before the controller starts."""

    def apply(self, session: CycleSession) -> None:
        """Exercise the started controller; the runner stops it afterwards."""

    def after_stop(self, session: CycleSession) -> None:
        """Undo what :meth:`before_start` and :meth:`apply` did to the server."""

    def longest_cycle(self, *, sync_timeout: float, stop_timeout: float) -> float:
        """Seconds a cycle can take at most when the controller's start() and
        wait_for_sync() return: a caller that gives the cycle a deadline must
        give it at least this, so that a slow stop or a missed sync is recorded
        for the cycle rather than taken for a hang."""
        return sync_timeout + stop_timeout


@dataclass(frozen=True)
class Churn(Scenario):
    """Churn has the server create, update and delete objects around the stop."""

    rate: float | None = None
    """Operations per second; None leaves it to the server control's own rate."""

    seconds: float = 2.0
    """How long the controller handles churn before it is asked to stop."""

    def apply(self, session: CycleSession) -> None:
        """Start churn and let the controller handle it; churn goes on during stop."""
        assert session.server is not None
        session.server.start_churn(session.ctx.namespace, self.rate)
        time.sleep(self.seconds)

    def after_stop(self, session: CycleSession) -> None:
        """Stop the churn."""
        assert session.server is not None
        session.server.stop_churn()

    def longest_cycle(self, *, sync_timeout: float, stop_timeout: float) -> float:
        """The sync, the churn's seconds and the stop."""
        return sync_timeout + self.seconds + stop_timeout


@dataclass(frozen=True)
class IdleStop(Scenario):
    """IdleStop stops the controller after a period with no events at all."""

    quiet_seconds: float = 1.0
    """How long the watch stays quiet before the stop."""

    def before_start(self, session: CycleSession) -> None:
        """Make sure no churn from an earlier scenario wakes the watch."""
        if session.server is not None:
            session.server.stop_churn()

    def apply(self, session: CycleSession) -> None:
        """Wait in silence, so the controller is blocked reading an idle watch."""
        time.sleep(self.quiet_seconds)

    def longest_cycle(self, *, sync_timeout: float, stop_timeout: float) -> float:
        """The sync, the quiet seconds and the stop."""
        return sync_timeout + self.quiet_seconds + stop_timeout


@dataclass(frozen=True)
class EarlyStop(Scenario):
    """EarlyStop stops the controller while its first LIST is still in flight."""

    latency: float = 1.0
    """Seconds the server delays each response, so the LIST is still running."""

    in_flight: float = 0.1
    """Seconds between the start and the stop: the LIST has been sent by then."""

    def before_start(self, session: CycleSession) -> None:
        """Slow the server down so the first LIST cannot finish before the stop."""
        if session.server is not None:
            session.server.set_latency(self.latency)

    def apply(self, session: CycleSession) -> None:
        """Give the controller just enough time to send its LIST."""
        time.sleep(self.in_flight)

    def after_stop(self, session: CycleSession) -> None:
        """Restore the server's normal speed."""
        if session.server is not None:
            session.server.set_latency(0.0)

    def longest_cycle(self, *, sync_timeout: float, stop_timeout: float) -> float:
        """No sync: the seconds in flight and the stop."""
        return self.in_flight + stop_timeout


@dataclass(frozen=True)
class Restart(Scenario):
    """Restart stops and starts the same controller again within the cycle."""

    def apply(self, session: CycleSession) -> None:
        """Stop, start again and sync; the runner makes the final stop."""
        first = session.stop()
        if first.timed_out:
            session.note(
                "the first stop timed out, so the controller was not restarted"
            )
            return
        session.start()
        again = session.sync()
        if not again.synced:
            session.note(
                f"the controller did not sync again within {session.sync_timeout:.1f}"
                f" s after a restart ({again.method})"
            )

    def longest_cycle(self, *, sync_timeout: float, stop_timeout: float) -> float:
        """Two syncs and two stops."""
        return 2 * (sync_timeout + stop_timeout)


@dataclass(frozen=True)
class Relist(Scenario):
    """Relist has the server expire the watch (410 Gone), then drop it."""

    def apply(self, session: CycleSession) -> None:
        """Expire, wait for a new watch, drop, wait for a new watch."""
        assert session.server is not None
        assert session.tracker is not None
        faults = (
            ("expired its watch (410 Gone)", session.server.expire_watches),
            ("dropped its watch connection", session.server.drop_watches),
        )
        for what, fault in faults:
            before = session.own_watches()
            fault()
            if not session.tracker.wait_for_new(
                before, session.sync_timeout, session.adapter.ended
            ):
                session.note(
                    f"the controller did not watch again within"
                    f" {session.sync_timeout:.1f} s after the server {what}"
                )

    def longest_cycle(self, *, sync_timeout: float, stop_timeout: float) -> float:
        """The sync, a wait of up to the sync timeout after each fault, the stop."""
        return 3 * sync_timeout + stop_timeout


@dataclass(frozen=True)
class Signal(Scenario):
    """Signal runs the controller as a process of its own and signals it.

    The runner hands the whole cycle to :mod:`harness.lifecycle.signals`: one
    child gets SIGTERM, a second one SIGINT, and each must exit within the
    stop deadline.
    """

    in_process: bool = False

    start_grace: float = CHILD_START_GRACE
    """Seconds a child has, on top of the sync timeout, to import and start."""

    def longest_cycle(self, *, sync_timeout: float, stop_timeout: float) -> float:
        """Each child may take its start grace and the sync timeout to say it is
        ready, the sync timeout again to open a watch the server sees, its exit
        deadline, and a dump wait each for the dump of a hung child and for its
        last reports."""
        per_child = (
            self.start_grace
            + 2 * sync_timeout
            + stop_timeout
            + CHILD_EXIT_GRACE
            + 2 * CHILD_DUMP_WAIT
        )
        return len(SIGNALS_PER_CYCLE) * per_child


SCENARIOS: Mapping[str, Scenario] = MappingProxyType(
    {
        s.name: s
        for s in (
            Scenario("lifecycle", "create, sync and stop, over and over"),
            Churn(
                "churn",
                "objects created, updated and deleted while the controller runs",
                needs_server=True,
            ),
            IdleStop(
                "idle-stop",
                "stop after the watch has been quiet for a while",
            ),
            EarlyStop(
                "early-stop",
                "stop before the first LIST has finished",
                waits_for_sync=False,
            ),
            Restart("restart", "start, stop and start the same controller again"),
            Relist(
                "relist",
                "the server expires the watch (410 Gone), then drops it",
                needs_server=True,
            ),
            Signal(
                "signal", "SIGTERM, then SIGINT, to the controller in its own process"
            ),
        )
    }
)
"""Every scenario by name, in the order they are documented."""


def get_scenario(name: str, **settings: float | None) -> Scenario:
    """Find the scenario called ``name``, with some of its settings changed.

    ``get_scenario("churn", rate=50)`` is the churn scenario at 50 operations
    a second. Raises :class:`ConfigurationError` for an unknown name (listing
    the known ones) or a setting the scenario does not have (listing its own).
    """
    try:
        scenario = SCENARIOS[name]
    except KeyError:
        raise ConfigurationError(
            f"unknown scenario {name!r}; expected one of: {', '.join(SCENARIOS)}"
        ) from None

    own = [f.name for f in fields(scenario) if f.name not in _COMMON_FIELDS]
    unknown = sorted(set(settings) - set(own))
    if unknown:
        raise ConfigurationError(
            f"the {name} scenario has no setting {unknown[0]!r}; it has "
            + (", ".join(own) if own else "none")
        )
    changes: dict[str, Any] = dict(settings)
    return replace(scenario, **changes)


_COMMON_FIELDS = frozenset(f.name for f in fields(Scenario))

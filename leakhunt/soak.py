"""The soak conductor: a controller through many cycles, judged at the end.

The conductor starts the API server simulator (or connects to a real cluster
from a kubeconfig), starts a worker process that hosts the controller and the
probes, and asks it for one cycle at a time. Between cycles, while the worker
is idle, it reads the API server's side: the watches still open after the
stop and the requests the cycle made. At the end it judges every series,
adds the findings only the server or the lifecycle can show, and returns the
report. A worker that crashes or hangs becomes a finding, never a crash of
leakhunt; Ctrl-C returns the partial report.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from harness.errors import ServerError
from harness.lifecycle.scenarios import SCENARIOS
from harness.workload.churn import MAX_RATE as MAX_CHURN
from leakhunt.analysis.lifecycle import (
    first_error,
    handler_findings,
    lifecycle_findings,
)
from leakhunt.analysis.server import ServerEvidence, server_findings
from leakhunt.analysis.signals import COUNT, SignalRegistry, SignalSpec, default_signals
from leakhunt.analysis.thresholds import Thresholds
from leakhunt.analysis.verdict import attach_details, judge
from leakhunt.attribution import (
    DEFAULT_DEEP_CYCLES,
    run_attribution,
    validate_deep_cycles,
    wanted,
)
from leakhunt.errors import LeakhuntError, ServerGone, UsageError
from leakhunt.probes.apiserver import ApiServerProbe
from leakhunt.probes.watches import CLIENT_WATCHES_SIGNAL
from leakhunt.report.model import WATCH_LEAK, Finding, Report
from leakhunt.worker_process import (
    WorkerFailed,
    WorkerProcess,
    check_target,
)
from leakhunt.world import World, open_world

logger = logging.getLogger(__name__)

MIN_CYCLES = 3

MAX_OBJECTS = 100_000
"""Pods a soak may seed at most: the largest store the simulator is tested and
benchmarked with (docs/benchmarks.md), which it serves within seconds."""

SOAK_THRESHOLDS = Thresholds(min_growth={"allocated_blocks": 16, "rss_bytes": "16 KiB"})
"""How a soak judges growth, where it differs from the registry's defaults.

Between two samples the harness itself talks to the API server, lists its
own sockets and starts threads; CPython's caches for that work (codec
lookups, method caches, weak sets) keep a few more blocks for a while before
they fill. A leaked Kubernetes object costs hundreds of blocks, so sixteen a
cycle keeps the harness's own noise out without hiding one. Resident memory
of a clean controller creeps by a few KiB a cycle in page-sized steps while
allocator arenas and the HTTP and TLS libraries' native caches fill (seen:
about 4 KiB a cycle over 30 cycles of the kubernetes_asyncio reference
controller, with heap blocks and objects flat); a leaked pod pins 64 KiB.
"""

CLIENT_WATCHES = SignalSpec(
    CLIENT_WATCHES_SIGNAL, WATCH_LEAK, COUNT, True, 0.5, "watch responses left open"
)
"""Watch responses the worker still holds open after a stop, counted exactly:
one more each cycle is a leak within a few cycles, wherever the server is."""

WATCH_LEAK_SIGNALS = (
    "server_watches_open",
    CLIENT_WATCHES_SIGNAL,
    "server_watchers_registered",
)
"""The signals a watch leak is seen in, best first: the simulator lists each
watch left open with its URL and user agent; the client's count is this
process's alone; a cluster's registered watchers count every client."""

DEFAULT_STOP_TIMEOUT = 5.0
DEFAULT_SYNC_TIMEOUT = 15.0

MAX_TIMEOUT = 3600.0
"""Seconds a stop or a sync may be given at most.

An hour is far beyond any controller's sync or stop; a larger value is a typo,
and one past what ``select`` accepts would only fail once the soak is running.
"""

WATCH_CLOSE_GRACE = 2.0
"""Seconds a watch may take to close on the server after the client's stop.

The server only learns that a client closed its watch when the socket's FIN
arrives; on loopback that is milliseconds, on a real cluster behind a load
balancer it can be longer.
"""


@dataclass(frozen=True)
class SoakOptions:
    """Everything ``leakhunt soak`` was asked to do."""

    target: str
    scenario: str = "lifecycle"
    cycles: int = 30
    warmup: int | None = None
    objects: int = 200
    namespaces: int = 1
    churn: float = 20.0
    stop_timeout: float = DEFAULT_STOP_TIMEOUT
    sync_timeout: float = DEFAULT_SYNC_TIMEOUT
    kubeconfig: Path | None = None
    context: str | None = None
    tracemalloc: bool = False
    log_dir: Path = field(default_factory=lambda: Path("leakhunt-runs"))
    attribution: bool = True
    deep: bool = False
    deep_cycles: int = DEFAULT_DEEP_CYCLES

    def validate(self) -> None:
        """Raise :class:`UsageError` for options outside the accepted ranges."""
        if self.cycles < MIN_CYCLES:
            raise UsageError(
                f"expected --cycles of at least {MIN_CYCLES}, got {self.cycles}"
            )
        if self.warmup is not None and not 0 <= self.warmup < self.cycles:
            raise UsageError(
                f"expected --warmup between 0 and {self.cycles - 1} (fewer than "
                f"--cycles), got {self.warmup}"
            )
        if self.scenario not in SCENARIOS:
            known = ", ".join(sorted(SCENARIOS))
            raise UsageError(
                f"unknown scenario {self.scenario!r}; choose one of {known}"
            )
        if not 0 <= self.objects <= MAX_OBJECTS:
            raise UsageError(
                f"expected --objects between 0 and {MAX_OBJECTS:,}, got "
                f"{self.objects:,}; a leak shows on a few hundred pods"
            )
        if self.namespaces < 1:
            raise UsageError(
                f"expected --namespaces of 1 or more, got {self.namespaces}"
            )
        # NB: "not 0 < x <= max" also refuses NaN, which compares false.
        if not 0 < self.churn <= MAX_CHURN:
            raise UsageError(
                f"expected a --churn rate above 0 and at most {MAX_CHURN:.0f} "
                f"operations per second, got {self.churn}"
            )
        for flag, value in (
            ("--stop-timeout", self.stop_timeout),
            ("--sync-timeout", self.sync_timeout),
        ):
            if not 0 < value <= MAX_TIMEOUT:
                raise UsageError(
                    f"expected {flag} above 0 and at most {MAX_TIMEOUT:.0f} "
                    f"seconds, got {value}"
                )
        if self.context is not None and self.kubeconfig is None:
            raise UsageError(
                "--context names a context in a kubeconfig; pass --kubeconfig too"
            )
        if self.kubeconfig is not None:
            self._validate_for_a_cluster()
        validate_deep_cycles(self.deep_cycles)

    def _validate_for_a_cluster(self) -> None:
        """Refuse what only the simulator can do, before anything is created."""
        if SCENARIOS[self.scenario].needs_server:
            simulated = ", ".join(
                name for name, scenario in SCENARIOS.items() if scenario.needs_server
            )
            raise UsageError(
                f"the {self.scenario} scenario drives the API server, which only "
                f"the simulator allows ({simulated}); drop --kubeconfig, or "
                "choose another --scenario"
            )
        if self.namespaces != 1:
            raise UsageError(
                f"--namespaces {self.namespaces} spreads the simulator's pods; on "
                "a cluster leakhunt seeds one namespace of its own, so drop "
                "--namespaces or --kubeconfig"
            )


class SoakObserver(Protocol):
    """Progress callbacks of a soak; the CLI draws them, tests may record them."""

    def started(self, options: SoakOptions, server: str) -> None:
        """The world is up and the worker is ready."""

    def cycle_done(self, cycle: int, series: dict[str, list[float]]) -> None:
        """Cycle ``cycle`` (0-based) has been sampled."""

    def explaining(self, cycles: int) -> None:
        """Screening is over; an attribution pass of ``cycles`` traced cycles
        starts (it takes several times as long per cycle)."""


@dataclass
class _Run:
    """The mutable state of one soak: what has been measured so far."""

    series: dict[str, list[float]] = field(default_factory=dict)
    results: list[dict[str, Any]] = field(default_factory=list)
    server: ServerEvidence = field(default_factory=ServerEvidence)
    details: dict[str, Any] = field(default_factory=dict)
    handler_frames: list[dict[str, Any]] = field(default_factory=list)
    busiest_handlers: float = 0.0
    findings: list[Finding] = field(default_factory=list)
    error: dict[str, object] | None = None
    failure: str | None = None
    interrupted: bool = False
    cycles: int = 0

    def record(self, signals: dict[str, float]) -> None:
        """Append one cycle's signals; a signal first seen now is NaN before."""
        for name, value in signals.items():
            values = self.series.setdefault(name, [math.nan] * self.cycles)
            values.append(value)
        self.cycles += 1
        for values in self.series.values():
            if len(values) < self.cycles:
                values.append(math.nan)

    def fail(self, message: str, exc: BaseException) -> None:
        """End the run here: what was measured so far is still reported."""
        self.failure = message
        self.error = {
            "cycle": self.cycles,
            "type": type(exc).__name__,
            "message": message,
            "traceback": "",
        }
        logger.info("Ending the soak: %s.", message)


def run_soak(
    options: SoakOptions,
    observer: SoakObserver | None = None,
    *,
    checkpoint: Callable[[Report], object] | None = None,
) -> Report:
    """Run a soak and return its report (partial if interrupted).

    ``checkpoint`` is given the screening report before the attribution pass
    starts, so that a pass that is killed still leaves the verdict behind
    (``leakhunt soak`` writes it to ``--json`` there, and again at the end).
    """
    options.validate()
    _make_log_dir(options.log_dir)
    run = _Run()
    started = time.monotonic()
    meta: dict[str, object] = {
        "target": options.target,
        "scenario": options.scenario,
        "objects": options.objects,
        "namespaces": options.namespaces,
        "stop_timeout": options.stop_timeout,
    }

    with ExitStack() as stack:
        # NB: on a cluster, a target that cannot be loaded is refused before
        # a namespace is created or a pod seeded.
        world = stack.enter_context(
            open_world(options, before_writes=lambda: check_target(options.target))
        )
        meta["server"] = world.description
        meta["namespace"] = world.namespace
        metrics = ApiServerProbe(world.configuration)
        stack.callback(metrics.close)
        worker = stack.enter_context(
            WorkerProcess.start(options, world, log_dir=options.log_dir)
        )
        meta["worker_log"] = str(worker.log_path)
        if observer is not None:
            observer.started(options, world.description)

        try:
            _drive(options, world, worker, metrics, run=run, observer=observer)
        except KeyboardInterrupt:
            run.interrupted = True
            logger.warning(
                "Interrupted after %d of %d cycles; writing a partial report.",
                run.cycles,
                options.cycles,
            )

    meta["seconds"] = round(time.monotonic() - started, 3)
    meta["interrupted"] = run.interrupted
    if run.failure is not None:
        meta["failure"] = run.failure
    report = _report(options, run, meta)
    # Attribution explains the screening's findings; it never changes them.
    explain = options.attribution and wanted(report, deep=options.deep)
    if explain and not run.interrupted and run.failure is None:
        if checkpoint is not None:
            checkpoint(report)
        if observer is not None:
            observer.explaining(options.deep_cycles)
        run_attribution(options, report, cycles=options.deep_cycles)
    return report


def _make_log_dir(path: Path) -> None:
    """Create the log directory before anything starts, so that one that
    cannot be made is a usage error rather than a failure mid-run."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"cannot create --log-dir {str(path)!r}: {exc.strerror or exc}; "
            "choose a directory you can write to"
        ) from None


def _drive(
    options: SoakOptions,
    world: World,
    worker: WorkerProcess,
    metrics: ApiServerProbe,
    *,
    run: _Run,
    observer: SoakObserver | None,
) -> None:
    reading = metrics.read()
    for cycle in range(options.cycles):
        try:
            message = worker.cycle(cycle)
        except WorkerFailed as exc:
            run.findings.append(exc.finding(cycle))
            run.error = {
                "cycle": cycle,
                "type": type(exc).__name__,
                "message": str(exc),
                "traceback": exc.log_tail,
            }
            return
        except LeakhuntError as exc:
            # The worker gave up on the scenario; a server that has gone away
            # is the likely reason, and then the one to report.
            if _answers(metrics):
                raise
            run.fail(_gone(world, run, exc), exc)
            return

        # The worker is idle now: read what the cycle did on the server side.
        try:
            previous, reading = reading, metrics.read()
            watches = world.open_watches_after_stop(WATCH_CLOSE_GRACE)
            audit = world.audit_since_last()
        except (ServerGone, ServerError) as exc:
            run.fail(_gone(world, run, exc), exc)
            return

        # NB: JSON has no NaN; a signal not measured this cycle arrives as null.
        signals: dict[str, float] = {
            name: math.nan if value is None else float(value)
            for name, value in message["signals"].items()
        }
        signals.update(
            run.server.add_cycle(
                reading.requests_since(previous),
                reading,
                watches,
                cycle_seconds=float(message["cycle_seconds"]),
                audit=audit,
            )
        )
        run.record(signals)
        run.results.append(message["result"])
        share = signals.get("watch_handling_share", math.nan)
        if not math.isnan(share) and share > run.busiest_handlers:
            run.busiest_handlers = share
            run.handler_frames = message["handlers"]["handler_frames"]
        if observer is not None:
            observer.cycle_done(cycle, run.series)

    run.details = worker.details()


def _answers(metrics: ApiServerProbe) -> bool:
    """Whether the API server still answers at all."""
    try:
        metrics.read()
    except ServerGone:
        return False
    except LeakhuntError:
        pass  # a refusal is an answer
    return True


def _gone(world: World, run: _Run, exc: Exception) -> str:
    """The one line for a server that stopped answering between cycles."""
    reason = exc.reason if isinstance(exc, ServerGone) else str(exc)
    return (
        f"the API server at {world.configuration.host} stopped answering after "
        f"{run.cycles} cycles: {reason}"
    )


def _report(options: SoakOptions, run: _Run, meta: dict[str, object]) -> Report:
    report = Report(
        cycles=run.cycles,
        warmup=options.warmup,
        series=run.series,
        error=run.error or first_error(run.results),
        meta=meta,
    )
    report.findings.extend(run.findings)
    if run.cycles >= MIN_CYCLES:
        report.findings.extend(
            judge(
                run.series,
                warmup=options.warmup,
                thresholds=SOAK_THRESHOLDS,
                signals=_soak_signals(),
            )
        )
    report.findings.extend(lifecycle_findings(run.results))
    report.findings.extend(
        handler_findings(run.series.get("watch_handling_share", []), run.handler_frames)
    )
    report.findings.extend(server_findings(run.server, run.cycles))
    report.findings = _best_watch_leak(report.findings)
    attach_details(report.findings, run.details)
    _attach_client_watches(report.findings, run.details)
    report.meta["cycle_results"] = [_summary(result) for result in run.results]
    return report


def _soak_signals() -> SignalRegistry:
    registry = default_signals()
    registry.register(CLIENT_WATCHES)
    return registry


def _best_watch_leak(findings: list[Finding]) -> list[Finding]:
    """Keep one watch-leak finding: the one from the best of its signals.

    The three signals say the same leak with more or less detail (see
    :data:`WATCH_LEAK_SIGNALS`); the best one found stands for them.
    """
    found = {f.signal for f in findings if f.kind == WATCH_LEAK}
    best = next((signal for signal in WATCH_LEAK_SIGNALS if signal in found), None)
    return [
        f
        for f in findings
        if f.kind != WATCH_LEAK
        or f.signal not in WATCH_LEAK_SIGNALS
        or f.signal == best
    ]


def _attach_client_watches(findings: list[Finding], details: dict[str, Any]) -> None:
    """Show the client's open watch responses (URL, socket) with a watch leak."""
    for finding in findings:
        if finding.kind == WATCH_LEAK and details.get("client_watches"):
            finding.evidence.setdefault("client_watches", details["client_watches"])


def _summary(result: dict[str, Any]) -> dict[str, Any]:
    """A cycle's result without its stacks; the findings carry those."""
    return {
        key: value
        for key, value in result.items()
        if key not in {"thread_dump", "pending_tasks"}
    }

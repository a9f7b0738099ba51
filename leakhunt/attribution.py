"""The attribution pass: explain what screening found, with the expensive probes.

Screening (the soak) says *that* memory or objects grow. When it does (or
when asked with ``--deep``), the conductor runs a second, short pass in a
fresh worker against a fresh world: the warm-up cycles screening needed,
untraced, then ``deep_cycles`` cycles under memray and tracemalloc with deep
tracebacks, and at the end the retention chains of the growing types. What
it learns is merged into the findings' evidence and into
``report.meta["attribution"]``; the screening verdict never depends on it.

Anything that goes wrong here (memray missing, a worker killed, a capture
cut short, graphviz absent) becomes a note in the report, never a failed
soak: the user still gets the screening verdict.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from leakhunt.errors import UsageError
from leakhunt.probes.allocations import MAX_SNAPSHOTS, CodeMap
from leakhunt.probes.chains import BOOKKEEPING
from leakhunt.probes.deep import DeepConfig, target_file
from leakhunt.probes.memray_capture import read_capture
from leakhunt.probes.objects import TYPE_SIGNAL_PREFIX
from leakhunt.probes.retention import choose_types
from leakhunt.report.evidence import shown_origins
from leakhunt.report.graph import write_chain_graphs
from leakhunt.report.model import MEMORY_GROWTH, OBJECT_GROWTH, Finding, Report
from leakhunt.worker_process import WorkerFailed, WorkerProcess
from leakhunt.world import open_world

if TYPE_CHECKING:
    from leakhunt.soak import SoakOptions

logger = logging.getLogger(__name__)

DEFAULT_DEEP_CYCLES = 8
"""Traced cycles of the attribution pass: enough for a line fit per site."""

MIN_DEEP_CYCLES = 3
"""A slope needs at least three snapshots."""

MAX_DEEP_CYCLES = MAX_SNAPSHOTS
"""The allocation probe keeps statistics for at most this many snapshots."""

MAX_ATTRIBUTION_WARMUP = 5
"""Untraced cycles at most before tracing starts, whatever screening needed."""

MIN_ATTRIBUTION_WARMUP = 1
"""Untraced cycles at least: imports and one-time caches happen in the first."""

TRACED_SLOWDOWN = 5.0
"""How much longer the first LIST may take under tracing (memray about 2.4x
with Python allocators traced, tracemalloc with deep tracebacks about 5x).
The stop deadline is not stretched: a stop that hangs waits for the
deadline whatever the tracing, and screening has judged stops already."""

TRIGGER_KINDS: tuple[str, ...] = (MEMORY_GROWTH, OBJECT_GROWTH)
"""Findings that start an attribution pass on their own."""

MAX_SITES_PER_FINDING = 5
"""Allocation sites copied into each memory finding's evidence; the full
list is in ``report.meta["attribution"]``."""

ATTRIBUTION_DIR = "attribution"
"""Subdirectory of the log dir for the pass's worker log, capture and graphs."""

CAPTURE_NAME = "memray-leaks.bin"


def validate_deep_cycles(cycles: int) -> None:
    """Raise :class:`UsageError` unless ``cycles`` is an accepted --deep-cycles."""
    if not MIN_DEEP_CYCLES <= cycles <= MAX_DEEP_CYCLES:
        raise UsageError(
            f"expected --deep-cycles between {MIN_DEEP_CYCLES} and "
            f"{MAX_DEEP_CYCLES}, got {cycles}"
        )


def wanted(report: Report, *, deep: bool) -> bool:
    """Whether to run attribution: asked for, or screening found growth."""
    if deep:
        return True
    return any(finding.kind in TRIGGER_KINDS for finding in report.findings)


@dataclass
class Attribution:
    """What one attribution pass learned, and what went wrong on the way."""

    warmup: int
    cycles: int
    cycles_run: int = 0
    seconds: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)
    memray: dict[str, object] | None = None
    graphs: list[dict[str, object]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unreadable: bool = False

    @property
    def status(self) -> str:
        """``complete``, ``partial`` or ``failed``.

        ``partial``: evidence from fewer traced cycles than planned (the pass
        was interrupted), from memray's capture alone (the worker's details
        never came), or with a part of it unreadable; ``failed``: none.
        """
        memray_sites = bool(self.memray and self.memray.get("sites"))
        if not self.details:
            return "partial" if memray_sites else "failed"
        if self.cycles_run < self.warmup + self.cycles or self.unreadable:
            return "partial"
        return "complete"

    @property
    def traced_cycles_run(self) -> int:
        """Cycles run under the expensive probes, after the warm-up."""
        return max(self.cycles_run - self.warmup, 0)

    def to_dict(self) -> dict[str, object]:
        """The pass as ``report.meta["attribution"]``."""
        details = self.details
        return {
            "status": self.status,
            "warmup": self.warmup,
            "cycles": self.cycles,
            "cycles_run": self.cycles_run,
            "traced_cycles_run": self.traced_cycles_run,
            "seconds": round(self.seconds, 3),
            "notes": self.notes,
            "allocation_sites": details.get("allocation_sites", []),
            "allocation_origins": details.get("allocation_origins", []),
            "allocation": {
                key.removeprefix("allocation_"): details[key]
                for key in (
                    "allocation_snapshots",
                    "allocation_frames",
                    "allocation_seconds",
                    "allocation_rules",
                )
                if key in details
            },
            "memray": self.memray,
            "retention": {
                "chains": details.get("retention_chains", []),
                "lead": details.get("retention_lead"),
                "types": details.get("retention_types", []),
                "search": details.get("retention_search"),
                "graphs": self.graphs,
            },
        }


def attribution_warmup(report: Report, options: SoakOptions) -> int:
    """The warm-up screening needed, within the attribution pass's bounds."""
    if options.warmup is not None:
        found = options.warmup
    else:
        found = max(
            (
                int(str(finding.evidence.get("warmup", 0)))
                for finding in report.findings
                if finding.kind in TRIGGER_KINDS
            ),
            default=MIN_ATTRIBUTION_WARMUP,
        )
    return max(MIN_ATTRIBUTION_WARMUP, min(found, MAX_ATTRIBUTION_WARMUP))


def focus_types(findings: Sequence[Finding]) -> tuple[str, ...]:
    """The grown types worth a retention chain, from the object findings."""
    growth = {
        finding.signal.removeprefix(TYPE_SIGNAL_PREFIX): finding.per_cycle
        for finding in findings
        if finding.kind == OBJECT_GROWTH
        and finding.signal.startswith(TYPE_SIGNAL_PREFIX)
    }
    return tuple(choose_types(growth))


def run_attribution(
    options: SoakOptions, report: Report, *, cycles: int = DEFAULT_DEEP_CYCLES
) -> Attribution:
    """Run the attribution pass for ``report`` and merge it into the report.

    Never raises for a failed pass: the failure is a note in
    ``report.meta["attribution"]`` and the screening findings stand. Ctrl-C
    during the traced cycles ends the pass after the cycle in flight, with
    the evidence of the cycles run; a second Ctrl-C abandons it.
    """
    result = Attribution(warmup=attribution_warmup(report, options), cycles=cycles)
    directory = options.log_dir.resolve() / ATTRIBUTION_DIR
    code = CodeMap.default(target_file(options.target))
    started = time.monotonic()
    logger.info(
        "Attribution: %d untraced warm-up cycles, then %d traced cycles of %s.",
        result.warmup,
        cycles,
        options.target,
    )

    # First, the cycles, and the evidence the worker sends at the end.
    try:
        with _deferred_interrupt() as interrupt:
            _run_pass(options, report, result, directory, interrupt)
    except KeyboardInterrupt:
        result.notes.append(
            "Attribution was interrupted before its evidence was collected; "
            "there is none."
        )
    except Exception as exc:  # the screening verdict must survive any of it
        _could_not(result, "Attribution could not run", exc)

    # Then what the worker sent, read piece by piece: a piece that cannot
    # be read is a note, and the others still count.
    try:
        result.memray = _memray_evidence(result, directory, code)
    except Exception as exc:
        _could_not(result, "The memray capture could not be read", exc)
        result.memray = None
    if result.memray is not None and result.memray.get("note"):
        result.notes.append(str(result.memray["note"]))
    try:
        result.graphs, graph_notes = write_chain_graphs(
            result.details.get("retention_chains", []), directory
        )
        result.notes.extend(graph_notes)
    except Exception as exc:
        _could_not(result, "The chain graphs could not be written", exc)

    result.seconds = time.monotonic() - started
    try:
        merge(report, result)
    except Exception as exc:
        _could_not(result, "The attribution worker's evidence could not be read", exc)
        result.details, result.memray, result.graphs = {}, None, []
        merge(report, result)
    return result


def _could_not(result: Attribution, what: str, exc: Exception) -> None:
    """Note a failed step of the pass; the traceback goes to the debug log."""
    result.unreadable = True
    result.notes.append(
        f"{what} ({type(exc).__name__}: {exc}); the screening verdict stands. "
        "Run with -vv for the details."
    )
    logger.warning("%s: %s", what, exc)
    logger.debug("%s.", what, exc_info=exc)


def _run_pass(
    options: SoakOptions,
    report: Report,
    result: Attribution,
    directory: Path,
    interrupt: _Interrupt,
) -> None:
    traced = replace(
        options,
        sync_timeout=options.sync_timeout * TRACED_SLOWDOWN,
        log_dir=directory,
    )
    config = DeepConfig(
        start_after=result.warmup,
        capture=str(directory / CAPTURE_NAME),
        focus=focus_types(report.findings),
        target=options.target,
    )
    planned = result.warmup + result.cycles

    with ExitStack() as stack:
        world = stack.enter_context(open_world(traced))
        worker = stack.enter_context(
            WorkerProcess.start(
                traced, world, log_dir=directory, attribution=config.to_dict()
            )
        )
        report.meta.setdefault("attribution_worker_log", str(worker.log_path))
        for cycle in range(planned):
            try:
                worker.cycle(cycle)
            except WorkerFailed as exc:
                result.notes.append(
                    f"The attribution worker failed in cycle {cycle}: {exc}. "
                    f"See {worker.log_path}."
                )
                return
            result.cycles_run += 1
            if interrupt.requested and result.cycles_run < planned:
                break

        if result.cycles_run < planned:
            result.notes.append(
                f"Attribution was interrupted after {result.cycles_run} of "
                f"{planned} cycles; its evidence covers the "
                f"{result.traced_cycles_run} traced cycles run."
            )
            if result.traced_cycles_run == 0:
                return
        result.details = worker.details()
        if not result.details:
            result.notes.append(
                f"The attribution worker sent no evidence; see {worker.log_path}."
            )


def _memray_evidence(
    result: Attribution, directory: Path, code: CodeMap
) -> dict[str, object] | None:
    """The memray capture's leaked sites, or a note saying why there are none."""
    memray = result.details.get("memray")
    if isinstance(memray, Mapping) and memray.get("state") != "complete":
        error = memray.get("error") or f"the capture is {memray.get('state')}"
        return {"path": memray.get("path"), "sites": [], "note": str(error)}
    if isinstance(memray, Mapping):
        return read_capture(
            Path(str(memray["path"])), cycles=int(str(memray["cycles"])), code=code
        )

    # No details (the worker died, or never answered): a capture memray
    # finished before that still counts.
    capture = directory / CAPTURE_NAME
    if not capture.exists():
        return None
    return read_capture(capture, cycles=max(result.traced_cycles_run, 1), code=code)


@dataclass
class _Interrupt:
    """Whether Ctrl-C asked the pass to end after the cycle in flight."""

    requested: bool = False


@contextmanager
def _deferred_interrupt() -> Iterator[_Interrupt]:
    """Turn the first Ctrl-C into a request to stop after the cycle in flight.

    NB: only the main thread can handle signals; elsewhere (and where Ctrl-C
    is ignored) Ctrl-C keeps its usual meaning. The second Ctrl-C gets the
    handler there was before, so it interrupts at once.
    """
    interrupt = _Interrupt()
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or previous in (
        signal.SIG_IGN,
        None,
    ):
        yield interrupt
        return

    def request_stop(signum: int, frame: FrameType | None) -> None:
        interrupt.requested = True
        signal.signal(signal.SIGINT, previous)
        logger.warning(
            "Ending the attribution pass after this cycle; press Ctrl-C again "
            "to abandon it."
        )

    signal.signal(signal.SIGINT, request_stop)
    try:
        yield interrupt
    finally:
        signal.signal(signal.SIGINT, previous)


def merge(report: Report, result: Attribution) -> None:
    """Copy the pass's evidence into the report and its growth findings.

    Everything is worked out before the report changes, so that evidence
    that cannot be read leaves the report as it was.
    """
    summary = result.to_dict()
    updates = [
        (finding, _evidence_for(finding, summary, result.memray or {}))
        for finding in report.findings
    ]

    report.meta["attribution"] = summary
    for finding, evidence in updates:
        finding.evidence.update(evidence)


def _evidence_for(
    finding: Finding, summary: Mapping[str, Any], memray: Mapping[str, object]
) -> dict[str, object]:
    """The evidence the pass adds to one finding."""
    evidence: dict[str, object] = {}
    if finding.kind not in TRIGGER_KINDS:
        return evidence

    retention = summary["retention"]
    lead = retention.get("lead")
    is_type = finding.signal.startswith(TYPE_SIGNAL_PREFIX)
    if is_type:
        # A type's own chain, unless only bookkeeping holds it: then the
        # holder to cut is the leading chain's.
        kind = finding.signal.removeprefix(TYPE_SIGNAL_PREFIX)
        own = next(
            (chain for chain in retention["chains"] if chain["type"] == kind), None
        )
        chain = own if own and own.get("tier") != BOOKKEEPING else lead
    else:
        chain = lead
    if chain:
        evidence["retention_chain"] = chain
    if is_type:
        return evidence

    if summary["allocation_sites"]:
        evidence["allocation_sites"] = summary["allocation_sites"][
            :MAX_SITES_PER_FINDING
        ]
    if summary["allocation_origins"]:
        # The target's own line comes along even when it is not among the
        # fastest: the report shows it after them.
        evidence["allocation_origins"] = shown_origins(
            summary["allocation_origins"], MAX_SITES_PER_FINDING
        )
    memray_sites = memray.get("sites")
    if (
        finding.kind == MEMORY_GROWTH
        and isinstance(memray_sites, list)
        and memray_sites
    ):
        evidence["memray_sites"] = list(memray_sites[:MAX_SITES_PER_FINDING])
        evidence["memray_command"] = memray.get("command")
    return evidence

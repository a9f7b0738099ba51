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
import time
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError
from leakhunt.errors import LeakhuntError, UsageError
from leakhunt.probes.allocations import MAX_SNAPSHOTS, CodeMap
from leakhunt.probes.deep import DeepConfig, target_file
from leakhunt.probes.memray_capture import read_capture
from leakhunt.probes.objects import TYPE_SIGNAL_PREFIX
from leakhunt.probes.retention import choose_types
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

    @property
    def status(self) -> str:
        """``complete``, ``partial`` (some evidence, some notes) or ``failed``."""
        if not self.details:
            return "failed"
        return "complete" if self.cycles_run == self.warmup + self.cycles else "partial"

    def to_dict(self) -> dict[str, object]:
        """The pass as ``report.meta["attribution"]``."""
        details = self.details
        return {
            "status": self.status,
            "warmup": self.warmup,
            "cycles": self.cycles,
            "cycles_run": self.cycles_run,
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
    ``report.meta["attribution"]`` and the screening findings stand.
    """
    result = Attribution(warmup=attribution_warmup(report, options), cycles=cycles)
    directory = options.log_dir.resolve() / ATTRIBUTION_DIR
    started = time.monotonic()
    logger.info(
        "Attribution: %d untraced warm-up cycles, then %d traced cycles of %s.",
        result.warmup,
        cycles,
        options.target,
    )

    try:
        _run_pass(options, report, result, directory)
    except KeyboardInterrupt:
        result.notes.append("Attribution was interrupted; its evidence is partial.")
    except (LeakhuntError, HarnessError, OSError) as exc:
        result.notes.append(f"Attribution could not run: {exc}")
        logger.warning("The attribution pass failed: %s", exc)

    if result.memray is None:
        capture = directory / CAPTURE_NAME
        if capture.exists():
            result.memray = read_capture(
                capture,
                cycles=max(result.cycles_run, 1),
                code=CodeMap.default(target_file(options.target)),
            )
    if result.memray is not None and result.memray.get("note"):
        result.notes.append(str(result.memray["note"]))

    result.graphs, graph_notes = write_chain_graphs(
        result.details.get("retention_chains", []), directory
    )
    result.notes.extend(graph_notes)
    result.seconds = time.monotonic() - started
    merge(report, result)
    return result


def _run_pass(
    options: SoakOptions, report: Report, result: Attribution, directory: Path
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

    with ExitStack() as stack:
        world = stack.enter_context(open_world(traced))
        worker = stack.enter_context(
            WorkerProcess.start(
                traced, world, log_dir=directory, attribution=config.to_dict()
            )
        )
        report.meta.setdefault("attribution_worker_log", str(worker.log_path))
        for cycle in range(result.warmup + result.cycles):
            try:
                worker.cycle(cycle)
            except WorkerFailed as exc:
                result.notes.append(
                    f"The attribution worker failed in cycle {cycle}: {exc}. "
                    f"See {worker.log_path}."
                )
                return
            result.cycles_run += 1

        result.details = worker.details()
        if not result.details:
            result.notes.append(
                f"The attribution worker sent no evidence; see {worker.log_path}."
            )

    memray = result.details.get("memray")
    if isinstance(memray, Mapping) and memray.get("state") != "complete":
        error = memray.get("error") or f"the capture is {memray.get('state')}"
        result.memray = {"path": memray.get("path"), "sites": [], "note": str(error)}
    elif isinstance(memray, Mapping):
        result.memray = read_capture(
            Path(str(memray["path"])),
            cycles=int(str(memray.get("cycles") or 1)),
            code=CodeMap.default(target_file(options.target)),
        )


def merge(report: Report, result: Attribution) -> None:
    """Copy the pass's evidence into the report and its growth findings."""
    summary = result.to_dict()
    report.meta["attribution"] = summary

    sites = summary["allocation_sites"]
    memray = result.memray or {}
    retention = summary["retention"]
    assert isinstance(retention, dict)
    chains = {
        str(chain["type"]): chain
        for chain in retention.get("chains", [])
        if isinstance(chain, dict)
    }
    lead = retention.get("lead")

    origins = summary["allocation_origins"]
    for finding in report.findings:
        if finding.kind == MEMORY_GROWTH:
            if isinstance(sites, list) and sites:
                finding.evidence["allocation_sites"] = sites[:MAX_SITES_PER_FINDING]
            if isinstance(origins, list) and origins:
                finding.evidence["allocation_origins"] = origins[:MAX_SITES_PER_FINDING]
            memray_sites = memray.get("sites")
            if isinstance(memray_sites, list) and memray_sites:
                finding.evidence["memray_sites"] = memray_sites[:MAX_SITES_PER_FINDING]
                finding.evidence["memray_command"] = memray.get("command")
            if lead:
                finding.evidence["retention_chain"] = lead
        elif finding.kind == OBJECT_GROWTH:
            kind = finding.signal.removeprefix(TYPE_SIGNAL_PREFIX)
            chain = chains.get(kind) or lead
            if chain:
                finding.evidence["retention_chain"] = chain
            if finding.signal.startswith(TYPE_SIGNAL_PREFIX):
                continue
            if isinstance(sites, list) and sites:
                finding.evidence["allocation_sites"] = sites[:MAX_SITES_PER_FINDING]
            if isinstance(origins, list) and origins:
                finding.evidence["allocation_origins"] = origins[:MAX_SITES_PER_FINDING]

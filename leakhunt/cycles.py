"""The cycle runner: run a callable many times, settle, sample, and judge.

Settling and sampling live in :mod:`leakhunt.sampler`, which a worker
process imports without the analysis; :class:`Settle`, :class:`Sample` and
:class:`Sampler` are re-exported here for the code that imported them from
this module.
"""

from __future__ import annotations

import importlib.metadata
import logging
import platform
import statistics
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NoReturn

import numpy as np

from leakhunt.analysis.series import SeriesRecorder
from leakhunt.analysis.signals import SignalRegistry
from leakhunt.analysis.thresholds import Thresholds
from leakhunt.analysis.trend import MIN_TREND_POINTS
from leakhunt.analysis.verdict import attach_details, judge
from leakhunt.errors import UsageError
from leakhunt.probes.base import Probe
from leakhunt.report.model import (
    STAGE_CYCLE,
    STAGE_DETAILS,
    STAGE_ON_SAMPLE,
    STAGE_SAMPLE,
    Report,
)
from leakhunt.sampler import Sample, Sampler, Settle

__all__ = [
    "DEFAULT_CYCLES",
    "MIN_CYCLES",
    "Sample",
    "Sampler",
    "Settle",
    "run_cycles",
    "validate_options",
    "validate_run",
]

logger = logging.getLogger(__name__)

MIN_CYCLES = MIN_TREND_POINTS
"""Fewer cycles than this cannot give a trend."""

DEFAULT_CYCLES = 30

PROBE_MEMBERS = ("name", "start", "sample", "details", "stop")
"""What an object needs to be used as a probe (see :class:`Probe`)."""


def validate_run(cycles: int, warmup: int | None) -> None:
    """Check ``cycles`` and ``warmup``, raising :class:`UsageError` naming the range."""
    if isinstance(cycles, bool) or not isinstance(cycles, int):
        raise UsageError(
            f"expected cycles as a whole number such as cycles=30, got {cycles!r} "
            f"({type(cycles).__name__})"
        )
    if cycles < MIN_CYCLES:
        raise UsageError(
            f"expected at least {MIN_CYCLES} cycles (a trend needs {MIN_CYCLES} "
            f"points), got {cycles!r}"
        )
    if warmup is None:
        return

    if isinstance(warmup, bool) or not isinstance(warmup, int):
        raise UsageError(
            f"expected warmup as a whole number of cycles, or None to detect it, "
            f"got {warmup!r} ({type(warmup).__name__})"
        )
    highest = cycles - MIN_TREND_POINTS
    if not 0 <= warmup <= highest:
        raise UsageError(
            f"expected a warm-up between 0 and {highest} for {cycles} cycles "
            f"(at least {MIN_TREND_POINTS} cycles must be left to judge), "
            f"or None to detect it, got {warmup!r}"
        )


def validate_options(
    fn: object,
    *,
    tracemalloc: object = False,
    thresholds: object = None,
    probes: object = None,
    settle: object = None,
    signals: object = None,
    on_sample: object = None,
    meta: object = None,
) -> None:
    """Check the types of :func:`run_cycles`'s arguments before any cycle runs.

    A wrong type found only after the last cycle would cost the whole run, so
    each is checked up front and refused with a :class:`UsageError` that
    names the value and shows the accepted form.
    """
    if not callable(fn):
        _refuse(fn, "a callable to run each cycle, as in run_cycles(reconcile)")
    if not isinstance(tracemalloc, bool):
        _refuse(tracemalloc, "tracemalloc=True or False")
    if thresholds is not None and not isinstance(thresholds, Thresholds):
        hint = (
            f"; write thresholds=leakhunt.Thresholds(**{thresholds!r})"
            if isinstance(thresholds, Mapping)
            else ""
        )
        _refuse(thresholds, "thresholds=leakhunt.Thresholds(...)", hint)
    if signals is not None and not isinstance(signals, SignalRegistry):
        _refuse(signals, "signals=leakhunt.default_signals() or a SignalRegistry")
    if settle is not None and not isinstance(settle, Settle):
        _refuse(settle, "settle=leakhunt.Settle(...)")
    if on_sample is not None and not callable(on_sample):
        _refuse(on_sample, "on_sample as a function of (cycle, sample)")
    if meta is not None and not isinstance(meta, Mapping):
        _refuse(meta, "meta as a dict of JSON values")
    if probes is None:
        return

    if isinstance(probes, str | bytes) or not isinstance(probes, Sequence):
        _refuse(probes, "probes as a list, such as leakhunt.default_probes()")
    for probe in probes:
        missing = [name for name in PROBE_MEMBERS if not hasattr(probe, name)]
        if missing:
            _refuse(
                probe,
                f"every probe to have {', '.join(PROBE_MEMBERS)}",
                f"; this one lacks {', '.join(missing)}",
            )


def _refuse(value: object, expected: str, hint: str = "") -> NoReturn:
    raise UsageError(
        f"expected {expected}, got {value!r} ({type(value).__name__}){hint}"
    )


def run_cycles(
    fn: Callable[[], object],
    *,
    cycles: int = DEFAULT_CYCLES,
    warmup: int | None = None,
    tracemalloc: bool = False,
    thresholds: Thresholds | None = None,
    probes: Sequence[Probe] | None = None,
    settle: Settle | None = None,
    signals: SignalRegistry | None = None,
    on_sample: Callable[[int, Sample], None] | None = None,
    meta: Mapping[str, object] | None = None,
) -> Report:
    """Run ``fn`` ``cycles`` times, sample after each, and judge the series.

    Between cycles the process settles (see :class:`Settle`) and every probe
    is sampled; ``on_sample(cycle, sample)`` is called after each. Arguments
    of the wrong type are refused with a :class:`UsageError` before the
    first cycle. If ``fn``, a probe or ``on_sample`` raises in cycle k, the
    run stops there: the report keeps the samples taken, judges them, and
    records the cycle, the stage and the traceback in ``error``.
    ``tracemalloc=True`` adds traced-memory signals (about 2-3x slower on
    allocation-heavy code). ``probes`` replaces the default probe set.
    """
    validate_options(
        fn,
        tracemalloc=tracemalloc,
        thresholds=thresholds,
        probes=probes,
        settle=settle,
        signals=signals,
        on_sample=on_sample,
        meta=meta,
    )
    validate_run(cycles, warmup)
    sampler = Sampler(probes, settle, tracemalloc=tracemalloc)
    recorder = SeriesRecorder(cycles)
    timings = _Timings.for_cycles(cycles)
    error: dict[str, object] | None = None
    started = time.perf_counter()

    sampler.start()
    try:
        for cycle in range(1, cycles + 1):
            stage = STAGE_CYCLE
            try:
                began = time.perf_counter()
                fn()
                timings.cycle[cycle - 1] = time.perf_counter() - began

                stage = STAGE_SAMPLE
                sample = sampler.take()
                recorder.record(cycle - 1, sample.signals)
                timings.settle[cycle - 1] = sample.settle_seconds
                timings.sample[cycle - 1] = sample.sample_seconds

                stage = STAGE_ON_SAMPLE
                if on_sample is not None:
                    on_sample(cycle, sample)
            except Exception as exc:
                error = _describe_error(cycle, stage, exc)
                logger.error(
                    "Cycle %d of %s stopped the run: %s raised %s: %s; %d cycles "
                    "were sampled.",
                    cycle,
                    _name_of(fn),
                    stage,
                    type(exc).__name__,
                    exc,
                    recorder.count,
                )
                break
            del sample

        series = recorder.series()
        findings = judge(series, warmup=warmup, thresholds=thresholds, signals=signals)
        if findings:
            try:
                attach_details(findings, sampler.details())
            except Exception as exc:
                logger.error(
                    "A probe's details() raised %s: %s.", type(exc).__name__, exc
                )
                error = error or _describe_error(recorder.count, STAGE_DETAILS, exc)
    finally:
        sampler.stop()

    report = Report(
        cycles=recorder.count,
        warmup=warmup,
        findings=findings,
        series=series,
        error=error,
        meta={
            "target": _name_of(fn),
            "tracemalloc": tracemalloc,
            "probes": [probe.name for probe in sampler.probes],
            "python": platform.python_version(),
            "leakhunt": _version(),
            "seconds": timings.summary(time.perf_counter() - started),
            **(meta or {}),
        },
    )
    logger.info(
        "Ran %s for %d cycles: %s with %d finding(s).",
        _name_of(fn),
        report.cycles,
        report.verdict,
        len(report.findings),
    )
    return report


@dataclass
class _Timings:
    cycle: np.ndarray = field(default_factory=lambda: np.empty(0))
    settle: np.ndarray = field(default_factory=lambda: np.empty(0))
    sample: np.ndarray = field(default_factory=lambda: np.empty(0))

    @classmethod
    def for_cycles(cls, cycles: int) -> _Timings:
        return cls(
            cycle=np.full(cycles, np.nan),
            settle=np.full(cycles, np.nan),
            sample=np.full(cycles, np.nan),
        )

    def summary(self, total: float) -> dict[str, float | None]:
        return {
            "total": total,
            "cycle_median": _median(self.cycle),
            "settle_median": _median(self.settle),
            "sample_median": _median(self.sample),
        }


def _median(values: np.ndarray) -> float | None:
    finite = values[np.isfinite(values)]
    return float(statistics.median(finite.tolist())) if len(finite) else None


def _describe_error(cycle: int, stage: str, exc: BaseException) -> dict[str, object]:
    # NB: keep text, not the exception: its traceback holds every frame of
    # the failed cycle, and a leak hunter must not keep those alive.
    return {
        "cycle": cycle,
        "stage": stage,
        "type": f"{type(exc).__module__}.{type(exc).__qualname__}",
        "message": str(exc),
        "traceback": "".join(traceback.format_exception(exc)),
    }


def _name_of(fn: Callable[..., object]) -> str:
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    if module and qualname:
        return f"{module}:{qualname}"
    return repr(fn)


def _version() -> str:
    try:
        return importlib.metadata.version("leakhunt")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"

"""The cycle runner: run a callable many times, settle, sample, and judge."""

from __future__ import annotations

import gc
import importlib.metadata
import logging
import platform
import statistics
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from leakhunt.analysis.series import SeriesRecorder
from leakhunt.analysis.signals import SignalRegistry
from leakhunt.analysis.thresholds import Thresholds
from leakhunt.analysis.trend import MIN_TREND_POINTS
from leakhunt.analysis.verdict import attach_details, judge
from leakhunt.errors import UsageError
from leakhunt.probes.base import Probe, default_probes
from leakhunt.report.model import Report

logger = logging.getLogger(__name__)

MIN_CYCLES = MIN_TREND_POINTS
"""Fewer cycles than this cannot give a trend."""

DEFAULT_CYCLES = 30


@dataclass(frozen=True)
class Settle:
    """How the process is let settle before each sample.

    First, threads that were told to stop get up to ``thread_wait`` seconds
    to finish (polled every ``poll_interval``), until no more threads are
    alive than at the previous sample. Then ``gc.collect()`` runs until a
    pass finds nothing unreachable, at most ``max_collections`` times,
    because finalizers and weakref callbacks can free more on the next pass.
    """

    thread_wait: float = 0.5
    poll_interval: float = 0.01
    max_collections: int = 5


@dataclass
class Sample:
    """The signals of one settled cycle, with what settling and sampling cost."""

    cycle: int
    signals: dict[str, float]
    settle_seconds: float = 0.0
    sample_seconds: float = 0.0
    collections: int = 0

    def to_dict(self) -> dict[str, object]:
        """Return the sample as a JSON-able dict (to stream it between processes)."""
        return {
            "cycle": self.cycle,
            "signals": self.signals,
            "settle_seconds": self.settle_seconds,
            "sample_seconds": self.sample_seconds,
            "collections": self.collections,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Sample:
        """Rebuild a sample from :meth:`to_dict`'s output."""
        values = data["signals"]
        if not isinstance(values, Mapping):
            raise TypeError(
                f"expected the sample's signals as a mapping, got {values!r}"
            )
        return cls(
            cycle=int(str(data["cycle"])),
            signals={str(k): float(v) for k, v in values.items()},
            settle_seconds=float(str(data.get("settle_seconds", 0.0))),
            sample_seconds=float(str(data.get("sample_seconds", 0.0))),
            collections=int(str(data.get("collections", 0))),
        )


class Sampler:
    """Settles the process and samples every probe, once per cycle.

    ``start()`` settles and lets each probe take its baseline; ``take()``
    settles and merges every probe's ``sample()`` into one :class:`Sample`;
    ``details()`` gathers the probes' evidence for the latest sample;
    ``stop()`` releases the probes. Usable on its own, e.g. in a worker
    process that streams samples to a conductor.
    """

    def __init__(
        self,
        probes: Sequence[Probe] | None = None,
        settle: Settle | None = None,
        *,
        tracemalloc: bool = False,
    ) -> None:
        """Create a sampler; ``probes`` defaults to :func:`default_probes`."""
        self.probes: list[Probe] = (
            list(probes)
            if probes is not None
            else default_probes(tracemalloc=tracemalloc)
        )
        self.settle = settle if settle is not None else Settle()
        self._taken = 0
        self._reference_threads = 0
        self._started = False

    def start(self) -> None:
        """Settle, then let every probe take its baseline."""
        self._reference_threads = threading.active_count()
        self._settle()
        for probe in self.probes:
            probe.start()
        self._started = True
        logger.debug(
            "Started sampling with probes %s.", ", ".join(p.name for p in self.probes)
        )

    def take(self) -> Sample:
        """Settle, sample every probe, and return the merged sample."""
        if not self._started:
            raise RuntimeError("Sampler.take() called before Sampler.start()")

        began = time.perf_counter()
        collections = self._settle()
        settled = time.perf_counter()

        values: dict[str, float] = {}
        for probe in self.probes:
            values.update(probe.sample())
        for probe in self.probes:
            rearm = getattr(probe, "rearm", None)
            if rearm is not None:
                rearm()

        self._taken += 1
        self._reference_threads = threading.active_count()
        return Sample(
            cycle=self._taken,
            signals=values,
            settle_seconds=settled - began,
            sample_seconds=time.perf_counter() - settled,
            collections=collections,
        )

    def details(self) -> dict[str, object]:
        """Merge every probe's evidence for the latest sample."""
        merged: dict[str, object] = {}
        for probe in self.probes:
            merged.update(probe.details())
        return merged

    def stop(self) -> None:
        """Stop every probe, in reverse order of starting."""
        for probe in reversed(self.probes):
            probe.stop()
        self._started = False

    def _settle(self) -> int:
        # First, give threads that were told to stop a bounded moment to end.
        deadline = time.monotonic() + self.settle.thread_wait
        while (
            threading.active_count() > self._reference_threads
            and time.monotonic() < deadline
        ):
            time.sleep(self.settle.poll_interval)

        # Then collect until a pass finds nothing more to free.
        rounds = 0
        while rounds < self.settle.max_collections:
            rounds += 1
            if gc.collect() == 0:
                break
        return rounds


def validate_run(cycles: int, warmup: int | None) -> None:
    """Check ``cycles`` and ``warmup``, raising :class:`UsageError` naming the range."""
    if isinstance(cycles, bool) or not isinstance(cycles, int) or cycles < MIN_CYCLES:
        raise UsageError(
            f"expected at least {MIN_CYCLES} cycles (a trend needs {MIN_CYCLES} "
            f"points), got {cycles!r}"
        )
    if warmup is None:
        return

    highest = cycles - MIN_TREND_POINTS
    if (
        isinstance(warmup, bool)
        or not isinstance(warmup, int)
        or not 0 <= warmup <= highest
    ):
        raise UsageError(
            f"expected a warm-up between 0 and {highest} for {cycles} cycles "
            f"(at least {MIN_TREND_POINTS} cycles must be left to judge), "
            f"or None to detect it, got {warmup!r}"
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
    is sampled; ``on_sample(cycle, sample)`` is called after each. If ``fn``
    raises in cycle k, the run stops there: the report keeps the k-1 samples
    taken, judges them, and records the cycle and traceback in ``error``.
    ``tracemalloc=True`` adds traced-memory signals (about 2-3x slower on
    allocation-heavy code). ``probes`` replaces the default probe set.
    """
    validate_run(cycles, warmup)
    sampler = Sampler(probes, settle, tracemalloc=tracemalloc)
    recorder = SeriesRecorder(cycles)
    timings = _Timings.for_cycles(cycles)
    error: dict[str, object] | None = None
    started = time.perf_counter()

    sampler.start()
    try:
        for cycle in range(1, cycles + 1):
            began = time.perf_counter()
            try:
                fn()
            except Exception as exc:
                error = _describe_error(cycle, exc)
                logger.error(
                    "Cycle %d of %s raised %s: %s; stopping the run after %d "
                    "completed cycles.",
                    cycle,
                    _name_of(fn),
                    type(exc).__name__,
                    exc,
                    cycle - 1,
                )
                break
            timings.cycle[cycle - 1] = time.perf_counter() - began

            sample = sampler.take()
            recorder.record(cycle - 1, sample.signals)
            timings.settle[cycle - 1] = sample.settle_seconds
            timings.sample[cycle - 1] = sample.sample_seconds
            if on_sample is not None:
                on_sample(cycle, sample)
            del sample

        series = recorder.series()
        findings = judge(series, warmup=warmup, thresholds=thresholds, signals=signals)
        if findings:
            attach_details(findings, sampler.details())
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


def _describe_error(cycle: int, exc: BaseException) -> dict[str, object]:
    # NB: keep text, not the exception: its traceback holds every frame of
    # the failed cycle, and a leak hunter must not keep those alive.
    return {
        "cycle": cycle,
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

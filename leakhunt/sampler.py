"""Settling the process and sampling every probe, once per cycle.

This is the part of a run that lives in the measured process: the worker of
a soak, or the process :func:`leakhunt.run_cycles` runs in. It imports no
analysis, and so neither numpy nor scipy: their tens of thousands of
GC-tracked objects would sit in the heap that is measured, and every full
collection, the settle's and the controller's own, would walk them.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from leakhunt.probes.base import Probe, default_probes

logger = logging.getLogger(__name__)


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

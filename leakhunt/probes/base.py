"""The protocol every probe follows, and the set of probes a run uses by default."""

from __future__ import annotations

import logging
from typing import Protocol, runtime_checkable

from leakhunt.probes.objects import ObjectsProbe
from leakhunt.probes.process import ProcessProbe
from leakhunt.probes.pyheap import HeapProbe

logger = logging.getLogger(__name__)


@runtime_checkable
class Probe(Protocol):
    """A source of per-cycle signals, sampled after every cycle has settled.

    ``sample()`` returns named scalars (``rss_bytes``, ``threads``,
    ``objects.<type>``); the names are looked up in
    :mod:`leakhunt.analysis.signals` to decide how each series is judged.
    ``details()`` returns JSON-able evidence for the latest sample (thread
    stacks, fd targets, socket endpoints, top types); it may be slower than
    ``sample()`` and is only called when a run wants evidence.

    A probe may also define ``rearm() -> None``: the sampler calls it once
    every probe has sampled, right before the next cycle runs, so that
    per-cycle state such as a peak covers the cycle and not the sampling.
    """

    name: str

    def start(self) -> None:
        """Take the baseline; called once, after the process has settled."""

    def sample(self) -> dict[str, float]:
        """Return this cycle's signals."""

    def details(self) -> dict[str, object]:
        """Return JSON-able evidence for the latest sample."""

    def stop(self) -> None:
        """Release whatever ``start()`` acquired."""


def default_probes(*, tracemalloc: bool = False) -> list[Probe]:
    """Return the cheap probes every run uses: Python heap, process, objects.

    The heap probe comes first so that it reads the heap before the other
    probes allocate their temporaries. ``tracemalloc`` turns on traced-memory
    signals, which cost about 2-3x on allocation-heavy code.
    """
    return [HeapProbe(tracemalloc=tracemalloc), ProcessProbe(), ObjectsProbe()]

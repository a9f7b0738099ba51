"""Objects probe: the garbage collector's object count and live objects per type."""

from __future__ import annotations

import gc
import heapq
import logging
from collections import Counter
from collections.abc import Iterable

logger = logging.getLogger(__name__)

TYPE_SIGNAL_PREFIX = "objects."
"""Per-type signals are named ``objects.<module>.<qualified name>``."""

TOP_TYPES = 10
"""The most numerous types are always tracked, so a run shows its bulk."""

MAX_TRACKED_TYPES = 200
"""Cap on per-type series; beyond it growth is still seen in ``gc_objects``."""

MAX_TYPES_IN_DETAILS = 20
"""Types listed in ``details()``, most numerous and fastest-growing first."""

DEFAULT_WATCH_LIST: tuple[str, ...] = (
    # Kubernetes models are what an informer cache holds; a leaked cache shows
    # up here first, in the type the user knows.
    "kubernetes.client.models.",
    "kubernetes_asyncio.client.models.",
    # Watches, API clients and connection pools are what lifecycle bugs leave
    # behind after a stop.
    "kubernetes.watch.",
    "kubernetes.client.api_client.ApiClient",
    "urllib3.connectionpool.",
    "urllib3.response.HTTPResponse",
    "aiohttp.client.ClientSession",
    "aiohttp.client_reqrep.ClientResponse",
    # The containers caches are built from, and the thread objects themselves.
    "builtins.dict",
    "builtins.list",
    "threading.Thread",
    "asyncio.",
    "_asyncio.Task",
    "_asyncio.Future",
)
"""Type names (or prefixes ending in ``.``) tracked whenever they have instances."""


def type_name(cls: type) -> str:
    """Return the qualified name a per-type signal uses: ``module.QualName``."""
    return f"{cls.__module__}.{cls.__qualname__}"


def count_types(objects: Iterable[object]) -> dict[str, int]:
    """Count objects per qualified type name, at C speed.

    ``Counter(map(type, ...))`` counts in C and hashes type objects by
    address; only the few thousand distinct types are then named in Python.
    On a heap of 1M objects this is several times faster than
    ``objgraph.typestats``, which names every object (see
    ``benchmarks/overhead.py``).
    """
    by_type = Counter(map(type, objects))
    by_name: dict[str, int] = {}
    for cls, count in by_type.items():
        name = type_name(cls)
        # NB: distinct classes can share a name (a class made per call); their
        # instances add up, which is what a leak of such classes looks like.
        by_name[name] = by_name.get(name, 0) + count
    return by_name


def count_live_types() -> dict[str, int]:
    """Count every object the garbage collector tracks, per type name."""
    objects = gc.get_objects()
    try:
        return count_types(objects)
    finally:
        # NB: the list holds a reference to every object in the process;
        # drop it before anything else runs.
        del objects


class ObjectsProbe:
    """A probe of live objects: ``gc_objects`` and ``objects.<type>`` counts.

    One walk over ``gc.get_objects()`` gives both. Per-type series are chosen
    afresh at every sample, so the probe's state never grows with the run:
    the watch-list, the most numerous types, and every type with more live
    instances than at ``start()`` (at most :data:`MAX_TRACKED_TYPES` of them,
    those grown most first). A user class leaking one instance per cycle is
    therefore reported from its first growth for as long as it stays above
    its baseline; a type that came and went leaves no series behind. Counts
    are keyed by name, never by type object, so the probe does not keep
    classes alive. The only state is the baseline and the latest counts.
    """

    name = "objects"

    def __init__(
        self,
        *,
        watch_list: Iterable[str] = DEFAULT_WATCH_LIST,
        top: int = TOP_TYPES,
        max_tracked: int = MAX_TRACKED_TYPES,
    ) -> None:
        """Create the probe with the type names it always tracks."""
        self.watch_list = tuple(watch_list)
        # Split once: every sample asks about each of thousands of type names,
        # and one startswith over a tuple runs in C.
        self._watched_prefixes = tuple(e for e in self.watch_list if e.endswith("."))
        self._watched_names = frozenset(
            e for e in self.watch_list if not e.endswith(".")
        )
        self.top = top
        self.max_tracked = max_tracked
        self._baseline: dict[str, int] = {}
        self._previous: dict[str, int] = {}
        self._cap_logged = False

    def start(self) -> None:
        """Count every type once; later growth is measured against this."""
        counts = count_live_types()
        self._baseline = counts
        self._previous = counts
        self._cap_logged = False

    def sample(self) -> dict[str, float]:
        """Count objects and report ``gc_objects`` and each tracked type."""
        counts = count_live_types()
        self._previous = counts

        values = {"gc_objects": float(sum(counts.values()))}
        for name in self._tracked(counts):
            values[TYPE_SIGNAL_PREFIX + name] = float(counts[name])
        return values

    def details(self) -> dict[str, object]:
        """List the most numerous types and those that grew most since start."""
        counts = self._previous
        baseline = self._baseline
        grown = sorted(
            (
                (name, count - baseline.get(name, 0))
                for name, count in counts.items()
                if count > baseline.get(name, 0)
            ),
            key=lambda item: item[1],
            reverse=True,
        )
        return {
            "top_types": [
                {"type": name, "count": count}
                for name, count in Counter(counts).most_common(MAX_TYPES_IN_DETAILS)
            ],
            "grown_types": [
                {"type": name, "count": counts[name], "growth": growth}
                for name, growth in grown[:MAX_TYPES_IN_DETAILS]
            ],
            "grown_types_omitted": max(0, len(grown) - MAX_TYPES_IN_DETAILS),
        }

    def stop(self) -> None:
        """Drop the baseline and the latest counts."""
        self._baseline = {}
        self._previous = {}

    def _watched(self, name: str) -> bool:
        return name in self._watched_names or name.startswith(self._watched_prefixes)

    def _tracked(self, counts: dict[str, int]) -> list[str]:
        """Return the types this sample reports, chosen from its counts alone."""
        chosen = dict.fromkeys(heapq.nlargest(self.top, counts, key=counts.__getitem__))
        chosen.update(dict.fromkeys(name for name in counts if self._watched(name)))

        baseline = self._baseline
        grown = [
            name
            for name, count in counts.items()
            if count > baseline.get(name, 0) and name not in chosen
        ]
        room = max(0, self.max_tracked - len(chosen))
        if len(grown) > room:
            if not self._cap_logged:
                logger.warning(
                    "%d more object types have grown since the start than the %d "
                    "series kept per sample; those that grew least are only "
                    "counted in gc_objects.",
                    len(grown) - room,
                    self.max_tracked,
                )
                self._cap_logged = True
            grown = heapq.nlargest(
                room, grown, key=lambda name: counts[name] - baseline.get(name, 0)
            )
        chosen.update(dict.fromkeys(grown))
        return list(chosen)

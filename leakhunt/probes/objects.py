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


class ObjectsProbe:
    """A probe of live objects: ``gc_objects`` and ``objects.<type>`` counts.

    One walk over ``gc.get_objects()`` gives both. Per-type series are kept
    small: the watch-list, the most numerous types, and every type whose count
    grew since the previous sample (tracked from then on, up to
    :data:`MAX_TRACKED_TYPES`), so a user class leaking one instance per cycle
    is seen from its first growth. Counts are keyed by name, never by type
    object, so the probe does not keep classes alive. The only state is the
    baseline at start, the previous sample and the set of tracked names.
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
        self.top = top
        self.max_tracked = max_tracked
        self._baseline: dict[str, int] = {}
        self._previous: dict[str, int] = {}
        self._tracked: set[str] = set()
        self._cap_logged = False

    def start(self) -> None:
        """Count every type once; later growth is measured against this."""
        counts = self._count()
        self._baseline = counts
        self._previous = counts
        self._tracked = set()
        self._track(heapq.nlargest(self.top, counts, key=counts.__getitem__))
        self._track(name for name in counts if self._watched(name))

    def sample(self) -> dict[str, float]:
        """Count objects and report ``gc_objects`` and each tracked type."""
        counts = self._count()
        previous = self._previous

        self._track(heapq.nlargest(self.top, counts, key=counts.__getitem__))
        self._track(
            name
            for name, count in counts.items()
            # NB: a type that appears grows from zero, so watched types that
            # had no instances at start are picked up here too.
            if count > previous.get(name, 0)
        )
        self._previous = counts

        values = {"gc_objects": float(sum(counts.values()))}
        for name in self._tracked:
            values[TYPE_SIGNAL_PREFIX + name] = float(counts.get(name, 0))
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
        """Drop the baseline and the previous counts."""
        self._baseline = {}
        self._previous = {}
        self._tracked = set()

    def _count(self) -> dict[str, int]:
        objects = gc.get_objects()
        try:
            return count_types(objects)
        finally:
            # NB: the list holds a reference to every object in the process;
            # drop it before anything else runs.
            del objects

    def _watched(self, name: str) -> bool:
        return any(
            name.startswith(entry) if entry.endswith(".") else name == entry
            for entry in self.watch_list
        )

    def _track(self, names: Iterable[str]) -> None:
        for name in names:
            if name in self._tracked:
                continue
            if len(self._tracked) >= self.max_tracked:
                if not self._cap_logged:
                    logger.warning(
                        "Tracking %d object types already; type %s and any later "
                        "ones are only counted in gc_objects.",
                        self.max_tracked,
                        name,
                    )
                    self._cap_logged = True
                return
            self._tracked.add(name)

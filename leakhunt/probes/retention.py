"""Retention probe: the instances of growing types, and what keeps them alive.

:class:`RetentionProbe` remembers, at each sample, the ids of the instances
of the types that grow; ``details()`` takes the instances that are new since
the previous sample and finds their shortest reference chains to a module or
a live thread (:func:`leakhunt.probes.chains.find_chains`), with the chain
that explains most of the growth first.
"""

from __future__ import annotations

import gc
import logging
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from leakhunt.probes.chains import (
    APPLICATION,
    BOOKKEEPING,
    CHAIN_TIME_BUDGET,
    Chain,
    SearchStats,
    find_chains,
)
from leakhunt.probes.objects import count_live_types, count_types, type_name

logger = logging.getLogger(__name__)

MAX_CHAIN_TYPES = 12
"""Growing types a search looks for at once; the cost barely depends on it."""

MAX_TRACKED_CANDIDATES = 64
"""Types whose instance ids are remembered between samples."""

MIN_RISE_FRACTION = 0.6
"""Share of samples a type must rise in to be chosen when none was named: a
leak may skip a cycle (a reconcile that came after the stop), noise rarely
rises that often and ends above where it started."""

BUILTIN_MODULES: tuple[str, ...] = ("builtins", "_thread", "_abc", "_weakref")
"""Types from these modules are chosen for a chain only when nothing else grows:
a chain to "a dict" rarely says more than the chain to the object that owns it."""


def choose_types(
    growth: Mapping[str, float], limit: int = MAX_CHAIN_TYPES
) -> list[str]:
    """Pick the growing types worth a chain, most telling first.

    Application and library classes come before the builtin containers they
    are made of, and within each, the types that grow least per cycle first:
    one leaked informer brings hundreds of models, and the informer's chain is
    the one that explains them all. The least numerous Kubernetes model (the
    resource itself, such as ``V1Pod``) is always included.
    """
    grown = [(name, rate) for name, rate in growth.items() if rate > 0]
    ranked = sorted(
        grown,
        key=lambda item: (_is_builtin(item[0]), item[1], len(item[0]), item[0]),
    )
    chosen = [name for name, _ in ranked[:limit]]
    models = sorted(
        (item for item in grown if ".models." in item[0]),
        key=lambda item: (item[1], len(item[0])),
    )
    if models and models[0][0] not in chosen:
        chosen = [*chosen[: limit - 1], models[0][0]]
    return chosen


def _is_builtin(name: str) -> bool:
    return name.split(".", 1)[0] in BUILTIN_MODULES or name.startswith(
        ("threading.", "collections.", "weakref.", "logging.")
    )


def lead_chain(
    chains: Iterable[Chain], types: Sequence[str], growth: Mapping[str, float]
) -> Chain | None:
    """The chain that explains most of the growth, from a holder worth cutting.

    A chain from a bookkeeping registry (:data:`~leakhunt.probes.chains.BOOKKEEPING`,
    such as ``weakref.finalize``'s, which exists for every pooled socket) never
    leads while another chain exists. Then the chain to the type that grows
    most per cycle (the bulk of the leaked memory, such as the cached pods)
    leads. Among types that grow alike, a chain from the application (its
    module or its thread) beats one from a library's module, a Kubernetes
    model (the resource the user knows) beats other types, and the shorter
    chain wins: it names the holder with the fewest hops, such as
    ``_CLIENTS -> [key] -> ApiClient``.
    """
    wanted = set(types)

    def score(chain: Chain) -> tuple[bool, bool, float, bool, bool, int]:
        return (
            chain.target_type in wanted,
            chain.tier != BOOKKEEPING,
            growth.get(chain.target_type, 0.0),
            chain.tier == APPLICATION,
            ".models." in chain.target_type,
            -len(chain.hops),
        )

    ranked = sorted(chains, key=score, reverse=True)
    return ranked[0] if ranked else None


@dataclass
class RetentionProbe:
    """Remembers the instances of growing types, and finds their chains.

    ``focus`` names the types to explain (``module.QualName``); when empty,
    the types that rose in most traced samples (:data:`MIN_RISE_FRACTION`)
    and ended above their count at the end of the warm-up are chosen. The
    first ``start_after`` samples are the warm-up: they are not traced, and
    the last of them counts every type once. ``sample()`` records
    the ids of the candidates' instances; ``details()`` takes the instances
    that are new since the previous sample (or, for a type that did not grow
    in the last cycle, since it was first recorded) and returns their chains
    under ``retention_chains``, the leading one under ``retention_lead``.
    Signals: none.
    """

    focus: Sequence[str] = ()
    time_budget: float = CHAIN_TIME_BUDGET
    start_after: int = 0
    name: str = "retention"
    _first: dict[str, int] = field(default_factory=dict)
    _counts: dict[str, int] = field(default_factory=dict)
    _rises: Counter[str] = field(default_factory=Counter)
    _baseline_ids: dict[str, set[int]] = field(default_factory=dict)
    _previous_ids: dict[str, set[int]] = field(default_factory=dict)
    _current_ids: dict[str, set[int]] = field(default_factory=dict)
    _samples: int = 0
    _warmup_samples: int = 0

    def start(self) -> None:
        """Count every type once if there is no warm-up: growth counts from here."""
        if self.start_after == 0:
            self._first = self._counts = count_live_types()

    def sample(self) -> dict[str, float]:
        """Count rises per type and remember the ids of candidate instances.

        During the warm-up, only its last sample counts the types, as the
        baseline the traced samples are measured against.
        """
        if self._warmup_samples < self.start_after:
            self._warmup_samples += 1
            if self._warmup_samples == self.start_after:
                self._first = self._counts = count_live_types()
            return {}

        objects = gc.get_objects()
        try:
            counts = count_types(objects)
            self._rises.update(
                name
                for name, count in counts.items()
                if count > self._counts.get(name, 0)
            )
            self._counts = counts
            self._samples += 1

            candidates = self._candidates()
            self._previous_ids = self._current_ids
            self._current_ids = _ids_by_type(objects, candidates)
            for name, ids in self._current_ids.items():
                self._baseline_ids.setdefault(name, ids)
        finally:
            del objects
        return {}

    def growth(self) -> dict[str, float]:
        """Instances gained per traced sample, for types that gained."""
        samples = max(self._samples, 1)
        return {
            name: (count - self._first.get(name, 0)) / samples
            for name, count in self._counts.items()
            if count > self._first.get(name, 0) and name in self._rises
        }

    def chosen_types(self) -> list[str]:
        """The types the next ``details()`` will explain."""
        if self.focus:
            return list(self.focus)[:MAX_CHAIN_TYPES]
        needed = max(1, math.ceil(self._samples * MIN_RISE_FRACTION))
        growing = {
            name: rate
            for name, rate in self.growth().items()
            if self._rises[name] >= needed
        }
        return choose_types(growing)

    def search(
        self, stats: SearchStats | None = None
    ) -> tuple[dict[str, Chain], dict[str, int]]:
        """Chains for the chosen types' new instances, and how many were new."""
        types = self.chosen_types()
        if not types:
            return {}, {}

        new_counts: dict[str, int] = {}
        targets: dict[int, str] = {}
        for kind in types:
            current = self._current_ids.get(kind, set())
            new = current - self._previous_ids.get(kind, set())
            if not new:
                # NB: a leak need not grow in every cycle (a reconcile that
                # came after the stop); then any instance made since the
                # type was first recorded will do.
                new = current - self._baseline_ids.get(kind, set())
            new_counts[kind] = len(new)
            targets.update(dict.fromkeys(new, kind))
        chains = find_chains(targets, time_budget=self.time_budget, stats=stats)
        return chains, new_counts

    def details(self) -> dict[str, object]:
        """Find and return the chains (``retention_chains``) with search stats."""
        stats = SearchStats()
        chains, new_counts = self.search(stats)
        types = self.chosen_types()
        growth = self.growth()
        lead = lead_chain(chains.values(), types, growth)
        return {
            "retention_chains": [
                chains[kind].to_dict() for kind in types if kind in chains
            ],
            "retention_lead": lead.to_dict() if lead is not None else None,
            "retention_types": [
                {
                    "type": kind,
                    "per_sample": round(growth.get(kind, 0.0), 2),
                    "new": new_counts.get(kind, 0),
                    "found": kind in chains,
                }
                for kind in types
            ],
            "retention_search": {
                "visited": stats.visited,
                "depth": stats.depth,
                "seconds": round(stats.seconds, 3),
                "timed_out": stats.timed_out,
            },
        }

    def stop(self) -> None:
        """Forget every remembered id and count."""
        self._first = {}
        self._counts = {}
        self._rises.clear()
        self._baseline_ids = {}
        self._previous_ids = {}
        self._current_ids = {}

    def _candidates(self) -> set[str]:
        if self.focus:
            return set(self.focus)
        # The same ranking as the final choice, only wider, so that every
        # type chosen at the end has its ids from the samples before.
        return set(choose_types(self.growth(), MAX_TRACKED_CANDIDATES))


def _ids_by_type(objects: Iterable[object], names: set[str]) -> dict[str, set[int]]:
    """Map each named type to the ids of its instances among ``objects``."""
    if not names:
        return {}
    wanted: dict[type, str] = {}
    for cls in set(map(type, objects)):
        name = type_name(cls)
        if name in names:
            wanted[cls] = name
    ids: dict[str, set[int]] = {name: set() for name in names}
    for obj in objects:
        found = wanted.get(type(obj))
        if found is not None:
            ids[found].add(id(obj))
    return ids

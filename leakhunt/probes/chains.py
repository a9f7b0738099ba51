"""Reference chains: the shortest path from a root to an object, hop by hop.

A leaked object is alive because something reachable holds it. This module
finds the shortest chain of references from a *root* (a module, or a frame
of a live thread) to any of a set of target objects, and names every hop the
way the code would spell it: a module attribute, a dict key, a list index, an
instance attribute, a closure variable, a frame's local.

The search runs forward: breadth-first walks over ``gc.get_referents`` that
never visit an object twice, so its cost is one visit per reachable object
(about a second per million objects) however many targets and types it looks
for, where ``objgraph.find_backref_chain`` scans the whole heap with
``gc.get_referrers`` for every object it expands.

Roots come in tiers, searched one after the other (:data:`APPLICATION`,
:data:`LIBRARY`, :data:`BOOKKEEPING`): the shortest chain from any root is
often not the holder to cut. urllib3 registers a ``weakref.finalize`` for
every pool, so every pooled socket is one hop nearer to ``weakref``'s
registry than to the application's cache of clients, although the registry
only holds it for as long as the pool lives. Each tier's walk enters a
module's namespace only from that module, never through the ``__globals__``
of a function someone imported from it.
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import CellType, FrameType, FunctionType, MethodType, ModuleType
from typing import Any

from leakhunt.probes.objects import type_name

logger = logging.getLogger(__name__)

MAX_CHAIN_DEPTH = 40
"""Hops searched from the roots before a target counts as unreachable."""

CHAIN_TIME_BUDGET = 60.0
"""Seconds one search may take; a heap of 1M objects needs about two."""

MAX_LABEL_CHARS = 60
"""Longest dict key or repr shown in a hop."""

OWN_PACKAGES: tuple[str, ...] = ("leakhunt",)
"""Packages whose modules are never used as roots nor searched through:
leakhunt's own state is not the application's holder. NB: a package, not a
prefix: a target named by its file is imported as ``leakhunt_target_...``,
and its module is the application's."""

APPLICATION = 0
"""Root tier searched first: live threads' frames and the application's
modules (those outside the standard library and site-packages)."""

LIBRARY = 1
"""Root tier searched next: modules of the standard library and of installed
packages, whose caches can be real holders (a client library's registry)."""

BOOKKEEPING = 2
"""Root tier searched last: registries that hold an object only while
something else keeps it alive, or until the process exits."""

BOOKKEEPING_MODULES: tuple[str, ...] = ("weakref", "atexit")
"""Modules whose state is bookkeeping: ``weakref.finalize`` keeps each
finalizer's arguments (urllib3: every pool's connections) in a class-level
registry until the watched object dies; ``atexit`` keeps callbacks until
exit. Chains from them are true but never name the reference to cut."""


@dataclass(frozen=True)
class Hop:
    """One step of a chain: how the previous object refers to ``type``.

    ``edge`` is the kind of reference (``attribute``, ``key``, ``index``,
    ``closure``, ``local``, ``member``, ``method``, ``referent``) and ``label``
    how the code would name it (``_INFORMERS``, ``['ns/pod-1']``, ``[3]``).
    """

    edge: str
    label: str
    type: str

    def text(self) -> str:
        """The hop as the report shows it: ``_cache (ObjectCache)``."""
        short = self.type.rsplit(".", 1)[-1]
        return f"{self.label} ({short})" if self.label else f"({short})"

    def to_dict(self) -> dict[str, str]:
        """Return the hop as a JSON-able dict."""
        return {"edge": self.edge, "label": self.label, "type": self.type}


@dataclass(frozen=True)
class Chain:
    """The shortest reference chain from a root to one object of ``target_type``.

    ``root`` says what the chain starts from (``module harness.x`` or
    ``thread worker-1 in _run (x.py:88)``); ``holder`` is the root and its
    first hop, the reference to cut to free the object.
    """

    target_type: str
    root: str
    root_kind: str
    hops: tuple[Hop, ...]
    nodes: tuple[str, ...] = ()
    tier: int = APPLICATION

    @property
    def library_root(self) -> bool:
        """Whether the chain starts from a library's or a registry's module."""
        return self.tier != APPLICATION

    @property
    def holder(self) -> str:
        """The root and its first hop: the reference that keeps everything else."""
        if not self.hops:
            return self.root
        first = self.hops[0]
        if self.root_kind == "module":
            return f"{self.root.removeprefix('module ')}.{first.label}"
        return f"{self.root}, {first.edge} {first.label}"

    def text(self) -> str:
        """The chain on one line: ``module m -> _REG (list) -> [0] (Informer)``."""
        return " -> ".join([self.root, *(hop.text() for hop in self.hops)])

    def to_dict(self) -> dict[str, object]:
        """Return the chain as a JSON-able dict, with its text and holder."""
        return {
            "type": self.target_type,
            "root": self.root,
            "root_kind": self.root_kind,
            "holder": self.holder,
            "text": self.text(),
            "hops": [hop.to_dict() for hop in self.hops],
            "nodes": list(self.nodes),
            "library_root": self.library_root,
            "tier": self.tier,
        }


@dataclass
class Root:
    """Where a chain may start: a module or a thread's frame, and how to name it.

    ``tier`` says when the search starts from it (:data:`APPLICATION` first).
    """

    obj: object
    description: str
    kind: str
    tier: int = APPLICATION


@dataclass
class SearchStats:
    """What one search cost: objects visited, depth reached, seconds, outcome."""

    visited: int = 0
    depth: int = 0
    seconds: float = 0.0
    timed_out: bool = False


def default_roots(*, skip_thread: int | None = None) -> list[Root]:
    """Modules (except leakhunt's) and the frames of every other live thread.

    ``skip_thread`` is the ident of the thread doing the search (by default
    the calling thread): its frames hold the search's own state.
    """
    current = threading.get_ident() if skip_thread is None else skip_thread
    names = {thread.ident: thread.name for thread in threading.enumerate()}
    roots: list[Root] = []

    # First, the stacks of live threads: a local in a running frame is the
    # most direct holder there is, so frames win ties against modules.
    for ident, frame in sys._current_frames().items():
        if ident == current:
            continue
        thread = names.get(ident, f"thread-{ident}")
        walker: FrameType | None = frame
        while walker is not None:
            code = walker.f_code
            where = f"{_short_path(code.co_filename)}:{walker.f_lineno}"
            roots.append(
                Root(walker, f"thread {thread} in {code.co_name} ({where})", "thread")
            )
            walker = walker.f_back

    # Then every module, the application's before the standard library's.
    modules = [
        (name, module)
        for name, module in list(sys.modules.items())
        if isinstance(module, ModuleType) and not _is_own(name)
    ]
    roots.extend(
        Root(module, f"module {name}", "module", _module_tier(name, module))
        for name, module in modules
    )
    roots.sort(key=lambda root: root.tier)
    return roots


def _module_tier(name: str, module: ModuleType) -> int:
    if name in BOOKKEEPING_MODULES:
        return BOOKKEEPING
    path = getattr(module, "__file__", None)
    # NB: a module without a file is built in, frozen, or made at run time
    # by the application (types.ModuleType); only the last is its own.
    if path is None and name not in sys.builtin_module_names:
        origin = getattr(getattr(module, "__spec__", None), "origin", None)
        return LIBRARY if origin in ("built-in", "frozen") else APPLICATION
    return LIBRARY if _is_library(path) else APPLICATION


def find_chains(
    targets: Mapping[int, str],
    *,
    roots: Sequence[Root] | None = None,
    max_depth: int = MAX_CHAIN_DEPTH,
    time_budget: float = CHAIN_TIME_BUDGET,
    stats: SearchStats | None = None,
) -> dict[str, Chain]:
    """Find, per target type, the shortest chain from a root to one target.

    ``targets`` maps ``id(obj)`` to the type name reported for it. The roots
    are searched tier by tier (see the module docstring): a type found from
    an earlier tier keeps that chain, however short a later one would be.
    The search stops as soon as every type has a chain, when the roots reach
    nothing more, after ``max_depth`` hops per tier or after ``time_budget``
    seconds.
    """
    record = stats if stats is not None else SearchStats()
    started = time.perf_counter()
    root_list = list(roots) if roots is not None else default_roots()
    walk = _Walk(targets, root_list)
    # NB: the search's own containers must never look like holders.
    walk.seen.update((id(walk), id(root_list), id(targets)))

    for tier in sorted({root.tier for root in root_list}):
        if not walk.wanted:
            break
        # A module's namespace is entered from that module, in its own tier.
        walk.blocked = {
            id(vars(root.obj))
            for root in root_list
            if root.tier > tier and isinstance(root.obj, ModuleType)
        }
        walk.run(
            [root.obj for root in root_list if root.tier == tier],
            max_depth=max_depth,
            deadline=started + time_budget,
            record=record,
        )
        if record.timed_out:
            break

    chains = {
        kind: _describe_path(kind, _path_to(obj, walk.parent, walk.root_of), walk)
        for kind, obj in walk.found.items()
    }
    walk.parent.clear()
    record.seconds = time.perf_counter() - started
    logger.debug(
        "Searched %d objects to depth %d in %.2f s; found chains for %d of %d types.",
        record.visited,
        record.depth,
        record.seconds,
        len(chains),
        len(set(targets.values())),
    )
    return chains


class _Walk:
    """The state of one search: what was seen, from where, and what was found."""

    def __init__(self, targets: Mapping[int, str], roots: Sequence[Root]) -> None:
        self.targets = targets
        self.wanted = set(targets.values())
        self.parent: dict[int, object] = {}
        self.root_of = {id(root.obj): root for root in roots}
        self.seen: set[int] = set(self.root_of)
        self.seen.update((id(self.parent), id(self.seen), id(self.root_of)))
        # A function of leakhunt's that the application imported leads into
        # leakhunt's module globals; those are never the application's holder.
        self.seen.update(_own_namespaces())
        self.blocked: set[int] = set()
        self.found: dict[str, object] = {}
        # NB: a frame that is still running keeps its locals on the thread's
        # own stack, where the garbage collector does not look: they are not
        # among the frame's referents, so they are read from f_locals instead.
        self.running_frames = {id(root.obj) for root in roots if root.kind == "thread"}

    def run(
        self,
        frontier: list[object],
        *,
        max_depth: int,
        deadline: float,
        record: SearchStats,
    ) -> None:
        """Walk breadth-first from ``frontier`` until done, deep or out of time."""
        seen, blocked, parent = self.seen, self.blocked, self.parent
        targets, wanted, found = self.targets, self.wanted, self.found
        get_referents = gc.get_referents
        is_tracked = gc.is_tracked

        depth = 0
        while frontier and wanted and depth < max_depth:
            depth += 1
            following: list[object] = []
            for obj in frontier:
                children = get_referents(obj)
                if id(obj) in self.running_frames:
                    children.extend(_locals_of(obj))
                for child in children:
                    key = id(child)
                    if key in seen or key in blocked:
                        continue
                    seen.add(key)
                    parent[key] = obj
                    kind = targets.get(key)
                    if kind is not None and kind in wanted:
                        wanted.discard(kind)
                        found[kind] = child
                    if is_tracked(child):
                        following.append(child)
            record.visited += len(frontier)
            frontier = following
            if time.perf_counter() > deadline:
                record.timed_out = bool(wanted)
                break
        record.depth = max(record.depth, depth)


def _own_namespaces() -> set[int]:
    return {
        id(vars(module))
        for name, module in list(sys.modules.items())
        if _is_own(name) and isinstance(module, ModuleType)
    }


def _is_own(module_name: str) -> bool:
    package = module_name.partition(".")[0]
    return package in OWN_PACKAGES


def _path_to(
    obj: object, parent: Mapping[int, object], root_of: Mapping[int, Root]
) -> list[object]:
    path = [obj]
    while id(path[-1]) not in root_of:
        path.append(parent[id(path[-1])])
    path.reverse()
    return path


def _describe_path(kind: str, path: Sequence[object], walk: _Walk) -> Chain:
    root = walk.root_of[id(path[0])]
    hops: list[Hop] = []
    nodes: list[str] = [root.description]
    index = 1
    while index < len(path):
        holder, child = path[index - 1], path[index]

        # An instance's __dict__ (or a module's) is not a hop people think
        # of: "informer -> __dict__ -> _cache" reads as "informer._cache".
        if (
            index + 1 < len(path)
            and isinstance(child, dict)
            and _is_namespace_of(child, holder)
        ):
            grandchild = path[index + 1]
            name = _key_of(child, grandchild)
            hops.append(Hop("attribute", name, type_name(type(grandchild))))
            index += 2
        # A closure reads as its variable: function -> cell -> value.
        elif (
            isinstance(holder, FunctionType)
            and holder.__closure__ is not None
            and child is holder.__closure__
            and index + 2 < len(path)
        ):
            cell, value = path[index + 1], path[index + 2]
            cells = holder.__closure__
            position = next((i for i, item in enumerate(cells) if item is cell), None)
            names = holder.__code__.co_freevars
            label = names[position] if position is not None else "?"
            hops.append(Hop("closure", label, type_name(type(value))))
            index += 3
        else:
            edge, label = _edge(holder, child)
            hops.append(Hop(edge, label, type_name(type(child))))
            index += 1
        nodes.append(_node_label(path[index - 1]))

    return Chain(
        target_type=kind,
        root=root.description,
        root_kind=root.kind,
        hops=tuple(hops),
        nodes=tuple(nodes),
        tier=root.tier,
    )


def _is_namespace_of(candidate: dict[Any, Any], holder: object) -> bool:
    try:
        return vars(holder) is candidate
    except TypeError:
        return False


def _key_of(namespace: dict[Any, Any], value: object) -> str:
    for key, item in namespace.items():
        if item is value:
            return str(key)
    return "?"


def _edge(holder: object, child: object) -> tuple[str, str]:
    """How ``holder`` refers to ``child``: the kind of edge and its label."""
    for kinds, describe in _EDGE_NAMERS:
        if isinstance(holder, kinds):
            named: tuple[str, str] | None = describe(holder, child)
            if named is not None:
                return named
    return _attribute_edge(holder, child)


def _mapping_edge(holder: Any, child: object) -> tuple[str, str] | None:
    for key, value in holder.items():
        if value is child:
            return "key", f"[{_short_repr(key)}]"
        if key is child:
            return "key", "(a key)"
    return None


def _sequence_edge(holder: Any, child: object) -> tuple[str, str] | None:
    for position, item in enumerate(holder):
        if item is child:
            return "index", f"[{position}]"
    return None


def _frame_edge(holder: Any, child: object) -> tuple[str, str] | None:
    for name, value in _frame_locals(holder):
        if value is child:
            return "local", name
    return "referent", "(frame)"


def _method_edge(holder: Any, child: object) -> tuple[str, str] | None:
    return "method", "__self__" if holder.__self__ is child else "__func__"


_EDGE_NAMERS: tuple[tuple[Any, Any], ...] = (
    (dict, _mapping_edge),
    (list | tuple, _sequence_edge),
    (set | frozenset, lambda holder, child: ("member", "(member)")),
    (FrameType, _frame_edge),
    (CellType, lambda holder, child: ("closure", "(cell)")),
    (MethodType, _method_edge),
)
"""Container types and how each names the reference to one of its referents."""


def _attribute_edge(holder: object, child: object) -> tuple[str, str]:
    # NB: instances keep their attributes inline, so the values are direct
    # referents; asking for vars() names them (and builds the dict once).
    try:
        namespace = vars(holder)
    except TypeError:
        namespace = {}
    for name, value in namespace.items():
        if value is child:
            return "attribute", str(name)
    for name in _slot_names(type(holder)):
        if getattr(holder, name, None) is child:
            return "attribute", name
    return "referent", ""


def _locals_of(frame: object) -> list[object]:
    if not isinstance(frame, FrameType):
        return []
    return [value for _, value in _frame_locals(frame)]


def _frame_locals(frame: FrameType) -> Iterator[tuple[str, object]]:
    try:
        yield from list(frame.f_locals.items())
    except Exception:  # a frame mid-teardown has no locals to name
        return


def _slot_names(cls: type) -> Iterator[str]:
    for klass in cls.__mro__:
        slots = klass.__dict__.get("__slots__", ())
        yield from (slots,) if isinstance(slots, str) else slots


def _short_repr(value: object) -> str:
    text = repr(value)
    if len(text) > MAX_LABEL_CHARS:
        text = text[: MAX_LABEL_CHARS - 3] + "..."
    return text


def _node_label(obj: object) -> str:
    name = type(obj).__qualname__
    if isinstance(obj, ModuleType):
        return f"module {obj.__name__}"
    if isinstance(obj, dict | list | tuple | set):
        return f"{name} ({len(obj)} items)"
    return name


def _short_path(path: str) -> str:
    parts = path.replace("\\", "/").split("/")
    return "/".join(parts[-2:])


def _is_library(path: str | None) -> bool:
    if not path:
        return True
    return "site-packages" in path or path.startswith(sys.base_prefix)

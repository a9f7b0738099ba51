"""Allocation sites: tracemalloc snapshots per cycle, ranked by growth per cycle.

The largest difference between two snapshots is usually a cache filling up
or a buffer that happened to be alive at that moment. A leak is a site whose
live memory grows with the number of cycles, so :class:`AllocationProbe`
takes one snapshot at each cycle boundary, groups the live blocks by
traceback, and fits a line through each site's size over the cycles: sites
are ranked by that slope (bytes per cycle), and only sites whose growth is
close to a straight line count.

Frames are filtered by named rules (:data:`DEFAULT_FRAME_RULES`), and blocks
that leakhunt or the harness allocated for their own bookkeeping are
dropped: a block belongs to them when, walking out from the allocating
frame, their code comes before any code under test.
"""

from __future__ import annotations

import fnmatch
import linecache
import logging
import math
import operator
import os
import sysconfig
import time
import tracemalloc
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

logger = logging.getLogger(__name__)

DEEP_TRACEMALLOC_FRAMES = 32
"""Frames stored per block: deep enough to reach the controller's own line
from inside the client's recursive deserialisation (about 20 frames deep)."""

MIN_SITE_BYTES_PER_CYCLE = 64.0
"""Sites growing slower than this are not reported (stdlib caches step by
2-3 KB now and then; a leaked object costs at least this much)."""

MIN_LINEARITY = 0.8
"""R-squared of a site's size against the cycle number needed to call its
growth linear; a cache that fills once and stops fits far worse."""

MIN_LATE_GROWTH_SHARE = 0.5
"""Share of its slope over all snapshots that a site must still grow at over
the later half of them. A leak keeps its pace to the end; a cache that fills
over the first cycles and then stops can fit a line well enough (R-squared
0.85 for 200 KB over 4 of 8 cycles) while its later half is flat."""

MAX_SITES = 20
"""Sites kept in the evidence, fastest-growing first."""

MAX_TRACEBACK_FRAMES = 12
"""Frames of each site's traceback kept in the evidence, innermost first."""

MAX_SNAPSHOTS = 64
"""Snapshots a probe keeps statistics for; an attribution pass is short."""


@dataclass(frozen=True)
class FrameRule:
    """A named rule that drops every block allocated with a matching frame.

    ``pattern`` is an :mod:`fnmatch` pattern for the frame's file name;
    ``why`` is the reason the rule exists, shown by ``leakhunt soak -vv``.
    """

    name: str
    pattern: str
    why: str

    def matches(self, filename: str) -> bool:
        """Whether ``filename`` is covered by this rule."""
        return fnmatch.fnmatchcase(filename, self.pattern)


DEFAULT_FRAME_RULES: tuple[FrameRule, ...] = (
    FrameRule(
        "import-machinery",
        "<frozen importlib.*",
        "a module imported during a cycle is loaded once and kept by design",
    ),
    FrameRule(
        "tracemalloc",
        "*/tracemalloc.py",
        "snapshots are leakhunt's own memory, alive only while it measures",
    ),
    FrameRule(
        "linecache",
        "*/linecache.py",
        "source lines read to format a traceback are cached once per file",
    ),
)
"""Blocks leakhunt never reports; each rule says why."""


@dataclass(frozen=True)
class CodeMap:
    """Which files are leakhunt's, which are libraries, which are under test.

    ``infrastructure`` are directories of leakhunt and of the harness that
    drives the controller; ``under_test`` are directories that always count
    as the code under test even inside them (the reference controllers, or
    the target's own package when it is installed as a library).
    """

    infrastructure: tuple[str, ...]
    under_test: tuple[str, ...]
    libraries: tuple[str, ...]
    target_file: str | None = None

    @classmethod
    def default(cls, target_file: str | None = None) -> CodeMap:
        """The map for this interpreter, leakhunt and the harness."""
        leakhunt_dir = str(Path(__file__).resolve().parent.parent)
        harness_dir = str(Path(leakhunt_dir).parent / "harness")
        under_test = [os.path.join(harness_dir, "controllers")]
        resolved = str(Path(target_file).resolve()) if target_file else None
        if resolved:
            under_test.append(str(Path(resolved).parent))
        paths = sysconfig.get_paths()
        libraries = {
            paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")
        }
        return cls(
            infrastructure=(leakhunt_dir, harness_dir),
            under_test=tuple(under_test),
            libraries=tuple(sorted(libraries)),
            target_file=resolved,
        )

    def kind(self, filename: str) -> str:
        """``"test"``, ``"infra"`` or ``"library"`` for a frame's file."""
        if filename.startswith(self.under_test):
            return "test"
        if filename.startswith(self.infrastructure):
            return "infra"
        if filename.startswith("<") or filename.startswith(self.libraries):
            return "library"
        return "test"


Frame = tuple[str, int]
"""A frame of a site's traceback: (file name, line number)."""


@dataclass(frozen=True)
class Site:
    """One allocation site and how fast its live memory grows per cycle."""

    frames: tuple[Frame, ...]
    bytes_per_cycle: float
    blocks_per_cycle: float
    linearity: float
    last_bytes: int
    origin: Frame | None

    @property
    def where(self) -> str:
        """``file:line`` of the allocating frame."""
        filename, lineno = self.frames[0]
        return f"{filename}:{lineno}"

    def to_dict(self) -> dict[str, object]:
        """Return the site as JSON-able evidence, with source lines."""
        return {
            "where": self.where,
            "line": _source(self.frames[0]),
            "bytes_per_cycle": round(self.bytes_per_cycle, 1),
            "blocks_per_cycle": round(self.blocks_per_cycle, 2),
            "linearity": round(self.linearity, 3),
            "last_bytes": self.last_bytes,
            "origin": _frame_dict(self.origin) if self.origin else None,
            "traceback": [
                _frame_dict(frame) for frame in self.frames[:MAX_TRACEBACK_FRAMES]
            ],
        }


def _frame_dict(frame: Frame) -> dict[str, object]:
    return {"file": frame[0], "line": frame[1], "source": _source(frame)}


def _source(frame: Frame) -> str:
    return linecache.getline(frame[0], frame[1]).strip()


@dataclass
class SiteSeries:
    """Per-site live bytes and blocks, one column per snapshot.

    Rows are added as new sites appear; a site absent from a snapshot holds
    nothing then. Plain arrays, so a long traceback costs one row, not one
    Python object per cycle.
    """

    capacity: int
    index: dict[tuple[Frame, ...], int] = field(default_factory=dict)
    sizes: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    counts: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    taken: int = 0

    def add(self, grouped: dict[tuple[Frame, ...], list[int]]) -> None:
        """Record one snapshot's grouped sizes and counts."""
        if self.taken >= self.capacity:
            raise ValueError(f"a probe keeps at most {self.capacity} snapshots")

        new = [key for key in grouped if key not in self.index]
        for key in new:
            self.index[key] = len(self.index)
        if len(self.index) > len(self.sizes):
            rows = max(len(self.index), 2 * len(self.sizes))
            self.sizes = _grow(self.sizes, rows, self.capacity)
            self.counts = _grow(self.counts, rows, self.capacity)

        column = self.taken
        for key, (size, count) in grouped.items():
            row = self.index[key]
            self.sizes[row, column] = size
            self.counts[row, column] = count
        self.taken += 1

    def ranked(self, code: CodeMap, *, limit: int = MAX_SITES) -> list[Site]:
        """Sites whose growth is linear, by bytes per cycle, fastest first."""
        if self.taken < 3:
            return []

        rows = len(self.index)
        sizes = self.sizes[:rows, : self.taken]
        keys = list(self.index)
        return [
            Site(
                frames=keys[growth.row],
                bytes_per_cycle=growth.bytes_per_cycle,
                blocks_per_cycle=growth.blocks_per_cycle,
                linearity=growth.linearity,
                last_bytes=int(sizes[growth.row, -1]),
                origin=_origin(keys[growth.row], code),
            )
            for growth in _linear_growth(sizes, self.counts[:rows, : self.taken], limit)
        ]

    def origins(self, code: CodeMap, *, limit: int = MAX_SITES) -> list[Origin]:
        """Lines of the code under test, by the growth of everything below them.

        A leaked object is allocated deep inside a library (a model's
        constructor, the JSON decoder); its *origin* is the innermost frame
        of the code under test on the way there. Summing the sites per
        origin gives the line in the user's code that the memory goes back
        to, ranked and filtered like the sites.
        """
        if self.taken < 3:
            return []

        by_origin: dict[Frame, list[int]] = {}
        for row, key in enumerate(self.index):
            origin = _origin(key, code)
            if origin is not None:
                by_origin.setdefault(origin, []).append(row)
        if not by_origin:
            return []

        frames = list(by_origin)
        sizes = np.stack(
            [self.sizes[by_origin[f], : self.taken].sum(axis=0) for f in frames]
        )
        counts = np.stack(
            [self.counts[by_origin[f], : self.taken].sum(axis=0) for f in frames]
        )
        return [
            Origin(
                frame=frames[growth.row],
                bytes_per_cycle=growth.bytes_per_cycle,
                blocks_per_cycle=growth.blocks_per_cycle,
                linearity=growth.linearity,
                sites=len(by_origin[frames[growth.row]]),
                own=frames[growth.row][0] == code.target_file,
            )
            for growth in _linear_growth(sizes, counts, limit)
        ]


@dataclass(frozen=True)
class Origin:
    """A line of the code under test and the growth of the sites below it.

    ``own`` says whether the line is in the target's own file.
    """

    frame: Frame
    bytes_per_cycle: float
    blocks_per_cycle: float
    linearity: float
    sites: int
    own: bool = False

    def to_dict(self) -> dict[str, object]:
        """Return the origin as JSON-able evidence, with its source line."""
        return {
            "where": f"{self.frame[0]}:{self.frame[1]}",
            "file": self.frame[0],
            "line": self.frame[1],
            "source": _source(self.frame),
            "bytes_per_cycle": round(self.bytes_per_cycle, 1),
            "blocks_per_cycle": round(self.blocks_per_cycle, 2),
            "linearity": round(self.linearity, 3),
            "sites": self.sites,
            "own": self.own,
        }


def _grow(array: np.ndarray, rows: int, columns: int) -> np.ndarray:
    grown = np.zeros((rows, columns))
    grown[: len(array), : array.shape[1] if array.ndim == 2 else 0] = array
    return grown


class _Growth(NamedTuple):
    """One row of a size matrix that grows linearly, with its fitted rates."""

    row: int
    bytes_per_cycle: float
    blocks_per_cycle: float
    linearity: float


def _linear_growth(sizes: np.ndarray, counts: np.ndarray, limit: int) -> list[_Growth]:
    """The rows of ``sizes`` (one per site, one column per snapshot) that grow
    steadily, fastest first, at most ``limit`` of them.

    A row counts when it gains at least :data:`MIN_SITE_BYTES_PER_CYCLE`, a
    straight line explains it (:data:`MIN_LINEARITY`), it ends above where
    it started (a site that grew and was then freed is not a leak) and it
    still grows over the later half of the snapshots
    (:data:`MIN_LATE_GROWTH_SHARE`): a cache that filled and stopped is not
    a leak either, however well a line fits its rise.
    """
    slopes, linearity = _fit(sizes)
    block_slopes, _ = _fit(counts)
    late = max(2, math.ceil(sizes.shape[1] / 2))
    late_slopes, _ = _fit(sizes[:, -late:])
    keep = (
        (slopes >= MIN_SITE_BYTES_PER_CYCLE)
        & (linearity >= MIN_LINEARITY)
        & (sizes[:, -1] > sizes[:, 0])
        & (late_slopes >= MIN_LATE_GROWTH_SHARE * slopes)
    )
    order = [int(i) for i in np.argsort(-slopes) if keep[i]][:limit]
    return [
        _Growth(i, float(slopes[i]), float(block_slopes[i]), float(linearity[i]))
        for i in order
    ]


def _fit(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares slope and R-squared of every row against 0..n-1."""
    n = values.shape[1]
    x = np.arange(n, dtype=np.float64)
    x_centered = x - x.mean()
    y_centered = values - values.mean(axis=1, keepdims=True)
    slopes = y_centered @ x_centered / float(x_centered @ x_centered)
    residuals = y_centered - np.outer(slopes, x_centered)
    total = (y_centered**2).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        r_squared = np.where(total > 0, 1.0 - (residuals**2).sum(axis=1) / total, 0.0)
    return slopes, r_squared


def _origin(frames: Sequence[Frame], code: CodeMap) -> Frame | None:
    """Where "your code" asked: the innermost frame in the target's own file,
    else the innermost frame of any code under test (a base class, a helper)."""
    if code.target_file is not None:
        for frame in frames:
            if frame[0] == code.target_file:
                return frame
    for frame in frames:
        if code.kind(frame[0]) == "test":
            return frame
    return None


def group_snapshot(
    snapshot: tracemalloc.Snapshot,
    code: CodeMap,
    rules: Sequence[FrameRule] = DEFAULT_FRAME_RULES,
) -> dict[tuple[Frame, ...], list[int]]:
    """Group a snapshot's blocks by traceback, leakhunt's own blocks dropped.

    The key is the traceback innermost first, cut where the harness's frames
    begin, so that one line of the controller reached from different places
    in the harness is one site. Values are ``[bytes, blocks]``.
    """
    # First, add up the blocks per distinct traceback. NB: every Python
    # object made here would itself be traced (and recorded by memray), so
    # the pass over the blocks runs in C: map, dict.fromkeys, np.fromiter.
    raw = _raw_traces(snapshot)
    frames_of = operator.itemgetter(2)
    distinct = list(dict.fromkeys(map(frames_of, raw)))
    index = {frames: position for position, frames in enumerate(distinct)}
    codes = np.fromiter(
        map(index.__getitem__, map(frames_of, raw)), dtype=np.intp, count=len(raw)
    )
    sizes = np.fromiter(
        map(operator.itemgetter(1), raw), dtype=np.float64, count=len(raw)
    )
    size_sums = np.bincount(codes, weights=sizes, minlength=len(distinct))
    block_sums = np.bincount(codes, minlength=len(distinct))
    del codes, sizes, index

    # Then cut each distinct traceback once and merge those that agree.
    cutter = StackCutter(code, tuple(rules))
    grouped: dict[tuple[Frame, ...], list[int]] = {}
    for position, frames in enumerate(distinct):
        key = cutter.key(frames)
        size, count = int(size_sums[position]), int(block_sums[position])
        if key is None:
            continue
        entry = grouped.get(key)
        if entry is None:
            grouped[key] = [size, count]
        else:
            entry[0] += size
            entry[1] += count
    return grouped


@dataclass
class StackCutter:
    """Turns a stack into a site key, or None for leakhunt's own allocations.

    Used for tracemalloc's tracebacks and memray's stacks alike. Walking out
    from the allocating frame, the key keeps every frame up to the first of
    leakhunt or the harness. A stack that reaches them before any code under
    test is their own work (a probe calling the standard library, say) and
    has no key; so has a stack with a frame a rule covers. NB: "a leakhunt
    frame anywhere" would not do: leakhunt's worker is the outermost caller
    of every cycle, so its frames end every stack of the controller's too.
    """

    code: CodeMap
    rules: tuple[FrameRule, ...] = DEFAULT_FRAME_RULES
    kinds: dict[str, str] = field(default_factory=dict)

    def kind(self, filename: str) -> str:
        """``"ruled"``, or :meth:`CodeMap.kind` of ``filename``, cached."""
        kind = self.kinds.get(filename)
        if kind is None:
            if any(rule.matches(filename) for rule in self.rules):
                kind = "ruled"
            else:
                kind = self.code.kind(filename)
            self.kinds[filename] = kind
        return kind

    def key(self, frames: Sequence[Frame]) -> tuple[Frame, ...] | None:
        """The frames that name the site, innermost first, or None (see above)."""
        kept: list[Frame] = []
        for filename, lineno in frames:
            kind = self.kind(filename)
            if kind == "ruled":
                return None
            if kind == "infra":
                # NB: the harness calls the code under test, never the other
                # way round; infrastructure first means its own allocation.
                if not any(self.kind(name) == "test" for name, _ in kept):
                    return None
                break
            kept.append((filename, lineno))
        return tuple(kept) if kept else None


def _raw_traces(snapshot: tracemalloc.Snapshot) -> Sequence[tuple[Any, ...]]:
    """Each block as ``(domain, size, frames, ...)``, frames innermost first.

    NB: the public API builds a Trace, a Traceback and a Frame object per
    block and frame (seconds on a large heap, each object traced); the
    snapshot's raw tuples hold the same data, with one shared tuple per
    distinct traceback. The public path is the fallback should that private
    layout change.
    """
    raw = getattr(snapshot.traces, "_traces", None)
    if isinstance(raw, list) and (
        not raw or (isinstance(raw[0], tuple) and len(raw[0]) >= 3)
    ):
        return raw
    shared: dict[tuple[Frame, ...], tuple[Frame, ...]] = {}
    converted = []
    for trace in snapshot.traces:
        frames = tuple((f.filename, f.lineno) for f in reversed(trace.traceback))
        converted.append((0, trace.size, shared.setdefault(frames, frames)))
    return converted


class AllocationProbe:
    """Traces allocations after a warm-up and ranks the sites that grow.

    Tracing starts once ``start_after`` samples have been taken (0: at
    ``start()``), so that the warm-up cycles run at full speed and one-time
    caches are already built. From then on each ``sample()`` takes a
    snapshot and records its sites; ``details()`` returns the ranked sites
    under ``allocation_sites``. Signals: ``attribution_traced_bytes``.
    """

    name = "allocations"

    def __init__(
        self,
        *,
        start_after: int = 0,
        frames: int = DEEP_TRACEMALLOC_FRAMES,
        max_snapshots: int = MAX_SNAPSHOTS,
        code: CodeMap | None = None,
        rules: Iterable[FrameRule] = DEFAULT_FRAME_RULES,
    ) -> None:
        """Create the probe; nothing is traced until the warm-up is over."""
        self.start_after = start_after
        self.frames = frames
        self.code = code if code is not None else CodeMap.default()
        self.rules = tuple(rules)
        self.series = SiteSeries(capacity=max_snapshots)
        self._samples = 0
        self._started_tracing = False
        self._snapshot_seconds = 0.0

    def start(self) -> None:
        """Start tracing now if there is no warm-up to wait for."""
        if self.start_after == 0:
            self._trace()

    def sample(self) -> dict[str, float]:
        """Snapshot and group the live blocks once tracing runs."""
        self._samples += 1
        if not tracemalloc.is_tracing():
            if self._samples >= self.start_after:
                self._trace()
            return {}
        if self.series.taken >= self.series.capacity:
            return {}

        began = time.perf_counter()
        snapshot = tracemalloc.take_snapshot()
        try:
            self.series.add(group_snapshot(snapshot, self.code, self.rules))
        finally:
            del snapshot
        self._snapshot_seconds += time.perf_counter() - began
        current, _ = tracemalloc.get_traced_memory()
        return {"attribution_traced_bytes": float(current)}

    def details(self) -> dict[str, object]:
        """End tracing and return the ranked sites and what the snapshots cost.

        Tracing stops here because whatever runs next (the chain search)
        would otherwise be traced object by object.
        """
        self.stop()
        sites = self.series.ranked(self.code)
        origins = self.series.origins(self.code)
        return {
            "allocation_sites": [site.to_dict() for site in sites],
            "allocation_origins": [origin.to_dict() for origin in origins],
            "allocation_snapshots": self.series.taken,
            "allocation_frames": self.frames,
            "allocation_seconds": round(self._snapshot_seconds, 3),
            "allocation_rules": [rule.name for rule in self.rules],
        }

    def stop(self) -> None:
        """Stop tracing if this probe started it."""
        if self._started_tracing:
            tracemalloc.stop()
            self._started_tracing = False

    def _trace(self) -> None:
        if tracemalloc.is_tracing():
            logger.warning(
                "tracemalloc was already tracing with %d frames; allocation "
                "sites use that depth.",
                tracemalloc.get_traceback_limit(),
            )
            return
        tracemalloc.start(self.frames)
        self._started_tracing = True
        logger.info(
            "Tracing allocations with %d frames from sample %d on.",
            self.frames,
            self._samples,
        )


def describe_rules(rules: Iterable[FrameRule] = DEFAULT_FRAME_RULES) -> str:
    """The rules as text, one per line, for ``-vv`` logs and the docs."""
    return "\n".join(f"{rule.name}: {rule.pattern} ({rule.why})" for rule in rules)

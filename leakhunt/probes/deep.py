"""The expensive probes of the attribution pass, and how the worker is told to run them.

Screening runs the cheap probes every cycle. When it finds growth, the
conductor starts a fresh worker with a :class:`DeepConfig`, and that worker
adds :func:`deep_probes` to its cheap ones: memray across the attribution
cycles, tracemalloc snapshots with deep tracebacks, and the retention
chains of the types that grow. Their ``details()`` end their captures, so
the conductor asks for details once, at the end of the pass.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from leakhunt.probes.allocations import (
    DEEP_TRACEMALLOC_FRAMES,
    AllocationProbe,
    CodeMap,
)
from leakhunt.probes.base import Probe
from leakhunt.probes.memray_capture import MemrayProbe
from leakhunt.probes.retention import RetentionProbe

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeepConfig:
    """What the attribution worker traces, from which sample on, and where to.

    ``start_after`` is the number of warm-up cycles run untraced; ``capture``
    the memray file (None: no memray); ``focus`` the type names whose
    retention chains are wanted (empty: the types seen growing); ``target``
    the controller as named on the command line, whose directory always
    counts as code under test.
    """

    start_after: int
    capture: str | None
    focus: tuple[str, ...] = ()
    frames: int = DEEP_TRACEMALLOC_FRAMES
    target: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the config as JSON-able data for the worker's spec."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DeepConfig:
        """Rebuild a config from :meth:`to_dict`'s output."""
        return cls(
            start_after=int(data["start_after"]),
            capture=data.get("capture"),
            focus=tuple(data.get("focus") or ()),
            frames=int(data.get("frames", DEEP_TRACEMALLOC_FRAMES)),
            target=data.get("target"),
        )


def deep_probes(config: DeepConfig) -> list[Probe]:
    """The attribution probes for ``config``, in the order they must end.

    memray comes first so that its capture ends before the others do their
    own work in ``details()``; the chain search comes last, once tracing has
    stopped, because tracing every object it visits would slow it tenfold.
    """
    probes: list[Probe] = []
    if config.capture is not None:
        probes.append(MemrayProbe(Path(config.capture), start_after=config.start_after))
    probes.append(
        AllocationProbe(
            start_after=config.start_after,
            frames=config.frames,
            code=CodeMap.default(target_file(config.target)),
        )
    )
    probes.append(RetentionProbe(focus=config.focus, start_after=config.start_after))
    return probes


def target_file(target: str | None) -> str | None:
    """The source file of the target (``module:name`` or ``file.py:name``).

    A module counts only once it is imported (in the worker); elsewhere its
    file is unknown, and its code is told from the libraries by path alone.
    """
    if not target:
        return None
    location = target.rpartition(":")[0] or target
    if location.endswith(".py"):
        return location
    module = sys.modules.get(location)
    return getattr(module, "__file__", None)

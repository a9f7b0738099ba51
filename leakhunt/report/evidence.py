"""The attribution evidence in the terminal: where it was allocated, who holds it.

Several findings share one attribution pass (RSS, USS and allocated blocks
grow for the same leak), so :class:`EvidencePrinter` prints each piece of
evidence once, under the first finding that carries it, and later findings
only point back to it. Every list is capped by a named constant and ends in
"...and N more".
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from rich.console import Console
from rich.text import Text

from leakhunt.units import format_duration, format_quantity

logger = logging.getLogger(__name__)

MAX_ORIGINS_SHOWN = 3
"""Lines of the code under test shown under a memory finding."""

MAX_SITES_SHOWN = 3
"""Allocation sites (tracemalloc) shown under a memory finding."""

MAX_MEMRAY_SHOWN = 3
"""Leaked allocation sites (memray) shown under a memory finding."""

MAX_TRACEBACK_SHOWN = 3
"""Frames of the top allocation site's traceback shown."""

MAX_NOTES_SHOWN = 5
"""Attribution notes shown (memray missing, graphviz missing, ...)."""

INDENT = "      "


@dataclass
class EvidencePrinter:
    """Prints attribution evidence under findings, each piece only once."""

    out: Console
    printed: set[str] = field(default_factory=set)

    def finding(
        self, evidence: Mapping[str, object], *, point_back: bool = True
    ) -> None:
        """Print the origins, sites, memray sites and chain in ``evidence``.

        What was printed before is replaced by a pointer back to it, or left
        out when ``point_back`` is false.
        """
        origins = _dicts(evidence.get("allocation_origins"))
        sites = _dicts(evidence.get("allocation_sites"))
        memray = _dicts(evidence.get("memray_sites"))
        chain = evidence.get("retention_chain")

        if (origins or sites) and self._first("sites"):
            self._origins(origins)
            self._sites(sites)
        elif (origins or sites) and point_back:
            self._line("allocation sites: as above", dim=True)
        if memray and self._first("memray"):
            self._memray(memray, evidence.get("memray_command"))
            self.printed.add("memray-command")
        if isinstance(chain, Mapping):
            self.chain(chain, point_back=point_back)

    def chain(self, chain: Mapping[str, object], *, point_back: bool = True) -> None:
        """Print a retention chain and its holder, unless already printed."""
        text = str(chain.get("text", ""))
        if not text:
            return
        if not self._first(f"chain:{text}"):
            if point_back:
                self._line("held by: the chain above", dim=True)
            return
        self._line(f"held by {chain.get('holder')}", style="bold")
        self._line(f"  {text}", dim=True)

    def summary(self, attribution: Mapping[str, object]) -> None:
        """Print the pass's status line, its notes, and where its files are."""
        status = attribution.get("status")
        cycles = attribution.get("cycles")
        seconds = attribution.get("seconds")
        line = Text("  ")
        line.append("attribution", style="bold")
        took = (
            f" in {format_duration(seconds)}"
            if isinstance(seconds, int | float)
            else ""
        )
        line.append(f"  {status}: {cycles} traced cycles{took}")
        self.out.print(line)

        # Evidence no finding carried (a --deep run that found nothing, say).
        memray = attribution.get("memray")
        retention = attribution.get("retention")
        self.finding(
            {
                "allocation_origins": attribution.get("allocation_origins"),
                "allocation_sites": attribution.get("allocation_sites"),
                "memray_sites": memray.get("sites")
                if isinstance(memray, Mapping)
                else None,
                "retention_chain": retention.get("lead")
                if isinstance(retention, Mapping)
                else None,
            },
            point_back=False,
        )

        notes = [str(note) for note in _list(attribution.get("notes"))]
        for note in notes[:MAX_NOTES_SHOWN]:
            self._line(f"note: {note}")
        if len(notes) > MAX_NOTES_SHOWN:
            self._line(f"...and {len(notes) - MAX_NOTES_SHOWN} more notes", dim=True)

        if (
            isinstance(memray, Mapping)
            and memray.get("command")
            and not memray.get("note")
            and self._first("memray-command")
        ):
            self._line(f"flame graph of the leaks: {memray['command']}", dim=True)
        if isinstance(retention, Mapping):
            graphs = _dicts(retention.get("graphs"))
            if graphs:
                folder = os.path.dirname(str(graphs[0].get("dot", "")))
                drawn = "svg" if graphs[0].get("svg") else "dot"
                self._line(f"chain graphs ({len(graphs)} .{drawn}): {folder}", dim=True)

    def _origins(self, origins: Sequence[Mapping[str, object]]) -> None:
        shown = shown_origins(origins, MAX_ORIGINS_SHOWN)
        for origin in shown:
            self._line(
                f"your code: {_short(str(origin.get('where')))} "
                f"{_rate(origin)}: {origin.get('source')}"
            )
        _more(self, len(origins), len(shown), "lines")

    def _sites(self, sites: Sequence[Mapping[str, object]]) -> None:
        for index, site in enumerate(sites[:MAX_SITES_SHOWN]):
            self._line(
                f"allocated at {_short(str(site.get('where')))} {_rate(site)}: "
                f"{site.get('line')}"
            )
            if index == 0:
                frames = _dicts(site.get("traceback"))[1 : MAX_TRACEBACK_SHOWN + 1]
                for frame in frames:
                    self._line(
                        f"  from {_short(str(frame.get('file')))}:"
                        f"{frame.get('line')}: {frame.get('source')}",
                        dim=True,
                    )
        _more(self, len(sites), MAX_SITES_SHOWN, "sites")

    def _memray(self, sites: Sequence[Mapping[str, object]], command: object) -> None:
        for site in sites[:MAX_MEMRAY_SHOWN]:
            size = format_quantity(float(str(site.get("bytes_per_cycle", 0))), "bytes")
            self._line(
                f"memray: {_short(str(site.get('where')))} in {site.get('function')} "
                f"leaves {size} per cycle"
            )
        _more(self, len(sites), MAX_MEMRAY_SHOWN, "memray sites")
        if command:
            self._line(f"  {command}", dim=True)

    def _first(self, key: str) -> bool:
        if key in self.printed:
            return False
        self.printed.add(key)
        return True

    def _line(self, text: str, *, dim: bool = False, style: str = "") -> None:
        self.out.print(Text(f"{INDENT}{text}", style="dim" if dim else style))


def shown_origins(
    origins: Sequence[Mapping[str, object]], limit: int
) -> list[Mapping[str, object]]:
    """The fastest-growing ``limit`` origins, then the target's own best line.

    The target's own file (``own``) is where its author starts reading:
    when the fastest lines are all elsewhere in the code under test (a base
    class, a helper module), the target's best line is shown after them.
    """
    shown = list(origins[:limit])
    if any(origin.get("own") for origin in shown):
        return shown
    own = next((origin for origin in origins[limit:] if origin.get("own")), None)
    return [*shown, own] if own is not None else shown


def _more(printer: EvidencePrinter, total: int, shown: int, label: str) -> None:
    if total > shown:
        printer._line(f"...and {total - shown} more {label}", dim=True)


def _rate(item: Mapping[str, object]) -> str:
    value = item.get("bytes_per_cycle")
    if not isinstance(value, int | float):
        return ""
    return f"+{format_quantity(float(value), 'bytes')}/cycle"


def _short(path: str) -> str:
    """A path as people read it: from the package or the current directory."""
    for marker in ("/site-packages/", "/lib/python3."):
        if marker in path:
            tail = path.split(marker, 1)[1]
            return tail.split("/", 1)[1] if marker.startswith("/lib") else tail
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return path
    return relative if not relative.startswith("..") else path


def _dicts(value: object) -> list[Mapping[str, object]]:
    return [item for item in _list(value) if isinstance(item, Mapping)]


def _list(value: object) -> list[object]:
    return list(value) if isinstance(value, list | tuple) else []

"""Retention chains as graphs: a Graphviz ``.dot`` each, ``.svg`` with Graphviz.

The ``.dot`` text is written from the chain as the report names it (each
edge labelled with the attribute, key or index the code uses), so it needs
nothing installed and opens in any Graphviz viewer. When the ``dot`` program
is on PATH it is also rendered to ``.svg``; when it is not, the report says
so and how to install it.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

logger = logging.getLogger(__name__)

DOT_TIMEOUT = 30.0
"""Seconds Graphviz may take to lay out one chain."""

GRAPHVIZ_MISSING = (
    "Graphviz's dot is not installed, so the chains are written as .dot only; "
    "install it (Debian: apt-get install graphviz) to get .svg drawings."
)


def chain_dot(chain: Mapping[str, object]) -> str:
    """The chain as Graphviz DOT text: one box per object, edges named as in code."""
    nodes = [str(node) for node in _list(chain.get("nodes"))]
    hops = [hop for hop in _list(chain.get("hops")) if isinstance(hop, Mapping)]
    if not nodes:
        nodes = [str(chain.get("root", "root"))] + [
            str(hop.get("type", "?")) for hop in hops
        ]

    lines = [
        "digraph retention {",
        "  rankdir=LR;",
        '  node [shape=box, fontname="Helvetica", fontsize=10];',
        '  edge [fontname="Helvetica", fontsize=9];',
    ]
    for index, label in enumerate(nodes):
        style = ', style=filled, fillcolor="#fde2e2"' if index == len(nodes) - 1 else ""
        lines.append(f'  n{index} [label="{_escape(label)}"{style}];')
    for index, hop in enumerate(hops[: len(nodes) - 1]):
        label = _escape(str(hop.get("label", "")))
        lines.append(f'  n{index} -> n{index + 1} [label="{label}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_chain_graphs(
    chains: Iterable[object], directory: Path
) -> tuple[list[dict[str, object]], list[str]]:
    """Write each chain's ``.dot`` (and ``.svg`` with Graphviz) into ``directory``.

    Returns one ``{type, dot, svg}`` entry per chain written and the notes
    the report should carry (Graphviz missing, a layout that failed).
    """
    written: list[dict[str, object]] = []
    notes: list[str] = []
    items = [chain for chain in chains if isinstance(chain, Mapping)]
    if not items:
        return written, notes

    directory.mkdir(parents=True, exist_ok=True)
    dot = shutil.which("dot")
    if dot is None:
        notes.append(GRAPHVIZ_MISSING)

    for chain in items:
        kind = str(chain.get("type", "object"))
        stem = directory / f"chain-{_slug(kind)}"
        dot_path = stem.with_suffix(".dot")
        dot_path.write_text(chain_dot(chain), encoding="utf-8")
        entry: dict[str, object] = {"type": kind, "dot": str(dot_path), "svg": None}
        if dot is not None:
            svg_path = stem.with_suffix(".svg")
            try:
                subprocess.run(
                    [dot, "-Tsvg", str(dot_path), "-o", str(svg_path)],
                    check=True,
                    capture_output=True,
                    timeout=DOT_TIMEOUT,
                )
                entry["svg"] = str(svg_path)
            except (subprocess.SubprocessError, OSError) as exc:
                notes.append(f"Graphviz could not draw {dot_path}: {exc}")
        written.append(entry)
    logger.info("Wrote %d retention chain graph(s) to %s.", len(written), directory)
    return written, notes


def _list(value: object) -> list[object]:
    return list(value) if isinstance(value, list | tuple) else []


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _slug(name: str) -> str:
    short = name.rsplit(".", 1)[-1]
    return re.sub(r"[^A-Za-z0-9_-]+", "-", short).strip("-") or "object"

"""The attribution evidence in the terminal: your code, the sites, the holder."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from rich.console import Console

from leakhunt.report.evidence import (
    MAX_MEMRAY_SHOWN,
    MAX_NOTES_SHOWN,
    MAX_ORIGINS_SHOWN,
    MAX_SITES_SHOWN,
    EvidencePrinter,
)

SITE_PACKAGES = "/srv/venv/lib/python3.11/site-packages"
STDLIB = "/usr/lib/python3.11"

CHAIN = {
    "type": "kubernetes.client.models.v1_pod.V1Pod",
    "root": "module myop.registry",
    "holder": "myop.registry._INFORMERS",
    "text": "module myop.registry -> _INFORMERS (list) -> [3] (SharedInformer)",
}


def origin(
    line: int, per_cycle: float, source: str, *, own: bool = False
) -> dict[str, Any]:
    path = "/srv/myop/registry.py" if own else "/srv/myop/base.py"
    return {
        "where": f"{path}:{line}",
        "file": path,
        "line": line,
        "source": source,
        "bytes_per_cycle": per_cycle,
        "own": own,
    }


def decoder_site(per_cycle: float = 360_200.0) -> dict[str, Any]:
    return {
        "where": f"{STDLIB}/json/decoder.py:353",
        "line": "obj, end = self.scan_once(s, idx)",
        "bytes_per_cycle": per_cycle,
        "traceback": [
            {"file": f"{STDLIB}/json/decoder.py", "line": 353, "source": "obj, end"},
            {"file": f"{STDLIB}/json/decoder.py", "line": 337, "source": "obj, end ="},
            {"file": f"{STDLIB}/json/__init__.py", "line": 346, "source": "return _d"},
            {
                "file": f"{SITE_PACKAGES}/kubernetes/client/api_client.py",
                "line": 527,
                "source": "data = json.loads(response_text)",
            },
            {"file": "/srv/myop/registry.py", "line": 66, "source": "too deep"},
        ],
    }


def memray_site(function: str, per_cycle: float) -> dict[str, Any]:
    return {
        "where": f"{SITE_PACKAGES}/pydantic/main.py:792",
        "function": function,
        "bytes_per_cycle": per_cycle,
    }


def printed(*evidence: Mapping[str, object]) -> list[str]:
    """The lines one printer prints for each evidence in turn, stripped."""
    buffer = io.StringIO()
    printer = EvidencePrinter(Console(file=buffer, width=300, color_system=None))
    for item in evidence:
        printer.finding(item)
    return [line.strip() for line in buffer.getvalue().splitlines()]


def summarized(
    attribution: Mapping[str, object], *before: Mapping[str, object]
) -> list[str]:
    buffer = io.StringIO()
    printer = EvidencePrinter(Console(file=buffer, width=300, color_system=None))
    for item in before:
        printer.finding(item)
    start = len(buffer.getvalue().splitlines())
    printer.summary(attribution)
    return [line.strip() for line in buffer.getvalue().splitlines()[start:]]


def test_your_code_shows_the_fastest_lines_with_their_growth_and_source() -> None:
    origins = [
        origin(10 + n, 4096.0 - 512 * n, f"line_{n}()")
        for n in range(MAX_ORIGINS_SHOWN + 2)
    ]

    lines = printed({"allocation_origins": origins})

    assert lines == [
        "your code: /srv/myop/base.py:10 +4.00 KiB/cycle: line_0()",
        "your code: /srv/myop/base.py:11 +3.50 KiB/cycle: line_1()",
        "your code: /srv/myop/base.py:12 +3.00 KiB/cycle: line_2()",
        "...and 2 more lines",
    ]


def test_the_targets_own_line_is_shown_after_the_fastest_lines_elsewhere() -> None:
    origins = [origin(10 + n, 2048.0, f"base_{n}()") for n in range(4)]
    origins.append(origin(47, 1516.0, "return Controller(ctx)", own=True))

    lines = printed({"allocation_origins": origins})

    assert [line.split(": ", 2)[-1] for line in lines[:4]] == [
        "base_0()",
        "base_1()",
        "base_2()",
        "return Controller(ctx)",
    ]
    assert lines[3].startswith("your code: /srv/myop/registry.py:47 +1.48 KiB/cycle")
    assert lines[4:] == ["...and 1 more lines"]


def test_the_top_site_is_shown_with_the_frames_it_was_called_from() -> None:
    sites = [decoder_site(360_200.0 - n) for n in range(MAX_SITES_SHOWN + 1)]

    lines = printed({"allocation_sites": sites})

    assert lines[:4] == [
        "allocated at json/decoder.py:353 +351.76 KiB/cycle: "
        "obj, end = self.scan_once(s, idx)",
        "from json/decoder.py:337: obj, end =",
        "from json/__init__.py:346: return _d",
        "from kubernetes/client/api_client.py:527: data = json.loads(response_text)",
    ]
    assert sum(line.startswith("allocated at ") for line in lines) == MAX_SITES_SHOWN
    assert sum(line.startswith("from ") for line in lines) == 3
    assert lines[-1] == "...and 1 more sites"


def test_memray_sites_come_with_the_command_that_draws_their_flame_graph() -> None:
    sites = [memray_site(f"build_{n}", 140_000.0) for n in range(MAX_MEMRAY_SHOWN + 2)]
    command = "memray flamegraph --leaks runs/attribution/memray-leaks.bin"

    lines = printed({"memray_sites": sites, "memray_command": command})

    assert (
        lines[0]
        == "memray: pydantic/main.py:792 in build_0 leaves 136.72 KiB per cycle"
    )
    assert len([line for line in lines if line.startswith("memray: ")]) == 3
    assert lines[-2:] == ["...and 2 more memray sites", command]


def test_held_by_names_the_holder_then_the_chain_and_later_points_back() -> None:
    lines = printed(
        {"retention_chain": CHAIN},
        {"retention_chain": CHAIN, "allocation_origins": []},
    )

    assert lines == [
        "held by myop.registry._INFORMERS",
        "module myop.registry -> _INFORMERS (list) -> [3] (SharedInformer)",
        "held by: the chain above",
    ]


def test_sites_shared_by_findings_are_printed_once_then_pointed_back_to() -> None:
    evidence = {"allocation_sites": [decoder_site()]}

    lines = printed(evidence, evidence)

    assert lines.count("allocation sites: as above") == 1
    assert sum(line.startswith("allocated at ") for line in lines) == 1


def test_the_summary_shows_status_notes_the_flame_graph_and_the_chain_graphs() -> None:
    notes = [f"note number {n}" for n in range(MAX_NOTES_SHOWN + 2)]
    attribution = {
        "status": "partial",
        "cycles": 8,
        "seconds": 63.3,
        "notes": notes,
        "memray": {
            "command": "memray flamegraph --leaks runs/attribution/memray-leaks.bin",
            "note": None,
        },
        "retention": {
            "graphs": [
                {"dot": "/runs/attribution/chain-V1Pod.dot", "svg": "/x.svg"},
                {"dot": "/runs/attribution/chain-Informer.dot", "svg": "/y.svg"},
            ]
        },
    }

    lines = summarized(attribution)

    assert lines[0].startswith("attribution  partial: 8 traced cycles in ")
    assert lines[1 : 1 + MAX_NOTES_SHOWN] == [
        f"note: note number {n}" for n in range(MAX_NOTES_SHOWN)
    ]
    assert "...and 2 more notes" in lines
    assert (
        "flame graph of the leaks: memray flamegraph --leaks "
        "runs/attribution/memray-leaks.bin"
    ) in lines
    assert lines[-1] == "chain graphs (2 .svg): /runs/attribution"


def test_the_summary_shows_what_no_finding_carried_and_not_what_one_did() -> None:
    attribution = {
        "status": "complete",
        "cycles": 8,
        "allocation_sites": [decoder_site()],
        "memray": {"command": "memray flamegraph --leaks m.bin", "note": None},
        "retention": {"lead": CHAIN, "graphs": []},
    }
    carried = {
        "memray_sites": [memray_site("build", 1024.0)],
        "memray_command": "memray flamegraph --leaks m.bin",
    }

    lines = summarized(attribution, carried)

    assert any(line.startswith("allocated at json/decoder.py:353") for line in lines)
    assert "held by myop.registry._INFORMERS" in lines
    assert not any("flame graph of the leaks" in line for line in lines)

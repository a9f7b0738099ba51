"""The HTML report: self-contained, a plot per signal, drawn by a real browser."""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

from leakhunt.analysis.verdict import judge
from leakhunt.report.graph import write_chain_graphs
from leakhunt.report.html import CSP, plots_for, render_html, write_html
from leakhunt.report.model import MEMORY_GROWTH, Report
from leakhunt.report.plots import (
    HEIGHT,
    MARGIN_BOTTOM,
    MARGIN_LEFT,
    MARGIN_RIGHT,
    MARGIN_TOP,
    SERIES_COLOUR,
    TREND_COLOUR,
    WARMUP_FILL,
    WIDTH,
)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)

CHAIN = {
    "type": "kubernetes.client.models.v1_pod.V1Pod",
    "root": "module myop.registry",
    "root_kind": "module",
    "holder": "myop.registry._INFORMERS",
    "text": "module myop.registry -> _INFORMERS (list) -> [3] (SharedInformer)",
    "hops": [
        {"edge": "attribute", "label": "_INFORMERS", "type": "builtins.list"},
        {"edge": "index", "label": "[3]", "type": "kubernetes.informer.SharedInformer"},
    ],
    "nodes": ["module myop.registry", "list (4 items)", "SharedInformer"],
}

OTHER_CHAIN = {
    "type": "kubernetes.client.api_client.ApiClient",
    "root": "module myop.registry",
    "root_kind": "module",
    "holder": "myop.registry._CLIENTS",
    "text": "module myop.registry -> _CLIENTS (dict) -> [7] (ApiClient)",
    "hops": [
        {"edge": "attribute", "label": "_CLIENTS", "type": "builtins.dict"},
        {"edge": "key", "label": "[7]", "type": "kubernetes.client.ApiClient"},
    ],
    "nodes": ["module myop.registry", "dict (8 items)", "ApiClient"],
}

MEMRAY_SITE = {
    "where": "/srv/venv/lib/python3.11/site-packages/pydantic/main.py:792",
    "function": "model_validate",
    "bytes_per_cycle": 143_000.0,
}

DOT = shutil.which("dot")


def leaky_report() -> Report:
    """A report of 20 cycles in which memory and pods grow after 3 warm-up cycles."""
    cycles = 20
    series = {
        "rss_bytes": [
            50e6 + min(i, 3) * 2e6 + max(0, i - 3) * 40_000 for i in range(cycles)
        ],
        "threads": [3.0] * cycles,
        "gc_objects": [60_000.0 + 138 * i for i in range(cycles)],
        "objects.kubernetes.client.models.v1_pod.V1Pod": [
            float(i) for i in range(cycles)
        ],
    }
    findings = judge(series)
    for finding in findings:
        finding.evidence["retention_chain"] = CHAIN
    findings[0].evidence["allocation_sites"] = [
        {
            "where": "/srv/myop/registry.py:42",
            "line": "informer = SharedInformer(",
            "bytes_per_cycle": 40960.0,
            "blocks_per_cycle": 138.0,
            "traceback": [{"file": "/srv/myop/registry.py", "line": 42, "source": "x"}],
        }
    ]
    return Report(
        cycles=cycles,
        findings=findings,
        series=series,
        meta={
            "target": "myop.registry:controller",
            "attribution": {
                "status": "complete",
                "warmup": 3,
                "cycles": 8,
                "notes": ["Graphviz's dot is not installed, so the chains are .dot."],
                "retention": {"lead": CHAIN, "chains": [CHAIN], "graphs": []},
            },
        },
    )


def explained_report(run: Path) -> Report:
    """The leaky report with everything an attribution pass adds: notes, memray
    sites and their capture, the chains drawn by Graphviz, more than one chain."""
    report = leaky_report()
    attribution_dir = run / "attribution"
    capture = attribution_dir / "memray-leaks.bin"
    command = f"memray flamegraph --leaks {capture}"
    graphs, _ = write_chain_graphs([CHAIN, OTHER_CHAIN], attribution_dir)
    memory = next(f for f in report.findings if f.kind == MEMORY_GROWTH)
    memory.evidence["memray_sites"] = [MEMRAY_SITE]
    memory.evidence["memray_command"] = command
    report.meta["attribution"] = {
        "status": "partial",
        "warmup": 3,
        "cycles": 8,
        "seconds": 61.5,
        "notes": ["Attribution was interrupted after 9 of 11 cycles."],
        "memray": {
            "path": str(capture),
            "command": command,
            "sites": [MEMRAY_SITE],
            "note": None,
        },
        "retention": {
            "lead": CHAIN,
            "chains": [CHAIN, OTHER_CHAIN],
            "graphs": graphs,
        },
    }
    return report


def test_the_page_forbids_every_outside_resource_and_links_none() -> None:
    page = render_html(leaky_report())

    assert f'<meta http-equiv="Content-Security-Policy" content="{CSP}">' in page
    assert "default-src 'none'" in CSP
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page)
    assert "<script" not in page


def test_the_page_leads_with_the_verdict_and_groups_the_grown_types() -> None:
    report = leaky_report()
    page = render_html(report)

    assert page.index('id="verdict"') < page.index("<h2>Findings</h2>")
    assert "FAIL" in page
    assert "myop.registry._INFORMERS" in page
    assert "kubernetes.client.models.v1_pod.V1Pod" in page
    assert page.count('data-kind="object-growth"') == 1


def test_the_attribution_section_shows_its_notes_memray_and_more_chains(
    tmp_path: Path,
) -> None:
    page = write_html(explained_report(tmp_path / "run"), tmp_path / "report.html")
    text = page.read_text()

    assert (
        '<ul class="notes"><li>Attribution was interrupted after 9 of 11 cycles.</li>'
        in text
    )
    assert "<h4>Still allocated at the end of the capture (memray)</h4>" in text
    assert "pydantic/main.py:792</code></td><td>model_validate</td>" in text
    assert "<summary>1 more chains</summary>" in text
    assert "module myop.registry -&gt; _CLIENTS (dict) -&gt; [7] (ApiClient)" in text


def test_the_memray_capture_is_linked_relative_to_the_page(tmp_path: Path) -> None:
    report = explained_report(tmp_path / "run")

    page = write_html(report, tmp_path / "report.html").read_text()
    unplaced = render_html(report)

    capture = tmp_path / "run" / "attribution" / "memray-leaks.bin"
    assert '<a class="capture" href="run/attribution/memray-leaks.bin">' in page
    assert f'<a class="capture" href="{capture.as_uri()}">' in unplaced


@pytest.mark.skipif(DOT is None, reason="Graphviz is not installed")
def test_the_leading_chain_is_drawn_inline_without_outside_names(
    tmp_path: Path,
) -> None:
    page = render_html(explained_report(tmp_path / "run"))

    drawings = re.findall(r'<div class="graph">(<svg.*?</svg>)', page, re.DOTALL)
    assert len(drawings) == 1
    assert "_INFORMERS" in drawings[0]
    assert "_CLIENTS" not in drawings[0]
    assert "xmlns" not in drawings[0]
    assert "<!--" not in drawings[0]


def _fetched_by_chromium(page: Path, profile: Path) -> set[str]:
    """Open ``page`` in headless Chromium and return the URLs the page fetched.

    Chromium itself asks for the network time and for updates whatever the
    flags; those requests have no initiator ("not an origin"). A request the
    page made carries the page's origin as its initiator.
    """
    assert CHROMIUM is not None
    net_log = profile.parent / f"{profile.name}-net-log.json"
    subprocess.run(
        [
            CHROMIUM,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--log-net-log={net_log}",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )

    log = json.loads(net_log.read_text())
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return {
        str(params.get("url"))
        for event in log["events"]
        if event["type"] == start_job
        and "url" in (params := event.get("params", {}))
        and params.get("initiator") != "not an origin"
    }


CELL_WIDTH = WIDTH + 20
CELL_HEIGHT = HEIGHT + 20
"""Each plot's place in the screenshot: the plot, its frame, and a gap."""

FIGURE_INSET = 5
"""Where a plot starts inside its figure: the figure's border and padding."""


def _screenshot_of_the_plots(page: Path, count: int, profile: Path) -> np.ndarray:
    """Chromium's drawing of the page's plots, each in a cell of its own.

    A copy of the page gets a style that hides everything but the plots and
    sets each figure at a known place; nothing in it makes a plot visible
    that the page's own styles hide or shrink.
    """
    assert CHROMIUM is not None
    places = "".join(
        f".plots>figure:nth-of-type({k + 1}){{left:{(k % 2) * CELL_WIDTH}px;"
        f"top:{(k // 2) * CELL_HEIGHT}px}}"
        for k in range(count)
    )
    style = (
        "<style>body{margin:0;padding:0}body>:not(.plots){display:none}"
        f".plots{{position:relative}}.plots>figure{{position:absolute}}{places}"
        "</style>"
    )
    copy = page.with_name("plots-only.html")
    copy.write_text(page.read_text().replace("</head>", f"{style}</head>", 1))
    shot = page.with_name("plots.png")
    rows = (count + 1) // 2
    subprocess.run(
        [
            CHROMIUM,
            *CHROMIUM_FLAGS,
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            f"--user-data-dir={profile}",
            f"--screenshot={shot}",
            f"--window-size={2 * CELL_WIDTH},{rows * CELL_HEIGHT}",
            copy.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    return read_png(shot)


def read_png(path: Path) -> np.ndarray:
    """Decode an 8-bit RGB or RGBA PNG into an array of rows of RGB pixels."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, compressed = 8, []
    width = height = channels = 0
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8, depth
            channels = {2: 3, 6: 4}[colour]
        elif kind == b"IDAT":
            compressed.append(body)
        position += 12 + length

    raw = zlib.decompress(b"".join(compressed))
    stride = width * channels
    pixels = np.zeros((height, stride), dtype=np.int64)
    previous = np.zeros(stride, dtype=np.int64)
    for y in range(height):
        start = y * (stride + 1)
        method = raw[start]
        line = np.frombuffer(raw, np.uint8, stride, start + 1).astype(np.int64)
        pixels[y] = previous = _unfilter(method, line, previous, channels)
    return pixels.reshape(height, width, channels)[:, :, :3]


def _unfilter(
    method: int, line: np.ndarray, above: np.ndarray, channels: int
) -> np.ndarray:
    """Undo one row's PNG filter (the five of the PNG specification)."""
    if method == 0:
        return line
    if method == 1:
        summed = np.cumsum(line.reshape(-1, channels), axis=0).reshape(-1)
        return np.asarray(summed & 255, dtype=np.int64)
    if method == 2:
        return np.asarray((line + above) & 255, dtype=np.int64)
    row = [0] * len(line)
    values, ups = line.tolist(), above.tolist()
    for i, value in enumerate(values):
        left = row[i - channels] if i >= channels else 0
        up = ups[i]
        if method == 3:
            row[i] = (value + (left + up) // 2) & 255
            continue
        upper_left = ups[i - channels] if i >= channels else 0
        guess = left + up - upper_left
        near = min(
            (abs(guess - left), 0, left),
            (abs(guess - up), 1, up),
            (abs(guess - upper_left), 2, upper_left),
        )
        row[i] = (value + near[2]) & 255
    return np.array(row, dtype=np.int64)


def _warmup_column(plot: np.ndarray, warmup: int, cycles: int) -> np.ndarray:
    """The column of pixels down the middle of a plot's warm-up shading."""
    inner = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    middle = MARGIN_LEFT + round(warmup / (2 * cycles) * inner)
    return plot[MARGIN_TOP + 2 : HEIGHT - MARGIN_BOTTOM - 2, middle : middle + 1]


def _pixels_near(region: np.ndarray, colour: str, tolerance: int = 24) -> int:
    rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(region - rgb).max(axis=2) <= tolerance).sum())


FLAGGED_BORDER = "#e4a8a1"
PLAIN_BORDER = "#e3e3e3"


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")
@pytest.mark.parametrize("explained", [False, True], ids=["screening", "attribution"])
def test_chromium_draws_every_plot_and_fetches_nothing(
    tmp_path: Path, explained: bool
) -> None:
    report = explained_report(tmp_path / "run") if explained else leaky_report()
    page = write_html(report, tmp_path / "report.html")
    expected = plots_for(report, report.findings)
    assert len(expected) >= 4

    fetched = _fetched_by_chromium(page, tmp_path / "profile")
    image = _screenshot_of_the_plots(page, len(expected), tmp_path / "profile-2")

    # The page asked the network for nothing.
    assert fetched == set()

    # Every plot is drawn: its points and line, its dashed trend, its
    # warm-up shading, and the frame of a flagged signal in red.
    for k, plot in enumerate(expected):
        left, top = (k % 2) * CELL_WIDTH, (k // 2) * CELL_HEIGHT
        inside = image[
            top + FIGURE_INSET : top + FIGURE_INSET + HEIGHT,
            left + FIGURE_INSET : left + FIGURE_INSET + WIDTH,
        ]
        assert _pixels_near(inside, SERIES_COLOUR) >= 3 * len(plot.values), plot.signal
        # NB: a flat series hides its flat trend under its own line.
        if plot.trend is not None and len(set(plot.values)) > 1:
            assert _pixels_near(inside, TREND_COLOUR) >= 50, plot.signal
        if plot.warmup:
            band = _warmup_column(inside, plot.warmup, len(plot.values))
            assert _pixels_near(band, WARMUP_FILL, tolerance=1) >= 0.6 * len(band)
        frame = image[top + HEIGHT // 2 : top + HEIGHT // 2 + 1, left : left + 1]
        border = FLAGGED_BORDER if plot.flagged else PLAIN_BORDER
        assert _pixels_near(frame, border, tolerance=6) == 1, plot.signal


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")
def test_the_fetch_check_sees_a_page_that_loads_an_outside_image(
    tmp_path: Path,
) -> None:
    page = tmp_path / "leaky.html"
    page.write_text(
        '<!DOCTYPE html><html><body><img src="http://127.0.0.1:9/pixel.png">'
        "</body></html>",
        encoding="utf-8",
    )

    fetched = _fetched_by_chromium(page, tmp_path / "profile")

    assert "http://127.0.0.1:9/pixel.png" in fetched

"""The HTML report: self-contained, a plot per signal, drawn by a real browser."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from leakhunt.analysis.verdict import judge
from leakhunt.report.html import CSP, plots_for, render_html, write_html
from leakhunt.report.model import Report

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


def _render_in_chromium(page: Path, profile: Path) -> tuple[str, set[str]]:
    """Open ``page`` in headless Chromium: the rendered DOM, and what the page fetched.

    Chromium itself asks for the network time and for updates whatever the
    flags; those requests have no initiator ("not an origin"). A request the
    page made carries the page's origin as its initiator.
    """
    assert CHROMIUM is not None
    net_log = profile.parent / f"{profile.name}-net-log.json"
    result = subprocess.run(
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
    fetched = {
        str(params.get("url"))
        for event in log["events"]
        if event["type"] == start_job
        and "url" in (params := event.get("params", {}))
        and params.get("initiator") != "not an origin"
    }
    return result.stdout, fetched


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")
def test_chromium_draws_every_plot_and_fetches_nothing(tmp_path: Path) -> None:
    report = leaky_report()
    page = write_html(report, tmp_path / "report.html")
    expected = plots_for(report, report.findings)

    dom, fetched = _render_in_chromium(page, tmp_path / "profile")

    # Every plot is in the rendered DOM, with its line and its points.
    plots = re.findall(r'<svg class="plot".*?</svg>', dom, flags=re.DOTALL)
    assert len(plots) == len(expected) >= 4
    for plot, wanted in zip(plots, expected, strict=True):
        assert f'data-signal="{wanted.signal}"' in plot
        assert re.search(r'<polyline[^>]*points="[-0-9., ]{20,}"', plot)
    flagged = [plot for plot in plots if 'class="trend"' in plot]
    assert len(flagged) >= len(report.findings)
    assert 'class="warmup"' in "".join(plots)

    # And the page asked the network for nothing.
    assert fetched == set()


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

    _, fetched = _render_in_chromium(page, tmp_path / "profile")

    assert "http://127.0.0.1:9/pixel.png" in fetched

"""``leakhunt report``: any saved run, in the terminal and as an HTML page."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from leakhunt.analysis.verdict import judge
from leakhunt.report.model import Report

LEAKHUNT = [sys.executable, "-m", "leakhunt"]


def _saved_run(tmp_path: Path, *, leaky: bool) -> Path:
    cycles = 12
    step = 64 * 1024 if leaky else 0
    series = {
        "rss_bytes": [40e6 + step * i for i in range(cycles)],
        "threads": [2.0] * cycles,
    }
    report = Report(
        cycles=cycles,
        findings=judge(series),
        series=series,
        meta={"target": "myop.controller:run"},
    )
    return report.write(tmp_path / "run.json")


def test_a_saved_leaky_run_renders_as_html_and_exits_1(tmp_path: Path) -> None:
    run = _saved_run(tmp_path, leaky=True)
    page = tmp_path / "out.html"

    result = subprocess.run(
        [*LEAKHUNT, "report", str(run), "--html", str(page)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith("FAIL")
    assert "memory-growth" in result.stdout
    html = page.read_text()
    assert 'data-signal="rss_bytes"' in html
    assert 'data-kind="memory-growth"' in html


def test_a_clean_run_exits_0(tmp_path: Path) -> None:
    run = _saved_run(tmp_path, leaky=False)

    result = subprocess.run(
        [*LEAKHUNT, "report", str(run)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("PASS")


def test_a_file_that_is_not_a_report_is_refused_with_what_to_give(
    tmp_path: Path,
) -> None:
    bogus = tmp_path / "notes.json"
    bogus.write_text('{"hello": "world"}')

    result = subprocess.run(
        [*LEAKHUNT, "report", str(bogus), "--html", str(tmp_path / "out.html")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert "is not a leakhunt report" in result.stderr
    assert "'leakhunt soak --json'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out.html").exists()


def test_an_html_path_in_a_missing_directory_is_refused_before_rendering(
    tmp_path: Path,
) -> None:
    run = _saved_run(tmp_path, leaky=True)

    result = subprocess.run(
        [*LEAKHUNT, "report", str(run), "--html", str(tmp_path / "no" / "x.html")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert "does not exist" in result.stderr

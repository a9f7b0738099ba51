"""``leakhunt soak``'s attribution options, through the real CLI.

The attribution pass itself is tested in tests/leakhunt/test_attribution.py;
here, what a user types: ``--deep`` on a run that passes, ``--deep-cycles``
outside its range, ``--deep`` with ``--no-attribution``, and a machine
without Graphviz.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.errors import EXIT_USAGE
from leakhunt.attribution import MAX_DEEP_CYCLES, MIN_DEEP_CYCLES
from leakhunt.report.graph import GRAPHVIZ_MISSING

SOAK_TIMEOUT = 600
"""Seconds any one soak may take here before the test calls it a hang."""


def soak(
    tmp_path: Path, target: str, *args: str, env: dict[str, str] | None = None
) -> tuple[int, dict[str, Any] | None, str]:
    """Run ``leakhunt soak TARGET ARGS``; return its exit code, report and stderr."""
    report = tmp_path / "report.json"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "leakhunt",
            "soak",
            target,
            "--quiet",
            "--json",
            str(report),
            "--log-dir",
            str(tmp_path / "run"),
            "--cycles",
            "3",
            "--objects",
            "5",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=SOAK_TIMEOUT,
        check=False,
        env=env,
    )
    document = json.loads(report.read_text()) if report.exists() else None
    return completed.returncode, document, completed.stderr


def test_deep_explains_a_run_that_passed(tmp_path: Path) -> None:
    code, report, stderr = soak(
        tmp_path,
        "harness.controllers.correct:controller",
        "--deep",
        "--deep-cycles",
        "3",
    )

    assert code == 0, stderr
    assert report is not None
    assert report["verdict"] == "pass"
    attribution = report["meta"]["attribution"]
    assert attribution["status"] == "complete", attribution["notes"]
    assert attribution["cycles"] == 3
    assert attribution["cycles_run"] == attribution["warmup"] + 3


@pytest.mark.parametrize("cycles", [MIN_DEEP_CYCLES - 1, MAX_DEEP_CYCLES + 1])
def test_deep_cycles_outside_the_range_are_refused_with_the_range(
    tmp_path: Path, cycles: int
) -> None:
    code, report, stderr = soak(
        tmp_path, "harness.controllers.correct:controller", "--deep-cycles", str(cycles)
    )

    assert code == EXIT_USAGE
    assert report is None
    assert (
        f"expected --deep-cycles between {MIN_DEEP_CYCLES} and {MAX_DEEP_CYCLES}, "
        f"got {cycles}"
    ) in stderr
    assert len(stderr.strip().splitlines()) == 1, stderr


def test_deep_with_no_attribution_is_refused_before_anything_runs(
    tmp_path: Path,
) -> None:
    code, report, stderr = soak(
        tmp_path, "harness.controllers.correct:controller", "--deep", "--no-attribution"
    )

    assert code == EXIT_USAGE
    assert report is None
    assert "--deep asks for the attribution pass and --no-attribution" in stderr
    assert not (tmp_path / "run" / "attribution").exists()


def test_without_graphviz_the_chains_are_written_as_dot_with_a_note(
    tmp_path: Path,
) -> None:
    # Only the virtual environment's programs: no Graphviz among them.
    bare_path = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bare_path}

    code, report, stderr = soak(
        tmp_path,
        "harness.controllers.informer_registry:controller",
        "--deep",
        "--deep-cycles",
        "3",
        env=env,
    )

    # Three cycles are too few for screening to call the leak; --deep runs
    # the pass anyway, and its chains are what counts here.
    assert code in (0, 1), stderr
    assert report is not None
    attribution = report["meta"]["attribution"]
    assert GRAPHVIZ_MISSING in attribution["notes"]
    graphs = attribution["retention"]["graphs"]
    assert graphs
    assert all(graph["svg"] is None for graph in graphs)
    assert all(Path(graph["dot"]).read_text().startswith("digraph") for graph in graphs)

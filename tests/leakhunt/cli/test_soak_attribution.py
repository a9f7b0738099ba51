"""``leakhunt soak``'s attribution options, through the real CLI.

The attribution pass itself is tested in tests/leakhunt/test_attribution.py;
here, what a user types: ``--deep`` on a run that passes, ``--deep-cycles``
outside its range, ``--deep`` with ``--no-attribution``, and a machine
without Graphviz; and what a user keeps when the pass is killed: the
screening verdict, written before the pass starts.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import psutil
import pytest

from harness.errors import EXIT_USAGE
from leakhunt.attribution import MAX_DEEP_CYCLES, MIN_DEEP_CYCLES
from leakhunt.report.graph import GRAPHVIZ_MISSING

if TYPE_CHECKING:
    from tests.leakhunt.cli.conftest import Soak

BRIEF = ("--cycles", "3", "--objects", "5")
"""A soak just long enough to screen: the attribution pass is what counts here."""


def test_deep_explains_a_run_that_passed(soak: Soak) -> None:
    code, report, stderr = soak(
        "harness.controllers.correct:controller",
        *BRIEF,
        "--deep",
        "--deep-cycles",
        "3",
        attribution=True,
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
    soak: Soak, cycles: int
) -> None:
    code, report, stderr = soak(
        "harness.controllers.correct:controller",
        *BRIEF,
        "--deep-cycles",
        str(cycles),
        attribution=True,
    )

    assert code == EXIT_USAGE
    assert report is None
    assert (
        f"expected --deep-cycles between {MIN_DEEP_CYCLES} and {MAX_DEEP_CYCLES}, "
        f"got {cycles}"
    ) in stderr
    assert len(stderr.strip().splitlines()) == 1, stderr


def test_deep_with_no_attribution_is_refused_before_anything_runs(
    soak: Soak,
) -> None:
    code, report, stderr = soak(
        "harness.controllers.correct:controller",
        *BRIEF,
        "--deep",
        "--no-attribution",
        attribution=True,
    )

    assert code == EXIT_USAGE
    assert report is None
    assert "--deep asks for the attribution pass and --no-attribution" in stderr
    assert not (soak.log_dir / "attribution").exists()


def test_without_graphviz_the_chains_are_written_as_dot_with_a_note(
    soak: Soak,
) -> None:
    # Only the virtual environment's programs: no Graphviz among them.
    bare_path = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bare_path}

    code, report, stderr = soak(
        "harness.controllers.informer_registry:controller",
        *BRIEF,
        "--deep",
        "--deep-cycles",
        "3",
        attribution=True,
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


def test_the_screening_verdict_is_on_disk_before_the_attribution_pass_ends(
    soak: Soak,
) -> None:
    # First, a leak that screening calls, so that the pass starts; leakhunt
    # leads a process group of its own, to be killed whole once it has said
    # it is explaining the growth.
    with soak.start(
        "harness.controllers.informer_registry:controller",
        "--cycles",
        "6",
        "--objects",
        "20",
        attribution=True,
        quiet=False,
        start_new_session=True,
    ) as process:
        try:
            said = read_stderr_until(process, "Growth found", seconds=120)
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
            survivors = living_in_group(process.pid, seconds=30)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)

    # Then, what the pass never got to replace: the screening verdict, whole.
    assert survivors == []
    report = json.loads(soak.report.read_text())
    assert report["verdict"] == "fail", said
    assert "object-growth" in {finding["kind"] for finding in report["findings"]}
    assert "attribution" not in report["meta"]


def read_stderr_until(
    process: subprocess.Popen[str], text: str, *, seconds: float
) -> str:
    """Read ``process``'s stderr until it holds ``text``; return what was read.

    The pipe's file descriptor is read directly, with a deadline, so that a
    soak that neither says ``text`` nor ends fails the test instead of
    hanging it.
    """
    assert process.stderr is not None
    pipe = process.stderr.fileno()
    deadline = time.monotonic() + seconds
    said = b""

    while text.encode() not in said:
        left = max(deadline - time.monotonic(), 0)
        ready, _, _ = select.select([pipe], [], [], left)
        if not ready:
            raise AssertionError(f"no {text!r} in {seconds} s:\n{said.decode()}")
        chunk = os.read(pipe, 65536)
        if not chunk:
            raise AssertionError(f"ended before saying {text!r}:\n{said.decode()}")
        said += chunk
    return said.decode()


def living_in_group(group: int, *, seconds: float) -> list[int]:
    """The processes of ``group`` still running after at most ``seconds``.

    NB: a process killed with its parent is a zombie until pid 1 reaps it;
    it runs nothing, so it is not counted.
    """
    deadline = time.monotonic() + seconds
    while True:
        living = []
        for candidate in psutil.process_iter(["status"]):
            with contextlib.suppress(ProcessLookupError):
                if (
                    os.getpgid(candidate.pid) == group
                    and candidate.info["status"] != psutil.STATUS_ZOMBIE
                ):
                    living.append(candidate.pid)
        if not living or time.monotonic() > deadline:
            return living
        time.sleep(0.2)

"""``leakhunt soak`` end to end when things go wrong, and what it leaves behind.

A controller that hangs in start() or stop(), raises, or takes its worker
down; a user who presses Ctrl-C or a supervisor that sends SIGTERM; a
simulator that dies mid-soak: each must end in a report (partial where the
soak was cut short) and a clean exit, never a hang or a stray process. On a
real cluster, leakhunt must remove the namespace it soaked in, and create
nothing when the target is mistyped.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

import kubernetes.client
import psutil
import pytest

from harness.apiserver.process import SimulatorProcess

if TYPE_CHECKING:
    from tests.leakhunt.cli.conftest import Soak

SOAK_TIMEOUT = 600
"""Seconds a soak cut short may take to end before the test calls it a hang."""


def test_a_stop_that_hangs_is_a_finding_with_thread_stacks_not_a_hang(
    soak: Soak, tmp_path: Path
) -> None:
    target = tmp_path / "hangs.py"
    target.write_text(
        "import threading\n"
        "class Hangs:\n"
        "    def __init__(self, ctx):\n"
        "        self.never = threading.Event()\n"
        "    def start(self):\n"
        "        pass\n"
        "    def stop(self):\n"
        "        self.never.wait()\n"
        "def controller(ctx):\n"
        "    return Hangs(ctx)\n"
    )

    started = time.monotonic()
    code, report, stderr = soak(
        f"{target}:controller", "--cycles", "3", "--stop-timeout", "0.5"
    )

    assert report is not None, stderr
    assert time.monotonic() - started < 120
    finding = next(f for f in report["findings"] if f["kind"] == "stop-timeout")
    stacks = json.dumps(finding["evidence"]["threads"])
    assert "hangs.py" in stacks
    assert code == 1


def test_a_start_that_hangs_is_named_and_the_processes_it_started_are_killed(
    soak: Soak, tmp_path: Path
) -> None:
    marker = f"leakhunt-test-sleeper-{os.getpid()}-{time.monotonic_ns()}"
    target = tmp_path / "hangs_in_start.py"
    target.write_text(
        "import subprocess, sys, threading\n"
        "class HangsInStart:\n"
        "    def __init__(self, ctx):\n"
        "        self.never = threading.Event()\n"
        "    def start(self):\n"
        "        subprocess.Popen([sys.executable, '-c',\n"
        f"            'import time; time.sleep(600)', {marker!r}])\n"
        "        self.never.wait()\n"
        "    def stop(self):\n"
        "        pass\n"
        "def controller(ctx):\n"
        "    return HangsInStart(ctx)\n"
    )

    code, report, stderr = soak(
        f"{target}:controller",
        "--sync-timeout",
        "1",
        "--stop-timeout",
        "1",
    )
    # NB: a killed process whose parent died stays a zombie until pid 1 reaps
    # it; it runs nothing, so only the living count.
    survivors = [
        p.pid
        for p in psutil.process_iter(["cmdline", "status"])
        if marker in (p.info["cmdline"] or [])
        and p.info["status"] != psutil.STATUS_ZOMBIE
    ]

    assert report is not None, stderr
    finding = next(f for f in report["findings"] if f["kind"] == "start-timeout")
    assert "in the controller's creation or start()" in finding["message"]
    assert "hangs_in_start.py" in finding["evidence"]["log_tail"]
    assert survivors == []
    assert code == 1


def test_a_worker_that_crashes_is_a_finding_and_leakhunt_exits_cleanly(
    soak: Soak, tmp_path: Path
) -> None:
    target = tmp_path / "crashes.py"
    target.write_text(
        "import os\n"
        "class Crashes:\n"
        "    def __init__(self, ctx):\n"
        "        self.cycle = ctx.cycle\n"
        "    def start(self):\n"
        "        if self.cycle == 2:\n"
        "            os._exit(7)\n"
        "    def stop(self):\n"
        "        pass\n"
        "def controller(ctx):\n"
        "    return Crashes(ctx)\n"
    )

    run = soak(f"{target}:controller", "--cycles", "5")

    assert run.report is not None, run.stderr
    assert run.report["cycles"] == 2
    assert "worker-crash" in run.kinds()
    assert "exited with code 7" in run.report["error"]["message"]
    assert "Traceback" not in run.stderr
    assert run.code == 1


def test_a_controller_error_is_named_on_the_quiet_verdict_line(
    soak: Soak, tmp_path: Path
) -> None:
    target = tmp_path / "raises.py"
    target.write_text(
        "class Raises:\n"
        "    def __init__(self, ctx):\n"
        "        self.cycle = ctx.cycle\n"
        "    def start(self):\n"
        "        if self.cycle == 1:\n"
        "            raise RuntimeError('the informer would not start')\n"
        "    def stop(self):\n"
        "        pass\n"
        "def controller(ctx):\n"
        "    return Raises(ctx)\n"
    )

    code, report, stderr = soak(
        f"{target}:controller", "--cycles", "3", "--sync-timeout", "0.5"
    )

    assert report is not None, stderr
    line = soak.stdout.read_text().strip()
    assert line.startswith("leakhunt: fail: ")
    assert "cycle 1 raised RuntimeError: the informer would not start" in line
    assert code == 1


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_writes_a_partial_report_and_stops_everything(
    soak: Soak, signum: signal.Signals
) -> None:
    # Attribution is left on, as a user leaves it: an interrupt must end the
    # soak without starting the pass.
    process = start_soak(soak, "--scenario", "idle-stop", attribution=True)
    wait_for_cycles(soak.log_dir / "worker.log", 3)

    children = psutil.Process(process.pid).children(recursive=True)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    _, alive = psutil.wait_procs(children, timeout=10)

    assert process.returncode == 130, stderr
    document = json.loads(soak.report.read_text())
    assert document["meta"]["interrupted"] is True
    assert 2 <= document["cycles"] < 500
    assert "Traceback" not in stderr
    assert len(children) >= 2  # the simulator and the worker
    assert not alive


def test_a_simulator_that_dies_mid_soak_leaves_a_partial_report_and_exit_3(
    soak: Soak,
) -> None:
    process = start_soak(soak, attribution=False)
    wait_for_cycles(soak.log_dir / "worker.log", 4)
    [simulator] = [
        p
        for p in psutil.Process(process.pid).children()
        if "harness.apiserver" in p.cmdline()
    ]
    simulator.kill()
    _, stderr = process.communicate(timeout=SOAK_TIMEOUT)

    lines = stderr.strip().splitlines()
    document = json.loads(soak.report.read_text())
    assert process.returncode == 3, stderr
    assert len(lines) == 1, stderr
    assert "stopped answering after" in lines[0]
    assert "Connection refused" in lines[0]
    assert "/metrics" not in lines[0]
    assert lines[0].endswith(f"the partial report is in {soak.report}")
    assert document["cycles"] >= 3
    assert document["error"]["type"] == "ServerGone"


def start_soak(soak: Soak, *args: str, attribution: bool) -> subprocess.Popen[str]:
    """Start a long quiet soak of the correct controller, to be cut short."""
    return soak.start(
        "harness.controllers.correct:controller",
        "--cycles",
        "500",
        *args,
        attribution=attribution,
    )


def wait_for_cycles(log: Path, cycles: int) -> None:
    """Wait until the worker has logged ``cycles`` cycles."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if log.exists() and log.read_text().count("Cycle ") >= cycles:
            return
        time.sleep(0.2)
    raise AssertionError(f"the worker did not log {cycles} cycles in {log}")


def test_a_real_cluster_is_soaked_in_a_namespace_of_its_own_that_is_removed(
    soak: Soak, tmp_path: Path
) -> None:
    # The simulator stands in for a real cluster: leakhunt is only given a
    # kubeconfig, so it reads /metrics as it would on any cluster.
    with SimulatorProcess(kubeconfig=tmp_path / "cluster.kubeconfig") as cluster:
        run = soak(
            "harness.controllers.unclosed_watch:controller",
            "--kubeconfig",
            str(cluster.kubeconfig),
            "--cycles",
            "8",
            "--objects",
            "20",
        )
        namespaces = cluster_namespaces(cluster)

    assert run.report is not None, run.stderr
    assert run.report["meta"]["server"].startswith("cluster ")
    assert run.report["meta"]["namespace"] not in namespaces
    assert {"watch-leak", "thread-leak"} <= run.kinds(), run.described()
    # No simulator to list the watches: the client's own count stands for them.
    leak = next(f for f in run.report["findings"] if f["kind"] == "watch-leak")
    assert leak["signal"] == "client_watches_open"
    watch = leak["evidence"]["client_watches"][0]
    assert "watch=" in watch["url"]
    assert watch["socket"]
    assert run.code == 1


def test_a_mistyped_target_creates_nothing_on_a_cluster(
    soak: Soak, tmp_path: Path
) -> None:
    with SimulatorProcess(kubeconfig=tmp_path / "cluster.kubeconfig") as cluster:
        before = cluster_namespaces(cluster)
        code, line = soak.error_line(
            "harness.controllers.correct:controler",
            "--kubeconfig",
            str(cluster.kubeconfig),
        )
        after = cluster_namespaces(cluster)

    assert code == 2
    assert "has no 'controler'" in line
    assert after == before


def cluster_namespaces(cluster: SimulatorProcess) -> set[str]:
    """The names of the namespaces the simulator holds and is not deleting."""
    with kubernetes.client.ApiClient(cluster.configuration()) as api:
        listed = kubernetes.client.CoreV1Api(api).list_namespace()
    return {
        str(item.metadata.name)
        for item in listed.items
        if item.metadata is not None and item.metadata.deletion_timestamp is None
    }

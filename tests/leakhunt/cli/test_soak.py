"""``leakhunt soak`` end to end: the real CLI, simulator, worker and client.

Each test runs the command a user would type, in a subprocess, against the
simulator process leakhunt starts, and reads the JSON report it writes. The
reference controllers in :mod:`harness.controllers` are the workloads: the
correct one must pass every scenario, each leaky one must be caught with the
finding kind its docstring promises, and none may make leakhunt hang.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import kubernetes.client
import psutil
import pytest

from harness.apiserver.process import SimulatorProcess
from harness.errors import ServerError
from leakhunt.cli import one_line

SOAK_TIMEOUT = 600
"""Seconds any one soak may take here before the test calls it a hang."""


def soak(
    tmp_path: Path, target: str, *args: str, timeout: float = SOAK_TIMEOUT
) -> tuple[int, dict[str, Any] | None, str]:
    """Run ``leakhunt soak TARGET ARGS``; return its exit code, report and stderr
    (its stdout is left in ``tmp_path / "stdout"``)."""
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
            # Explaining a leak is tested in tests/leakhunt/test_attribution.py;
            # here the screening verdict is what counts.
            "--no-attribution",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    (tmp_path / "stdout").write_text(completed.stdout)
    document = json.loads(report.read_text()) if report.exists() else None
    return completed.returncode, document, completed.stderr


def error_line(tmp_path: Path, target: str, *args: str) -> tuple[int, str]:
    """Run a soak that must stop at once; return its exit code and its one line."""
    code, _, stderr = soak(tmp_path, target, *args, timeout=120)

    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("leakhunt soak: error: ")
    return code, lines[0]


def kinds(report: dict[str, Any]) -> set[str]:
    """The finding kinds of a report."""
    return {finding["kind"] for finding in report["findings"]}


def describe(report: dict[str, Any]) -> str:
    """The findings' messages, for an assertion that fails."""
    return "\n".join(f"{f['kind']}: {f['message']}" for f in report["findings"])


@pytest.mark.parametrize(
    "scenario",
    ["lifecycle", "churn", "idle-stop", "early-stop", "restart", "relist", "signal"],
)
def test_the_correct_controller_passes_every_scenario(
    tmp_path: Path, scenario: str
) -> None:
    code, report, stderr = soak(
        tmp_path,
        "harness.controllers.correct:controller",
        "--scenario",
        scenario,
        "--cycles",
        "20",
    )

    assert report is not None, stderr
    assert report["verdict"] == "pass", describe(report)
    assert code == 0
    assert report["cycles"] == 20
    assert report["schema"] == "leakhunt.report/v1"


@pytest.mark.parametrize(
    ("controller", "scenario", "expected"),
    [
        ("informer_registry", "lifecycle", "object-growth"),
        ("unclosed_watch", "lifecycle", "watch-leak"),
        ("unjoined_worker", "lifecycle", "thread-leak"),
        ("apiclient_per_cycle", "lifecycle", "socket-leak"),
        ("informer_per_reconcile", "lifecycle", "thread-leak"),
        ("unscoped_watch", "lifecycle", "unscoped-watch"),
        ("blocking_handler", "churn", "blocking-handler"),
        ("periodic_resync", "churn", "relist-storm"),
        ("unthrottled_writes", "churn", "unthrottled-writes"),
    ],
)
def test_each_leaky_controller_is_caught_with_the_finding_its_bug_promises(
    tmp_path: Path, controller: str, scenario: str, expected: str
) -> None:
    code, report, stderr = soak(
        tmp_path,
        f"harness.controllers.{controller}:controller",
        "--scenario",
        scenario,
        "--cycles",
        "10",
    )

    assert report is not None, stderr
    assert expected in kinds(report), describe(report)
    assert report["verdict"] == "fail"
    assert code == 1


def test_a_watch_left_open_is_named_by_its_url_and_user_agent(tmp_path: Path) -> None:
    _, report, stderr = soak(
        tmp_path, "harness.controllers.unclosed_watch:controller", "--cycles", "6"
    )

    assert report is not None, stderr
    leak = next(f for f in report["findings"] if f["kind"] == "watch-leak")
    watch = leak["evidence"]["watches"][0]
    assert "watch=" in watch["url"]
    assert "/pods" in watch["url"]
    assert watch["userAgent"]


def test_a_leaked_thread_is_reported_with_its_name_and_stack(tmp_path: Path) -> None:
    _, report, stderr = soak(
        tmp_path, "harness.controllers.unjoined_worker:controller", "--cycles", "8"
    )

    assert report is not None, stderr
    leak = next(f for f in report["findings"] if f["kind"] == "thread-leak")
    threads = leak["evidence"]["threads"]
    assert any(thread["name"] == "leakhunt-unjoined-worker" for thread in threads)
    assert all(thread["stack"] for thread in threads)


def test_a_blocking_handler_is_shown_at_its_source_line(tmp_path: Path) -> None:
    _, report, stderr = soak(
        tmp_path,
        "harness.controllers.blocking_handler:controller",
        "--scenario",
        "churn",
        "--cycles",
        "5",
    )

    assert report is not None, stderr
    finding = next(f for f in report["findings"] if f["kind"] == "blocking-handler")
    frames = [frame["frame"] for frame in finding["evidence"]["handler_frames"]]
    assert "blocking_handler.py" in frames[0]
    assert "on_event" in frames[0]


def test_an_async_controller_passes_on_one_event_loop_across_cycles(
    tmp_path: Path,
) -> None:
    code, report, stderr = soak(
        tmp_path, "harness.controllers.correct_async:controller"
    )

    assert report is not None, stderr
    assert report["verdict"] == "pass", describe(report)
    assert code == 0
    assert report["cycles"] == 30
    assert all(cycle["synced"] for cycle in report["meta"]["cycle_results"])


def test_a_kopf_operator_is_flagged_only_for_the_writes_of_its_first_start(
    tmp_path: Path,
) -> None:
    code, report, stderr = soak(
        tmp_path, "harness.controllers.kopf_operator:controller", "--cycles", "6"
    )

    assert report is not None, stderr
    cycles = report["meta"]["cycle_results"]
    assert all(cycle["synced"] for cycle in cycles), cycles
    assert not any(cycle["stop_timed_out"] for cycle in cycles)
    # kopf patches every pod twice the first time it sees it, with no
    # client-side rate limit (docs/controllers.md); it leaks nothing.
    assert kinds(report) == {"unthrottled-writes"}, describe(report)
    [writes] = report["findings"]
    assert writes["evidence"]["busiest_cycle"] == 0
    assert max(writes["evidence"]["writes_per_second"][1:]) <= 25
    assert code == 1


def test_a_stop_that_hangs_is_a_finding_with_thread_stacks_not_a_hang(
    tmp_path: Path,
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
        tmp_path, f"{target}:controller", "--cycles", "3", "--stop-timeout", "0.5"
    )

    assert report is not None, stderr
    assert time.monotonic() - started < 120
    finding = next(f for f in report["findings"] if f["kind"] == "stop-timeout")
    stacks = json.dumps(finding["evidence"]["threads"])
    assert "hangs.py" in stacks
    assert code == 1


def test_a_worker_that_crashes_is_a_finding_and_leakhunt_exits_cleanly(
    tmp_path: Path,
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

    code, report, stderr = soak(tmp_path, f"{target}:controller", "--cycles", "5")

    assert report is not None, stderr
    assert report["cycles"] == 2
    assert "worker-crash" in kinds(report)
    assert "exited with code 7" in report["error"]["message"]
    assert "Traceback" not in stderr
    assert code == 1


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_writes_a_partial_report_and_stops_everything(
    tmp_path: Path, signum: signal.Signals
) -> None:
    report = tmp_path / "partial.json"
    process = start_soak(tmp_path, report, "--scenario", "idle-stop")
    wait_for_cycles(tmp_path / "run" / "worker.log", 3)

    children = psutil.Process(process.pid).children(recursive=True)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    _, alive = psutil.wait_procs(children, timeout=10)

    assert process.returncode == 130, stderr
    document = json.loads(report.read_text())
    assert document["meta"]["interrupted"] is True
    assert 2 <= document["cycles"] < 500
    assert "Traceback" not in stderr
    assert len(children) >= 2  # the simulator and the worker
    assert not alive


def test_a_real_cluster_is_soaked_in_a_namespace_of_its_own_that_is_removed(
    tmp_path: Path,
) -> None:
    # The simulator stands in for a real cluster: leakhunt is only given a
    # kubeconfig, so it reads /metrics as it would on any cluster.
    with SimulatorProcess(kubeconfig=tmp_path / "cluster.kubeconfig") as cluster:
        code, report, stderr = soak(
            tmp_path,
            "harness.controllers.unclosed_watch:controller",
            "--kubeconfig",
            str(cluster.kubeconfig),
            "--cycles",
            "8",
            "--objects",
            "20",
        )
        namespaces = cluster_namespaces(cluster)

    assert report is not None, stderr
    assert report["meta"]["server"].startswith("cluster ")
    assert report["meta"]["namespace"] not in namespaces
    assert {"watch-leak", "thread-leak"} <= kinds(report), describe(report)
    # No simulator to list the watches: the client's own count stands for them.
    leak = next(f for f in report["findings"] if f["kind"] == "watch-leak")
    assert leak["signal"] == "client_watches_open"
    watch = leak["evidence"]["client_watches"][0]
    assert "watch=" in watch["url"]
    assert watch["socket"]
    assert code == 1


def cluster_namespaces(cluster: SimulatorProcess) -> set[str]:
    """The names of the namespaces the simulator holds and is not deleting."""
    with kubernetes.client.ApiClient(cluster.configuration()) as api:
        listed = kubernetes.client.CoreV1Api(api).list_namespace()
    return {
        str(item.metadata.name)
        for item in listed.items
        if item.metadata is not None and item.metadata.deletion_timestamp is None
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nocolon"], "expected a controller target such as"),
        (["no.such.module:controller"], "No module named 'no'"),
        (["harness.controllers.correct:nothing"], "has no 'nothing'"),
        (["harness.controllers.workqueue:TokenBucket"], "start() and stop()"),
        (["x:y", "--cycles", "2"], "expected --cycles of at least 3, got 2"),
        (["x:y", "--warmup", "40"], "expected --warmup between 0 and 29"),
        (["x:y", "--scenario", "nap"], "unknown scenario 'nap'; choose one of"),
        (["x:y", "--kubeconfig", "/no/such/file"], "no kubeconfig at '/no/such/file'"),
        (["x:y", "--context", "prod"], "--context names a context in a kubeconfig"),
        (["x:y", "--churn", "0"], "expected a --churn rate above 0 and at most"),
        (["x:y", "--churn", "nan"], "expected a --churn rate above 0 and at most"),
        (["x:y", "--stop-timeout", "1e9"], "expected --stop-timeout above 0 and"),
        (["x:y", "--sync-timeout", "-1"], "expected --sync-timeout above 0 and"),
        (["x:y", "--json", "/no/such/dir/r.json"], "'/no/such/dir' does not exist"),
        (["x:y", "--log-dir", "/dev/null/run"], "cannot create --log-dir"),
        (["/tmp:controller"], "'/tmp' is a directory; name a .py file in it"),
        (["x:y", "--objects", "2000000"], "expected --objects between 0 and 100,000"),
        (["x:y", "--kubeconfig", "/bin/ls"], "but it is not UTF-8 text"),
        (
            ["x:y", "--kubeconfig", "/bin/ls", "--scenario", "relist"],
            "the relist scenario drives the API server, which only the simulator",
        ),
        (
            ["x:y", "--kubeconfig", "/bin/ls", "--namespaces", "3"],
            "--namespaces 3 spreads the simulator's pods",
        ),
        (
            [str(Path(__file__).parent.parent / "targets" / "exits.py") + ":run"],
            "called sys.exit(3) while importing",
        ),
    ],
)
def test_bad_input_is_one_line_with_exit_code_2(
    tmp_path: Path, args: list[str], message: str
) -> None:
    code, line = error_line(tmp_path, *args)

    assert code == 2
    assert message in line


def test_an_unreachable_cluster_is_one_line_with_exit_code_3(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "gone.kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: gone\n"
        "clusters: [{name: gone, cluster: {server: 'http://127.0.0.1:9'}}]\n"
        "contexts: [{name: gone, context: {cluster: gone, user: gone}}]\n"
        "users: [{name: gone, user: {token: nothing}}]\n"
    )

    code, line = error_line(
        tmp_path,
        "harness.controllers.correct:controller",
        "--kubeconfig",
        str(kubeconfig),
    )

    assert code == 3
    assert "could not reach the API server at http://127.0.0.1:9" in line


def test_a_soak_logged_to_a_file_shows_plain_progress_lines_with_growth(
    tmp_path: Path,
) -> None:
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "leakhunt",
            "soak",
            "harness.controllers.informer_registry:controller",
            "--cycles",
            "8",
            "--no-attribution",
            "--json",
            str(tmp_path / "report.json"),
            "--log-dir",
            str(tmp_path / "run"),
        ],
        capture_output=True,
        text=True,
        timeout=SOAK_TIMEOUT,
        check=False,
        env={**os.environ, "COLUMNS": "120"},
    )

    # Captured output is not a terminal: the display writes plain lines.
    last = completed.stderr.splitlines()[-1]
    assert last.startswith("cycle 8/8: per cycle"), completed.stderr
    assert "gc_objects +" in last
    assert completed.stdout.startswith("FAIL")
    assert "object-growth" in completed.stdout


TARGETS = Path(__file__).parent.parent / "targets"


def test_an_async_controller_that_leaves_a_task_is_caught_with_the_task_named(
    tmp_path: Path,
) -> None:
    code, report, stderr = soak(
        tmp_path,
        f"{TARGETS / 'forgotten_task.py'}:controller",
        "--cycles",
        "5",
        "--sync-timeout",
        "0.5",
    )

    assert report is not None, stderr
    leak = next(f for f in report["findings"] if f["kind"] == "task-leak")
    tasks = leak["evidence"]["tasks"]
    assert tasks
    assert tasks[0]["name"].startswith("resync-")
    assert "_resync_forever" in json.dumps(tasks[0])
    assert code == 1


def test_the_asyncio_controller_passes_churn(tmp_path: Path) -> None:
    code, report, stderr = soak(
        tmp_path,
        "harness.controllers.correct_async:controller",
        "--scenario",
        "churn",
        "--cycles",
        "20",
    )

    assert report is not None, stderr
    assert report["verdict"] == "pass", describe(report)
    assert code == 0


def test_a_start_that_hangs_is_named_and_the_processes_it_started_are_killed(
    tmp_path: Path,
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
        tmp_path,
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


def test_a_controller_error_is_named_on_the_quiet_verdict_line(tmp_path: Path) -> None:
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
        tmp_path, f"{target}:controller", "--cycles", "3", "--sync-timeout", "0.5"
    )

    assert report is not None, stderr
    line = (tmp_path / "stdout").read_text().strip()
    assert line.startswith("leakhunt: fail: ")
    assert "cycle 1 raised RuntimeError: the informer would not start" in line
    assert code == 1


def test_a_simulator_that_dies_mid_soak_leaves_a_partial_report_and_exit_3(
    tmp_path: Path,
) -> None:
    report = tmp_path / "partial.json"
    process = start_soak(tmp_path, report, "--no-attribution")
    wait_for_cycles(tmp_path / "run" / "worker.log", 4)
    [simulator] = [
        p
        for p in psutil.Process(process.pid).children()
        if "harness.apiserver" in p.cmdline()
    ]
    simulator.kill()
    _, stderr = process.communicate(timeout=SOAK_TIMEOUT)

    lines = stderr.strip().splitlines()
    document = json.loads(report.read_text())
    assert process.returncode == 3, stderr
    assert len(lines) == 1, stderr
    assert "stopped answering after" in lines[0]
    assert "Connection refused" in lines[0]
    assert "/metrics" not in lines[0]
    assert lines[0].endswith(f"the partial report is in {report}")
    assert document["cycles"] >= 3
    assert document["error"]["type"] == "ServerGone"


def start_soak(tmp_path: Path, report: Path, *args: str) -> subprocess.Popen[str]:
    """Start a long quiet soak of the correct controller, to be cut short."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "leakhunt",
            "soak",
            "harness.controllers.correct:controller",
            "--cycles",
            "500",
            "--quiet",
            "--json",
            str(report),
            "--log-dir",
            str(tmp_path / "run"),
            *args,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_cycles(log: Path, cycles: int) -> None:
    """Wait until the worker has logged ``cycles`` cycles."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if log.exists() and log.read_text().count("Cycle ") >= cycles:
            return
        time.sleep(0.2)
    raise AssertionError(f"the worker did not log {cycles} cycles in {log}")


def test_a_cluster_that_forbids_leakhunts_writes_is_one_line_with_exit_code_2(
    tmp_path: Path, refusing_cluster: Any
) -> None:
    cluster = refusing_cluster()
    kubeconfig = cluster.kubeconfig(tmp_path / "kubeconfig")

    code, line = error_line(
        tmp_path,
        "harness.controllers.correct:controller",
        "--kubeconfig",
        str(kubeconfig),
    )

    assert code == 2
    assert "answered 403 Forbidden when leakhunt tried to create namespaces" in line
    assert "RBAC permission for create and delete on namespaces" in line


def test_a_mistyped_target_creates_nothing_on_a_cluster(tmp_path: Path) -> None:
    with SimulatorProcess(kubeconfig=tmp_path / "cluster.kubeconfig") as cluster:
        before = cluster_namespaces(cluster)
        code, line = error_line(
            tmp_path,
            "harness.controllers.correct:controler",
            "--kubeconfig",
            str(cluster.kubeconfig),
        )
        after = cluster_namespaces(cluster)

    assert code == 2
    assert "has no 'controler'" in line
    assert after == before


def test_a_context_the_kubeconfig_lacks_is_one_line_listing_the_ones_it_has(
    tmp_path: Path,
) -> None:
    with SimulatorProcess(kubeconfig=tmp_path / "cluster.kubeconfig") as cluster:
        code, line = error_line(
            tmp_path,
            "harness.controllers.correct:controller",
            "--kubeconfig",
            str(cluster.kubeconfig),
            "--context",
            "production",
        )

    assert code == 2
    assert f"no context 'production' in {cluster.kubeconfig}; it has " in line


def test_an_error_quoting_another_process_traceback_is_shown_as_one_line() -> None:
    error = ServerError(
        "the simulator exited with code 1 before serving: Traceback (most recent "
        'call last):\n  File "x.py", line 1, in <module>\nOSError: [Errno 98] '
        "Address already in use\n"
    )

    assert one_line(error) == (
        "the simulator exited with code 1 before serving: ... "
        "OSError: [Errno 98] Address already in use"
    )

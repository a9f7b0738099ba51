"""``leakhunt soak`` as the user sees it: errors in one line, progress in plain lines.

A mistake in what the user typed (a target, an option's value, a kubeconfig
or its context) stops the soak before it starts, with one line that shows
the value and an exit code of 2, as does a cluster whose RBAC forbids
leakhunt's writes; a cluster that cannot be reached exits with 3. A soak
whose stderr is not a terminal shows its progress as plain lines.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from harness.apiserver.process import SimulatorProcess
from harness.errors import ServerError
from leakhunt.cli import one_line

if TYPE_CHECKING:
    from tests.leakhunt.cli.conftest import Soak


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nocolon"], "expected a controller target such as"),
        (["no.such.module:controller"], "No module named 'no'"),
        (["harness.controllers.correct:nothing"], "has no 'nothing'"),
        (["harness.controllers.workqueue:TokenBucket"], "start() and stop()"),
        (["x:y", "--cycles", "2"], "expected --cycles of at least 3, got 2"),
        (["x:y", "--cycles", "many"], "--cycles: expected a whole number, got 'many'"),
        (["x:y", "--churn", "fast"], "expected a number such as 5 or 0.5, got 'fast'"),
        (["x:y", "--deep-cycels", "4"], "unrecognized arguments: --deep-cycels 4"),
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
    soak: Soak, args: list[str], message: str
) -> None:
    code, line = soak.error_line(*args)

    assert code == 2
    assert message in line


def test_a_context_the_kubeconfig_lacks_is_one_line_listing_the_ones_it_has(
    soak: Soak, tmp_path: Path
) -> None:
    with SimulatorProcess(kubeconfig=tmp_path / "cluster.kubeconfig") as cluster:
        code, line = stopped_on(soak, cluster.kubeconfig, "--context", "production")

    assert code == 2
    assert f"no context 'production' in {cluster.kubeconfig}; it has " in line


def test_an_unreachable_cluster_is_one_line_with_exit_code_3(
    soak: Soak, tmp_path: Path
) -> None:
    kubeconfig = tmp_path / "gone.kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: gone\n"
        "clusters: [{name: gone, cluster: {server: 'http://127.0.0.1:9'}}]\n"
        "contexts: [{name: gone, context: {cluster: gone, user: gone}}]\n"
        "users: [{name: gone, user: {token: nothing}}]\n"
    )

    code, line = stopped_on(soak, kubeconfig)

    assert code == 3
    assert "could not reach the API server at http://127.0.0.1:9" in line


def test_a_cluster_that_forbids_leakhunts_writes_is_one_line_with_exit_code_2(
    soak: Soak, tmp_path: Path, refusing_cluster: Any
) -> None:
    cluster = refusing_cluster()
    kubeconfig = cluster.kubeconfig(tmp_path / "kubeconfig")

    code, line = stopped_on(soak, kubeconfig)

    assert code == 2
    assert "answered 403 Forbidden when leakhunt tried to create namespaces" in line
    assert "RBAC permission for create and delete on namespaces" in line


def stopped_on(soak: Soak, kubeconfig: Path, *args: str) -> tuple[int, str]:
    """Soak the correct controller on the cluster ``kubeconfig`` names, which
    must stop at once; return its exit code and its one line."""
    return soak.error_line(
        "harness.controllers.correct:controller", "--kubeconfig", str(kubeconfig), *args
    )


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


def test_a_soak_logged_to_a_file_shows_plain_progress_lines_with_growth(
    soak: Soak,
) -> None:
    _, _, stderr = soak(
        "harness.controllers.informer_registry:controller",
        "--cycles",
        "8",
        quiet=False,
        env={**os.environ, "COLUMNS": "120"},
    )

    # Captured output is not a terminal: the display writes plain lines.
    last = stderr.splitlines()[-1]
    assert last.startswith("cycle 8/8: per cycle"), stderr
    assert "gc_objects +" in last
    stdout = soak.stdout.read_text()
    assert stdout.startswith("FAIL")
    assert "object-growth" in stdout

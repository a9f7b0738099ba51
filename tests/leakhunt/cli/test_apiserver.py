"""``leakhunt apiserver``: serves until SIGTERM, then exits 0."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import urllib3

LEAKHUNT = [sys.executable, "-m", "leakhunt"]


def _wait_for_file(path: Path, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 20
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_leakhunt_apiserver_serves_seeded_pods_until_sigterm(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "leakhunt.kubeconfig"
    process = subprocess.Popen(
        [*LEAKHUNT, "apiserver", "--kubeconfig", str(kubeconfig), "--objects", "5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for_file(kubeconfig, process)
        config = json.loads(kubeconfig.read_text())
        url = config["clusters"][0]["cluster"]["server"]
        token = config["users"][0]["user"]["token"]
        response = urllib3.request(
            "GET",
            f"{url}/api/v1/namespaces/leakhunt-0/pods",
            headers={"Authorization": f"Bearer {token}"},
        )
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=20)

    assert process.returncode == 0, stderr
    assert stdout.strip() == url
    assert len(json.loads(response.data)["items"]) == 5


def _refused(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LEAKHUNT, "apiserver", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_leakhunt_apiserver_refuses_a_bad_duration_with_the_accepted_forms() -> None:
    result = _refused("--compaction-window", "a while")

    assert result.returncode == 2
    assert "expected a duration such as 30s, 5m or 300" in result.stderr


def test_leakhunt_apiserver_refuses_a_port_out_of_range_with_the_range() -> None:
    result = _refused("--port", "99999")

    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "leakhunt apiserver: error: argument --port: expected a port from 0 to "
        "65535 (0 picks a free one), got '99999'; see 'leakhunt apiserver --help'"
    ]


def test_leakhunt_apiserver_refuses_a_host_it_cannot_listen_on() -> None:
    result = _refused("--host", "999.1.1.1")

    assert result.returncode == 2
    assert "cannot listen on 999.1.1.1:0" in result.stderr
    assert "Traceback" not in result.stderr


def test_leakhunt_apiserver_refuses_a_kubeconfig_in_a_missing_directory(
    tmp_path: Path,
) -> None:
    result = _refused("--kubeconfig", str(tmp_path / "no" / "kc"))

    assert result.returncode == 2
    assert "is not a directory" in result.stderr

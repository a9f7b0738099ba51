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


def test_leakhunt_apiserver_refuses_a_bad_duration_with_the_accepted_forms() -> None:
    result = subprocess.run(
        [*LEAKHUNT, "apiserver", "--compaction-window", "a while"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert "expected a duration such as 30s, 5m or 300" in result.stderr


def test_leakhunt_apiserver_refuses_a_kubeconfig_in_a_missing_directory(
    tmp_path: Path,
) -> None:
    result = subprocess.run(
        [*LEAKHUNT, "apiserver", "--kubeconfig", str(tmp_path / "no" / "kc")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert "is not a directory" in result.stderr

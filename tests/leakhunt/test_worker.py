"""The worker process's own steps: filling bounded caches, checking a target."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

import yarl

from leakhunt.worker import CHECK_OPTION, fill_bounded_caches


def live_urls() -> int:
    gc.collect()
    return sum(1 for obj in gc.get_objects() if isinstance(obj, yarl.URL))


def test_after_filling_yarls_caches_new_urls_no_longer_add_live_objects() -> None:
    filled = fill_bounded_caches()
    before = live_urls()

    for index in range(60):
        yarl.URL(f"http://127.0.0.1:6443/api/v1/namespaces/a/pods/pod-{index}")
        yarl.URL.build(scheme="http", host="127.0.0.1", path=f"/watch/{index}")
    after = live_urls()

    assert filled >= 2
    assert after == before


def check(target: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "leakhunt.worker", CHECK_OPTION, target],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_checking_a_target_that_loads_says_nothing() -> None:
    completed = check("harness.controllers.correct:controller")

    assert completed.returncode == 0
    assert completed.stdout == ""


def test_checking_a_target_that_prints_then_fails_ends_with_the_error(
    tmp_path: Path,
) -> None:
    target = tmp_path / "noisy.py"
    target.write_text("print('hello from the import')\n")

    completed = check(f"{target}:controller")

    assert completed.returncode == 2
    last = completed.stdout.strip().splitlines()[-1]
    assert last.startswith(f"expected '{target}:controller' to name something")

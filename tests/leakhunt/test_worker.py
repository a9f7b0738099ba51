"""The worker process's own steps: filling bounded caches, checking a target,
and keeping the analysis's libraries out of the heap it measures."""

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


SCREENING_WORKER = """
import sys
from leakhunt.worker import WorkerSpec, _probes
from leakhunt.sampler import Sampler

spec = WorkerSpec(
    target="harness.controllers.correct:controller",
    scenario="lifecycle",
    kubeconfig="unused",
    namespace="default",
    label_selector=None,
    stop_timeout=5.0,
    sync_timeout=5.0,
)
sampler = Sampler(probes=_probes(spec, "http://127.0.0.1:6443"))
sampler.start()
sampler.take()
sampler.stop()
print(sorted(m for m in ("numpy", "scipy") if m in sys.modules))
"""


def test_a_screening_worker_samples_without_loading_numpy_or_scipy() -> None:
    # Their objects would sit in the measured heap, and every full collection
    # of the controller's and of the settle would walk them.
    completed = subprocess.run(
        [sys.executable, "-c", SCREENING_WORKER],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )

    assert completed.stdout.strip() == "[]"

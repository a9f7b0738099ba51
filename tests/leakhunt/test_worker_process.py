"""The conductor's handle on the worker: the cycle's deadline, the target check."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import EXIT_RUN_FAILED, EXIT_USAGE, ConfigurationError
from harness.lifecycle.scenarios import CHILD_START_GRACE, SCENARIOS
from leakhunt.errors import LeakhuntError
from leakhunt.soak import SoakOptions
from leakhunt.worker_process import check_target, cycle_deadline


def test_a_signal_cycle_whose_children_never_start_is_within_the_deadline() -> None:
    options = SoakOptions(
        target="x:y", scenario="signal", sync_timeout=1, stop_timeout=1
    )

    # Each of the two children may take its start grace on top of the sync.
    assert cycle_deadline(options) > 2 * (1 + CHILD_START_GRACE)


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_every_scenario_has_a_margin_beyond_its_longest_cycle(scenario: str) -> None:
    options = SoakOptions(target="x:y", scenario=scenario, sync_timeout=40)
    longest = SCENARIOS[scenario].longest_cycle(sync_timeout=40, stop_timeout=5)

    assert cycle_deadline(options) >= longest + 10


def test_a_target_that_cannot_be_loaded_is_refused_with_its_one_line() -> None:
    with pytest.raises(ConfigurationError) as caught:
        check_target("harness.controllers.correct:nothing")

    assert caught.value.exit_code == EXIT_USAGE
    assert "has no 'nothing'" in str(caught.value)


def test_a_target_that_kills_its_interpreter_on_import_is_a_failed_run(
    tmp_path: Path,
) -> None:
    target = tmp_path / "dies.py"
    target.write_text("import os\nos._exit(5)\n")

    with pytest.raises(LeakhuntError) as caught:
        check_target(f"{target}:controller")

    assert caught.value.exit_code == EXIT_RUN_FAILED
    assert "failed with exit code 5" in str(caught.value)

"""The simulator's command line: options out of range are refused up front."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--bookmark-interval", "0"),
        ("--bookmark-interval", "0ms"),
        ("--watch-timeout", "0s"),
        ("--watch-timeout", "25h"),
    ],
)
def test_a_watch_duration_out_of_range_exits_2_naming_the_range(
    option: str, value: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "harness.apiserver", option, value],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert result.stderr.splitlines()[-1].endswith(
        f"argument {option}: expected a duration above 0 and at most 24h, "
        f"such as 30s or 5m, got {value!r}"
    )

"""The package's public face: lazy re-exports that keep the command line fast."""

from __future__ import annotations

import subprocess
import sys

import pytest

import leakhunt


def test_importing_leakhunt_does_not_load_numpy_or_scipy() -> None:
    code = (
        "import sys, leakhunt, leakhunt.errors; "
        "print(sorted(m for m in ('numpy', 'scipy') if m in sys.modules))"
    )

    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == "[]"


def test_every_public_name_resolves() -> None:
    for name in leakhunt.__all__:
        assert getattr(leakhunt, name) is not None


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'run_cycle'"):
        _ = leakhunt.run_cycle

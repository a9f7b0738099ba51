"""The package's public face: lazy re-exports that keep the command line fast."""

from __future__ import annotations

import subprocess
import sys

import pytest

import leakhunt


def heavy_modules_after(statements: str) -> str:
    """Which of numpy and scipy a fresh interpreter has loaded after ``statements``."""
    code = (
        f"import sys; {statements}; "
        "print(sorted(m for m in ('numpy', 'scipy') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def test_importing_leakhunt_does_not_load_numpy_or_scipy() -> None:
    assert heavy_modules_after("import leakhunt, leakhunt.errors") == "[]"


def test_the_sampler_is_public_without_loading_numpy_or_scipy() -> None:
    loaded = heavy_modules_after(
        "import leakhunt; leakhunt.Sampler, leakhunt.Settle, leakhunt.Sample"
    )

    assert loaded == "[]"


def test_the_cycle_runner_still_exports_the_sampler() -> None:
    from leakhunt.cycles import Sample, Sampler, Settle

    assert (Sample, Sampler, Settle) == (
        leakhunt.Sample,
        leakhunt.Sampler,
        leakhunt.Settle,
    )


def test_every_public_name_resolves() -> None:
    for name in leakhunt.__all__:
        assert getattr(leakhunt, name) is not None


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'run_cycle'"):
        _ = leakhunt.run_cycle

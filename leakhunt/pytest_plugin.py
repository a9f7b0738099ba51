"""The leakhunt pytest plugin: run a test's body as cycles, fail it if anything grows.

Registered through the ``pytest11`` entry point, so installing leakhunt is
enough to use it::

    @pytest.mark.leakhunt(cycles=20)
    def test_reconcile_keeps_nothing(api):
        reconcile(api, "pod-1")

A marked test's fixtures are set up once; its body runs as the cycles of
:func:`leakhunt.run_cycles`, and the test fails with leakhunt's report when
memory, objects, threads, fds or sockets grow across them. Unmarked tests are
left alone, and nothing heavy is imported until a marked test runs.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

import leakhunt

if TYPE_CHECKING:
    from leakhunt.report.model import Report

MARKER = "leakhunt"

_MARKER_OPTIONS = ("cycles", "warmup", "tracemalloc", "thresholds")


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add the options that tune every marked test of a session at once."""
    group = parser.getgroup("leakhunt", "leak hunting with @pytest.mark.leakhunt")
    group.addoption(
        "--leakhunt-cycles",
        type=int,
        default=None,
        metavar="N",
        help="run every test marked leakhunt for N cycles, whatever its marker says",
    )
    group.addoption(
        "--leakhunt-json",
        default=None,
        metavar="DIR",
        help="write each marked test's report to DIR as JSON (leakhunt.report/v1)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Declare leakhunt's marker, and make the reports' directory if one is asked."""
    directory = config.getoption("--leakhunt-json")
    if directory is not None:
        try:
            Path(directory).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise pytest.UsageError(
                f"--leakhunt-json {directory}: cannot make the directory "
                f"({exc.strerror}); give a directory you can write to"
            ) from None
    config.addinivalue_line(
        "markers",
        "leakhunt(cycles=30, warmup=None, tracemalloc=False, thresholds=None): "
        "run the test's body through leakhunt's cycle runner and fail it when "
        "anything grows",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run a marked test's body as leakhunt cycles; leave other tests to pytest."""
    marker = pyfuncitem.get_closest_marker(MARKER)
    if marker is None:
        return None

    options = _options(marker, pyfuncitem.config)
    body = pyfuncitem.obj
    if inspect.iscoroutinefunction(body):
        pytest.fail(
            f"@pytest.mark.{MARKER} runs plain functions, and {pyfuncitem.name} "
            "is async: call asyncio.run() (or a loop of your own) inside a "
            "plain test function instead",
            pytrace=False,
        )

    report = _run(pyfuncitem.nodeid, _bind(body, pyfuncitem.funcargs), options)
    directory = pyfuncitem.config.getoption("--leakhunt-json")
    if directory is not None:
        report.write(Path(directory) / f"{_file_name(pyfuncitem.nodeid)}.json")
    if not report.passed:
        pytest.fail(report.summary(), pytrace=False)
    return True


def _options(marker: pytest.Mark, config: pytest.Config) -> dict[str, Any]:
    if marker.args:
        _usage(
            f"takes keyword arguments only, got {marker.args!r}: write it as "
            f"@pytest.mark.{MARKER}(cycles=20)"
        )
    unknown = sorted(set(marker.kwargs) - set(_MARKER_OPTIONS))
    if unknown:
        _usage(f"has no option {unknown[0]!r}; it accepts {', '.join(_MARKER_OPTIONS)}")
    options = dict(marker.kwargs)
    cycles = config.getoption("--leakhunt-cycles")
    if cycles is not None:
        options["cycles"] = cycles
    return options


def _bind(
    body: Callable[..., object], funcargs: Mapping[str, object]
) -> Callable[[], object]:
    # The test function's own parameters, filled from its fixtures the way
    # pytest calls it; other fixtures (autouse ones) are already set up.
    names = inspect.signature(body).parameters
    bound = {name: funcargs[name] for name in names if name in funcargs}
    return functools.partial(body, **bound)


def _run(nodeid: str, body: Callable[[], object], options: dict[str, Any]) -> Report:
    try:
        return leakhunt.run_cycles(body, meta={"target": nodeid}, **options)
    except leakhunt.UsageError as exc:
        _usage(f"has an option leakhunt cannot use: {exc}")


def _usage(problem: str) -> NoReturn:
    pytest.fail(f"@pytest.mark.{MARKER} {problem}", pytrace=False)


def _file_name(nodeid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid).strip("_")

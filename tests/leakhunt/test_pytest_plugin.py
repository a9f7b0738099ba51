"""The pytest plugin, run the way users meet it: pytest in a fresh process.

Each test writes a small test file, runs pytest on it in a subprocess (the
plugin is found through its entry point, as after ``pip install leakhunt``)
and reads what pytest printed and returned.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest_plugins = ("pytester",)

# A heap-allocated type per cycle is an object leak the count sees at once.
LEAKY_OBJECTS = """
import pytest

KEPT = []


class Registration:
    pass


@pytest.mark.leakhunt(cycles=12)
def test_register():
    KEPT.append(Registration())
"""

CLEAN = """
import pytest


@pytest.mark.leakhunt(cycles=12)
def test_parse():
    rows = [str(n) * 10 for n in range(1000)]
    assert len(rows) == 1000
"""

LEAKY_THREADS = """
import threading

import pytest

DONE = threading.Event()


@pytest.mark.leakhunt(cycles=10)
def test_start_watcher():
    threading.Thread(target=DONE.wait, name="watcher", daemon=True).start()
"""


def test_a_marked_test_that_keeps_an_object_per_cycle_fails_naming_the_type(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(LEAKY_OBJECTS)

    result = pytester.runpytest_subprocess()

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*FAIL*object-growth*12 cycles*test_register*"])
    result.stdout.fnmatch_lines(["*Registration*"])


def test_a_marked_test_that_keeps_nothing_passes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(CLEAN)

    result = pytester.runpytest_subprocess()

    result.assert_outcomes(passed=1)


def test_a_thread_started_per_cycle_and_left_running_is_a_thread_leak(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(LEAKY_THREADS)

    result = pytester.runpytest_subprocess()

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*thread-leak*", "*watcher*"])


def test_the_body_runs_once_per_cycle_with_its_fixtures_set_up_once(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import pytest

        CALLS = {"fixture": 0, "body": 0}


        @pytest.fixture
        def client():
            CALLS["fixture"] += 1
            return object()


        @pytest.mark.leakhunt(cycles=7)
        def test_marked(client):
            assert client is not None
            CALLS["body"] += 1


        def test_unmarked():
            CALLS["body"] += 100


        def test_counts():
            assert CALLS == {"fixture": 1, "body": 107}
        """
    )

    result = pytester.runpytest_subprocess()

    result.assert_outcomes(passed=3)


def test_a_body_that_fails_in_a_later_cycle_names_the_cycle_and_the_assertion(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import pytest

        SEEN = []


        @pytest.mark.leakhunt(cycles=10)
        def test_flaky():
            SEEN.append(None)
            assert len(SEEN) < 4, f"saw {len(SEEN)} calls"
        """
    )

    result = pytester.runpytest_subprocess()

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*cycle 4 raised*", "*AssertionError: saw 4 calls*"])


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ("cycles=2", "*expected at least 3 cycles*got 2*"),
        ("cycle=20", "*has no option 'cycle'; it accepts cycles, warmup,*"),
        ("20", "*keyword arguments only, got (20,)*cycles=20*"),
        ("tracemalloc='yes'", "*tracemalloc=True or False, got 'yes'*"),
        ("thresholds={}", "*thresholds=leakhunt.Thresholds(...), got {}*"),
    ],
)
def test_a_bad_marker_fails_the_test_with_one_line_naming_the_value(
    pytester: pytest.Pytester, marker: str, message: str
) -> None:
    pytester.makepyfile(
        f"""
        import pytest


        @pytest.mark.leakhunt({marker})
        def test_body():
            pass
        """
    )

    result = pytester.runpytest_subprocess()

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([message])
    result.stdout.no_fnmatch_line("*Traceback*")


def test_an_async_test_is_refused_with_what_to_do_instead(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import pytest


        @pytest.mark.leakhunt(cycles=5)
        async def test_body():
            pass
        """
    )

    result = pytester.runpytest_subprocess()

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*test_body is async: call asyncio.run()*"])


def test_the_cycles_option_overrides_every_marker(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(LEAKY_OBJECTS)

    result = pytester.runpytest_subprocess("--leakhunt-cycles", "6")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*FAIL*in 6 cycles*"])


def test_the_json_option_writes_each_marked_tests_report(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_reports=LEAKY_OBJECTS)
    out = pytester.path / "reports"

    pytester.runpytest_subprocess("--leakhunt-json", str(out))

    (written,) = list(out.iterdir())
    report = json.loads(Path(written).read_text())
    assert written.name == "test_reports.py_test_register.json"
    assert report["schema"] == "leakhunt.report/v1"
    assert report["verdict"] == "fail"
    assert report["cycles"] == 12
    assert "object-growth" in {finding["kind"] for finding in report["findings"]}


def test_a_json_directory_that_cannot_be_made_is_a_usage_error(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(CLEAN)
    (pytester.path / "taken").write_text("a file, not a directory")

    result = pytester.runpytest_subprocess("--leakhunt-json", "taken/reports")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--leakhunt-json taken/reports: cannot make the directory*"]
    )


def test_a_session_without_marked_tests_does_not_load_numpy_or_scipy(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import sys


        def test_plain():
            assert not {"numpy", "scipy"} & set(sys.modules)
        """
    )

    result = pytester.runpytest_subprocess()

    result.assert_outcomes(passed=1)

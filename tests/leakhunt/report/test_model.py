"""The report model and its versioned JSON form."""

from __future__ import annotations

import math
from pathlib import Path

import orjson
import pytest

from leakhunt.report.model import (
    SCHEMA,
    STOP_TIMEOUT,
    THREAD_LEAK,
    Finding,
    Report,
    ReportFormatError,
)


def thread_finding() -> Finding:
    return Finding(
        kind=THREAD_LEAK,
        signal="threads",
        per_cycle=1.0,
        unit="count",
        message="Live Python threads (threads) rose in every one of the last 4 cycles",
        ci_low=1.0,
        ci_high=1.0,
        confidence=0.99,
        evidence={"threads": [{"name": "w-1", "stack": ["a.py:1 in f"]}]},
    )


def test_a_report_without_findings_or_error_passes() -> None:
    assert Report(cycles=10).verdict == "pass"


def test_a_finding_appended_later_fails_the_report() -> None:
    report = Report(cycles=10)

    report.findings.append(
        Finding(
            kind=STOP_TIMEOUT,
            signal="stop_seconds",
            per_cycle=2,
            unit="count",
            message="stop() did not return within 5 s in cycles 3 and 7",
        )
    )

    assert report.verdict == "fail"


def test_an_error_fails_the_report() -> None:
    report = Report(cycles=3, error={"cycle": 4, "type": "ValueError"})

    assert report.verdict == "fail"


def test_the_json_names_its_schema_and_round_trips() -> None:
    report = Report(
        cycles=3,
        warmup=1,
        findings=[thread_finding()],
        series={"threads": [1.0, 2.0, 3.0], "traced_bytes": [1.5, 2.5, 3.5]},
        meta={"target": "myop:controller"},
    )

    data = orjson.loads(report.to_json())
    again = Report.from_json(report.to_json())

    assert data["schema"] == SCHEMA
    assert data["verdict"] == "fail"
    assert data["findings"][0]["kind"] == THREAD_LEAK
    assert data["series"]["threads"] == [1, 2, 3]
    assert again == report


def test_unmeasured_cycles_are_null_in_json_and_nan_when_read_back() -> None:
    report = Report(cycles=2, series={"objects.x.Y": [math.nan, 4.0]})

    data = orjson.loads(report.to_json())
    again = Report.from_dict(data)

    assert data["series"]["objects.x.Y"] == [None, 4]
    assert math.isnan(again.series["objects.x.Y"][0])


def test_a_document_of_another_schema_is_refused_with_both_names() -> None:
    with pytest.raises(ReportFormatError, match=r"leakhunt.report/v1.*'other/v9'"):
        Report.from_dict({"schema": "other/v9", "cycles": 1})


def test_text_that_is_not_json_is_refused_clearly() -> None:
    with pytest.raises(ReportFormatError, match="a report must be JSON"):
        Report.from_json("not json")


def test_a_report_written_to_a_file_reads_back(tmp_path: Path) -> None:
    report = Report(cycles=5, findings=[thread_finding()], series={"fds": [5.0] * 5})

    path = report.write(tmp_path / "run.json")

    assert Report.read(path) == report


def test_a_missing_report_file_is_a_report_error(tmp_path: Path) -> None:
    with pytest.raises(ReportFormatError, match="could not read the report"):
        Report.read(tmp_path / "absent.json")


def test_paths_and_sets_in_meta_are_written_as_json_strings_and_lists() -> None:
    report = Report(cycles=3, meta={"log": Path("/tmp/w.log"), "kinds": {"b", "a"}})

    meta = orjson.loads(report.to_json())["meta"]

    assert meta == {"log": "/tmp/w.log", "kinds": ["a", "b"]}


def test_a_value_json_cannot_hold_is_refused_instead_of_stringified() -> None:
    report = Report(cycles=3, meta={"started": object()})

    with pytest.raises(ReportFormatError, match=r"not JSON serializable: object;"):
        report.to_json()


def test_a_file_that_is_not_a_report_says_which_file_to_give_instead() -> None:
    with pytest.raises(ReportFormatError, match=r"written by Report.write\(\)"):
        Report.from_json(b"[1, 2]")

"""The terminal summary: a one-line verdict first, then capped detail."""

from __future__ import annotations

import io

from rich.console import Console

from leakhunt.report.model import (
    MEMORY_GROWTH,
    OBJECT_GROWTH,
    THREAD_LEAK,
    WATCH_LEAK,
    Finding,
    Report,
)
from leakhunt.report.terminal import MAX_FINDINGS_SHOWN, MAX_TYPES_SHOWN, render


def rendered(report: Report) -> str:
    buffer = io.StringIO()
    render(report, Console(file=buffer, width=200, color_system=None))
    return buffer.getvalue()


def growth(kind: str, signal: str, per_cycle: float = 1.0) -> Finding:
    return Finding(
        kind=kind,
        signal=signal,
        per_cycle=per_cycle,
        unit="count",
        message=f"{signal} grows",
        ci_low=per_cycle * 0.9,
        ci_high=per_cycle * 1.1,
        confidence=0.999,
    )


def broken(cycles: int, **error: object) -> Report:
    return Report(cycles=cycles, error=dict(error))


def test_a_clean_run_is_one_pass_line() -> None:
    text = rendered(Report(cycles=30, meta={"target": "myop:controller"}))

    assert text.splitlines() == [
        "PASS  nothing grows over 30 cycles of myop:controller "
        "(warm-up detected per signal)"
    ]


def test_a_failing_run_leads_with_the_verdict_and_the_kinds() -> None:
    report = Report(
        cycles=20,
        warmup=3,
        findings=[
            growth(MEMORY_GROWTH, "traced_bytes"),
            growth(THREAD_LEAK, "threads"),
        ],
    )

    first, *rest = rendered(report).splitlines()

    assert first.startswith(
        "FAIL  2 findings (thread-leak, memory-growth) in 20 cycles"
    )
    assert "3 warm-up cycles" in first
    assert rest[0].split()[:2] == ["thread-leak", "threads:"]


def test_the_verdict_counts_growing_object_types_apart_from_findings() -> None:
    report = Report(
        cycles=12,
        findings=[
            growth(OBJECT_GROWTH, "gc_objects", 300),
            growth(OBJECT_GROWTH, "objects.builtins.dict", 200),
            growth(OBJECT_GROWTH, "objects.myop.Pod", 100),
            growth(MEMORY_GROWTH, "rss_bytes", 65536),
        ],
    )

    first = rendered(report).splitlines()[0]

    assert first.startswith(
        "FAIL  2 findings and 2 growing object types (object-growth, memory-growth)"
    )


def test_thread_evidence_names_the_threads_and_caps_the_list() -> None:
    finding = growth(THREAD_LEAK, "threads")
    finding.evidence["threads"] = [
        {"name": f"worker-{i}", "target": "myop.loop", "stack": ["myop.py:9 in loop"]}
        for i in range(8)
    ]
    finding.evidence["threads_omitted"] = 2

    text = rendered(Report(cycles=10, findings=[finding]))

    assert "thread worker-0 (myop.loop)" in text
    assert "myop.py:9 in loop" in text
    assert "worker-7" not in text
    assert "...and 5 more threads" in text


def test_growing_object_types_share_one_capped_line() -> None:
    findings = [
        growth(OBJECT_GROWTH, f"objects.myop.Type{i}", per_cycle=float(i))
        for i in range(MAX_TYPES_SHOWN + 4)
    ]

    text = rendered(Report(cycles=10, findings=findings))

    assert f"{MAX_TYPES_SHOWN + 4} object types grow per cycle" in text
    assert "myop.Type9 +9" in text
    assert "...and 4 more types" in text


def test_more_findings_than_the_cap_are_counted() -> None:
    findings = [
        growth(MEMORY_GROWTH, f"signal_{i}") for i in range(MAX_FINDINGS_SHOWN + 3)
    ]

    text = rendered(Report(cycles=10, findings=findings))

    assert "...and 3 more findings" in text


def test_an_error_shows_the_cycle_and_the_end_of_the_traceback() -> None:
    report = broken(
        3,
        cycle=4,
        type="builtins.ValueError",
        message="no [bold]kubeconfig[/bold]",
        traceback="Traceback (most recent call last):\nValueError: no config",
    )

    text = rendered(report)

    assert text.startswith("FAIL  cycle 4 raised an error in 3 cycles")
    assert "cycle 4 raised builtins.ValueError: no [bold]kubeconfig[/bold]" in text
    assert "ValueError: no config" in text


def test_a_finding_made_elsewhere_shows_its_count_and_its_urls() -> None:
    finding = Finding(
        kind=WATCH_LEAK,
        signal="watches_open_server",
        per_cycle=3,
        unit="count",
        message="3 watches were still open on the server after stop",
        evidence={"urls": [f"/api/v1/pods?watch=1&n={i}" for i in range(7)]},
    )

    text = rendered(Report(cycles=10, findings=[finding]))

    assert "watch-leak     watches_open_server: 3  confidence" in text
    assert "/api/v1/pods?watch=1&n=0" in text
    assert "...and 2 more" in text


def test_the_run_time_closes_the_summary() -> None:
    report = Report(
        cycles=30,
        meta={"seconds": {"total": 12.5, "settle_median": 0.12, "sample_median": 0.04}},
    )

    assert rendered(report).splitlines()[-1] == (
        "  30 cycles in 12.5 s (settle 120 ms, sample 40 ms per cycle)"
    )


def test_an_error_while_sampling_says_so_instead_of_blaming_the_cycle() -> None:
    report = broken(
        2,
        cycle=3,
        stage="sampling",
        type="builtins.OSError",
        message="the metrics endpoint went away",
        traceback="OSError: the metrics endpoint went away",
    )

    text = rendered(report)

    assert text.startswith("FAIL  sampling in cycle 3 raised an error in 2 cycles")
    assert "sampling in cycle 3 raised builtins.OSError: the metrics" in text


def test_the_plain_summary_is_the_rendered_text_without_colour() -> None:
    report = Report(
        cycles=20,
        findings=[growth(THREAD_LEAK, "threads"), growth(MEMORY_GROWTH, "rss_bytes")],
        meta={"target": "myop:controller"},
    )

    summary = report.summary()

    assert summary.splitlines()[0].startswith("FAIL  2 findings (thread-leak, ")
    assert "\x1b[" not in summary
    assert summary == rendered(report).rstrip()

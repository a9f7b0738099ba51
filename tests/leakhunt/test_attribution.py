"""The attribution pass on the leaky reference controllers, against the simulator.

Each test soaks a controller for a few cycles with ``deep=True`` (so the
attribution pass runs whatever screening concludes) and checks what a user
would read first: the line of the controller module the growth goes back to,
and the reference that keeps it alive.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from harness.controllers import (
    apiclient_per_cycle,
    informer_per_reconcile,
    informer_registry,
    unclosed_watch,
    unjoined_worker,
)
from leakhunt.attribution import run_attribution
from leakhunt.report.model import MEMORY_GROWTH, Finding, Report
from leakhunt.report.terminal import render
from leakhunt.soak import SoakOptions, run_soak

TARGETS = Path(__file__).parent / "targets"

YOUR_CODE = re.compile(r"your code: (?P<where>\S+) \+[^:]*/cycle: (?P<source>.*)$")
HELD_BY = re.compile(r"held by (?P<holder>(?!: ).*)$")


def _soak(tmp_path: Path, module: Any, **overrides: Any) -> Report:
    options = SoakOptions(
        target=f"{module.__name__}:controller",
        cycles=3,
        objects=20,
        log_dir=tmp_path / "runs",
        deep=True,
        deep_cycles=5,
        **overrides,
    )
    report = run_soak(options)
    attribution = report.meta["attribution"]
    assert isinstance(attribution, dict)
    assert attribution["status"] == "complete", attribution["notes"]
    return report


@dataclass
class Shown:
    """What the terminal report shows of the attribution pass."""

    text: str
    your_code: list[tuple[str, str]]
    """``(file:line, source)`` of each "your code" line, in order."""
    held_by: list[tuple[str, str]]
    """``(holder, chain)`` of each "held by" line, in order."""

    def lines_in(self, module: Any) -> list[str]:
        """Source lines shown as "your code" that lie in ``module``'s file."""
        name = Path(module.__file__).name
        return [source for where, source in self.your_code if f"/{name}:" in where]

    def first_holder(self) -> tuple[str, str]:
        assert self.held_by, self.text
        return self.held_by[0]


def _shown(report: Report) -> Shown:
    out = io.StringIO()
    render(report, Console(file=out, width=400, color_system=None))
    lines = [line.strip() for line in out.getvalue().splitlines()]
    your_code = [
        (match["where"], match["source"])
        for line in lines
        if (match := YOUR_CODE.match(line))
    ]
    held_by = [
        (match["holder"], lines[index + 1])
        for index, line in enumerate(lines)
        if (match := HELD_BY.match(line))
    ]
    return Shown(out.getvalue(), your_code, held_by)


def test_informer_registry_goes_back_to_the_informer_and_is_held_by_the_registry(
    tmp_path: Path,
) -> None:
    report = _soak(tmp_path, informer_registry)
    shown = _shown(report)

    assert "informer = SharedInformer(" in shown.lines_in(informer_registry)
    holder, chain = shown.first_holder()
    assert holder == "harness.controllers.informer_registry._INFORMERS"
    assert chain.startswith("module harness.controllers.informer_registry -> ")
    assert chain.endswith("(V1Pod)"), chain
    graphs = report.meta["attribution"]["retention"]["graphs"]  # type: ignore[index]
    assert any(Path(str(graph["dot"])).exists() for graph in graphs)


def test_apiclient_per_cycle_goes_back_to_make_client_and_is_held_by_the_cache(
    tmp_path: Path,
) -> None:
    shown = _shown(_soak(tmp_path, apiclient_per_cycle))

    assert "api_client = super().make_client()" in shown.lines_in(apiclient_per_cycle)
    holders = [holder for holder, _ in shown.held_by]
    assert holders, shown.text
    assert set(holders) == {"harness.controllers.apiclient_per_cycle._CLIENTS"}


def test_unclosed_watch_goes_back_to_the_list_and_is_held_by_the_watch_thread(
    tmp_path: Path,
) -> None:
    shown = _shown(_soak(tmp_path, unclosed_watch))

    lines = shown.lines_in(unclosed_watch)
    assert any(line.startswith("pods = api.list_namespaced_pod(") for line in lines)
    holder, chain = shown.first_holder()
    assert holder.startswith("thread leakhunt-unclosed-watch in _run ("), holder
    assert holder.endswith(", local pods"), holder
    assert " -> pods (V1PodList)" in chain, chain


def test_informer_per_reconcile_goes_back_to_the_reconcile_and_is_held_by_its_thread(
    tmp_path: Path,
) -> None:
    shown = _shown(_soak(tmp_path, informer_per_reconcile))

    assert "fresh = PodInformer(" in shown.lines_in(informer_per_reconcile)
    holder, chain = shown.first_holder()
    assert holder.startswith("thread leakhunt-reconcile-informer-"), holder
    assert " -> self (PodInformer) -> _cache (" in chain, chain
    assert chain.endswith("(V1Pod)"), chain


def test_unjoined_worker_goes_back_to_the_controller_and_is_held_by_its_worker(
    tmp_path: Path,
) -> None:
    shown = _shown(_soak(tmp_path, unjoined_worker))

    lines = shown.lines_in(unjoined_worker)
    assert 'return UnjoinedWorkerController(ctx, name="unjoined")' in lines
    assert "worker = threading.Thread(" in [source for _, source in shown.your_code]
    holder, _ = shown.first_holder()
    assert holder.startswith("thread leakhunt-unjoined-worker in "), holder


def test_a_worker_killed_during_attribution_leaves_a_note_and_the_verdict(
    tmp_path: Path,
) -> None:
    report = run_soak(
        SoakOptions(
            target=f"{TARGETS / 'crash_when_traced.py'}:controller",
            cycles=10,
            objects=0,
            log_dir=tmp_path / "runs",
            deep_cycles=4,
        )
    )

    assert any(f.kind == MEMORY_GROWTH for f in report.findings)
    attribution = report.meta["attribution"]
    assert isinstance(attribution, dict)
    assert attribution["status"] == "failed"
    notes = " ".join(attribution["notes"])
    assert "The attribution worker failed in cycle" in notes
    assert "memray capture" in notes
    assert not any("allocation_sites" in f.evidence for f in report.findings)


def _screened_memory_growth() -> Report:
    """A screening report with one memory finding, as a leaky soak gives."""
    finding = Finding(
        kind=MEMORY_GROWTH,
        signal="rss_bytes",
        per_cycle=65536.0,
        unit="bytes",
        message="RSS grows",
    )
    return Report(cycles=10, findings=[finding])


def test_a_pass_that_cannot_start_leaves_the_findings_as_they_were(
    tmp_path: Path,
) -> None:
    report = _screened_memory_growth()
    finding = report.findings[0]
    options = SoakOptions(
        target="no.such.module:controller", objects=0, log_dir=tmp_path / "runs"
    )

    result = run_attribution(options, report, cycles=3)

    assert result.status == "failed"
    assert report.findings == [finding]
    assert finding.evidence == {}
    assert "Attribution could not run" in " ".join(result.notes)
    assert report.verdict == "fail"


def _explain_a_leak(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: str, **overrides: Any
) -> tuple[Report, dict[str, Any]]:
    """Run the pass alone for a memory finding of the faulty target."""
    monkeypatch.setenv("LEAKHUNT_TEST_FAULT", fault)
    report = _screened_memory_growth()
    options = SoakOptions(
        target=f"{TARGETS / 'faulty_attribution.py'}:controller",
        objects=0,
        log_dir=tmp_path / "runs",
        **overrides,
    )

    run_attribution(options, report, cycles=5)

    attribution = report.meta["attribution"]
    assert isinstance(attribution, dict)
    return report, attribution


TICKET_LINE = "self.payload = bytes(64 * 1024)"
"""The line of the faulty target that allocates what it leaks."""


def _items(value: object) -> list[dict[str, Any]]:
    assert isinstance(value, list)
    return value


def _ticket_where() -> str:
    source = TARGETS / "faulty_attribution.py"
    lines = [line.strip() for line in source.read_text().splitlines()]
    return f"{source}:{lines.index(TICKET_LINE) + 1}"


def test_without_memray_the_sites_and_chains_still_come_with_a_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report, attribution = _explain_a_leak(tmp_path, monkeypatch, "no-memray")

    assert attribution["status"] == "complete", attribution["notes"]
    assert any("memray is not installed here" in n for n in attribution["notes"])
    lines = [site["line"] for site in attribution["allocation_sites"]]
    assert TICKET_LINE in lines
    assert attribution["retention"]["lead"]["holder"].endswith("._TICKETS")
    assert "memray_sites" not in report.findings[0].evidence


def test_memray_evidence_that_cannot_be_read_is_a_note_and_the_rest_stays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report, attribution = _explain_a_leak(tmp_path, monkeypatch, "garbled-memray")

    assert attribution["status"] == "partial"
    notes = " ".join(attribution["notes"])
    assert "The memray capture could not be read (ValueError: " in notes
    evidence = report.findings[0].evidence
    sites = _items(evidence["allocation_sites"])
    assert TICKET_LINE in [site["line"] for site in sites]
    assert "memray_sites" not in evidence
    assert report.verdict == "fail"


def test_ctrl_c_during_the_traced_cycles_keeps_the_evidence_of_the_cycles_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One untraced warm-up cycle, then Ctrl-C during the third traced one:
    # that cycle ends, and the pass stops with three snapshots.
    report, attribution = _explain_a_leak(tmp_path, monkeypatch, "interrupt")

    assert attribution["status"] == "partial"
    assert attribution["cycles_run"] == 4
    notes = " ".join(attribution["notes"])
    assert "interrupted after 4 of 6 cycles" in notes
    assert "covers the 3 traced cycles run" in notes
    lines = [site["line"] for site in attribution["allocation_sites"]]
    assert TICKET_LINE in lines
    assert "allocation_sites" in report.findings[0].evidence


def test_a_worker_that_never_sends_its_evidence_leaves_memrays_capture(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The worker waits for its details as long as for a cycle: with these
    # timeouts, 1 x 5 + 3 x 1 + 30 seconds.
    report, attribution = _explain_a_leak(
        tmp_path, monkeypatch, "slow-details", sync_timeout=1.0, stop_timeout=1.0
    )

    assert attribution["status"] == "partial"
    notes = " ".join(attribution["notes"])
    assert "The attribution worker sent no evidence" in notes
    assert attribution["allocation_sites"] == []
    memray = _items(report.findings[0].evidence["memray_sites"])
    assert memray[0]["where"] == _ticket_where()

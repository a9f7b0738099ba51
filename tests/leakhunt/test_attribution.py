"""The attribution pass on the leaky reference controllers, against the simulator.

Each test soaks a controller for a few cycles with ``deep=True`` (so the
attribution pass runs whatever screening concludes) and checks what a user
would read first: the line of the controller module the growth goes back to,
and the reference that keeps it alive.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.controllers import (
    apiclient_per_cycle,
    informer_per_reconcile,
    informer_registry,
    unclosed_watch,
    unjoined_worker,
)
from leakhunt.attribution import run_attribution
from leakhunt.report.model import MEMORY_GROWTH, Finding, Report
from leakhunt.soak import SoakOptions, run_soak

TARGETS = Path(__file__).parent / "targets"


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
    return run_soak(options)


def _attribution(report: Report) -> Mapping[str, Any]:
    attribution = report.meta["attribution"]
    assert isinstance(attribution, dict)
    assert attribution["status"] == "complete", attribution["notes"]
    return attribution


def _origins_in(attribution: Mapping[str, Any], module: Any) -> list[str]:
    """Source lines of the origins that lie in ``module``'s own file."""
    path = str(Path(module.__file__).resolve())
    return [o["source"] for o in attribution["allocation_origins"] if o["file"] == path]


def _chains(attribution: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
    chains: Sequence[Mapping[str, Any]] = attribution["retention"]["chains"]
    return chains


def test_informer_registry_goes_back_to_the_informer_and_is_held_by_the_registry(
    tmp_path: Path,
) -> None:
    attribution = _attribution(_soak(tmp_path, informer_registry))

    assert "informer = SharedInformer(" in _origins_in(attribution, informer_registry)
    lead = attribution["retention"]["lead"]
    assert lead["holder"] == "harness.controllers.informer_registry._INFORMERS"
    assert lead["type"] == "kubernetes.client.models.v1_pod.V1Pod", attribution[
        "retention"
    ]["types"]
    assert [hop["label"] for hop in lead["hops"]][:1] == ["_INFORMERS"]
    assert any(
        Path(str(graph["dot"])).exists() for graph in attribution["retention"]["graphs"]
    )


def test_apiclient_per_cycle_goes_back_to_make_client_and_is_held_by_the_cache(
    tmp_path: Path,
) -> None:
    attribution = _attribution(_soak(tmp_path, apiclient_per_cycle))

    origins = _origins_in(attribution, apiclient_per_cycle)
    assert "api_client = super().make_client()" in origins
    clients = [
        chain
        for chain in _chains(attribution)
        if chain["type"] == "kubernetes.client.api_client.ApiClient"
    ]
    assert clients
    assert clients[0]["holder"] == "harness.controllers.apiclient_per_cycle._CLIENTS"


def test_unclosed_watch_goes_back_to_the_list_and_is_held_by_the_watch_thread(
    tmp_path: Path,
) -> None:
    attribution = _attribution(_soak(tmp_path, unclosed_watch))

    origins = _origins_in(attribution, unclosed_watch)
    assert any(line.startswith("pods = api.list_namespaced_pod(") for line in origins)
    models = [c for c in _chains(attribution) if ".models." in c["type"]]
    assert models
    assert models[0]["root"].startswith("thread leakhunt-unclosed-watch in _run")
    assert models[0]["hops"][0] == {
        "edge": "local",
        "label": "pods",
        "type": "kubernetes.client.models.v1_pod_list.V1PodList",
    }


def test_informer_per_reconcile_goes_back_to_the_reconcile_and_is_held_by_its_thread(
    tmp_path: Path,
) -> None:
    attribution = _attribution(_soak(tmp_path, informer_per_reconcile))

    assert "fresh = PodInformer(" in _origins_in(attribution, informer_per_reconcile)
    lead = attribution["retention"]["lead"]
    assert lead["type"] == "kubernetes.client.models.v1_pod.V1Pod", attribution[
        "retention"
    ]["types"]
    assert lead["root"].startswith("thread leakhunt-reconcile-informer-")
    assert [hop["label"] for hop in lead["hops"]][:2] == ["self", "_cache"]


def test_unjoined_worker_goes_back_to_the_controller_and_is_held_by_its_worker(
    tmp_path: Path,
) -> None:
    attribution = _attribution(_soak(tmp_path, unjoined_worker))

    origins = _origins_in(attribution, unjoined_worker)
    assert 'return UnjoinedWorkerController(ctx, name="unjoined")' in origins
    sources = [o["source"] for o in attribution["allocation_origins"]]
    assert "worker = threading.Thread(" in sources
    held = [
        chain
        for chain in _chains(attribution)
        if chain["type"].endswith(".UnjoinedWorkerController")
    ]
    assert held
    assert held[0]["root"].startswith("thread leakhunt-unjoined-worker in work")


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


def test_a_pass_that_cannot_start_leaves_the_findings_as_they_were(
    tmp_path: Path,
) -> None:
    finding = Finding(
        kind=MEMORY_GROWTH,
        signal="rss_bytes",
        per_cycle=65536.0,
        unit="bytes",
        message="RSS grows",
    )
    report = Report(cycles=10, findings=[finding])
    options = SoakOptions(
        target="no.such.module:controller", objects=0, log_dir=tmp_path / "runs"
    )

    result = run_attribution(options, report, cycles=3)

    assert result.status == "failed"
    assert report.findings == [finding]
    assert "Attribution could not run" in " ".join(result.notes)
    assert report.verdict == "fail"

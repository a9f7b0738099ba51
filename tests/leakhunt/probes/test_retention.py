"""The retention probe: new instances of growing types and what holds them."""

from __future__ import annotations

import sys
import types
from collections.abc import Sequence

import pytest

from leakhunt.probes.chains import APPLICATION, BOOKKEEPING, Chain, Hop
from leakhunt.probes.retention import RetentionProbe, choose_types, lead_chain


class Session:
    """Stands in for a client a leaky controller keeps per cycle."""


class Ticket:
    """Created and dropped every cycle: never leaked."""


@pytest.fixture
def cache_module(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """A module ``myop.clients`` with a ``_CLIENTS`` dict that never forgets."""
    module = types.ModuleType("myop.clients")
    module._CLIENTS = {}  # type: ignore[attr-defined]  # built at run time
    monkeypatch.setitem(sys.modules, "myop.clients", module)
    return module


def _cycle(module: types.ModuleType, number: int) -> None:
    module._CLIENTS[f"config-{number}"] = Session()
    Ticket()


def _explain(
    probe: RetentionProbe, module: types.ModuleType, kept: Sequence[bool]
) -> dict[str, object]:
    """Sample ``probe`` once per cycle, keeping a session in the cycles ``kept``."""
    probe.start()
    for number, keep in enumerate(kept):
        if keep:
            _cycle(module, number)
        probe.sample()
    details = probe.details()
    probe.stop()
    return details


def test_the_chain_of_a_type_that_grows_every_cycle_names_its_holder(
    cache_module: types.ModuleType,
) -> None:
    details = _explain(RetentionProbe(), cache_module, [True] * 5)

    name = f"{Session.__module__}.Session"
    chosen = details["retention_types"]
    assert isinstance(chosen, list)
    assert name in [entry["type"] for entry in chosen]
    lead = details["retention_lead"]
    assert isinstance(lead, dict)
    assert lead["type"] == name
    assert lead["holder"] == "myop.clients._CLIENTS"
    assert lead["text"].endswith("_CLIENTS (dict) -> ['config-4'] (Session)")


def test_only_objects_new_since_the_previous_sample_are_explained(
    cache_module: types.ModuleType,
) -> None:
    name = f"{Session.__module__}.Session"
    details = _explain(RetentionProbe(focus=(name,)), cache_module, [True] * 3)

    types_seen = details["retention_types"]
    assert types_seen == [{"type": name, "per_sample": 1.0, "new": 1, "found": True}]
    chains = details["retention_chains"]
    assert isinstance(chains, list)
    assert chains[0]["hops"][-1]["label"] == "['config-2']"


def test_classes_come_before_the_containers_they_are_made_of() -> None:
    growth = {
        "builtins.dict": 6000.0,
        "builtins.list": 3000.0,
        "kubernetes.client.models.v1_pod.V1Pod": 200.0,
        "kubernetes.client.models.v1_container.V1Container": 400.0,
        "kubernetes.informer.informer.SharedInformer": 1.0,
        "threading.Condition": 3.0,
    }

    chosen = choose_types(growth, limit=3)

    assert chosen[0] == "kubernetes.informer.informer.SharedInformer"
    assert "kubernetes.client.models.v1_pod.V1Pod" in chosen
    assert "builtins.dict" not in chosen


def test_growth_is_counted_over_the_traced_samples_only(
    cache_module: types.ModuleType,
) -> None:
    # Sessions are kept in 3 of the 5 traced cycles: 60%, enough to be
    # explained, but not 60% of the 7 samples warm-up included.
    warmup, traced = [False] * 2, [True, False, True, False, True]
    details = _explain(RetentionProbe(start_after=2), cache_module, warmup + traced)

    name = f"{Session.__module__}.Session"
    chosen = details["retention_types"]
    assert isinstance(chosen, list)
    session = next(entry for entry in chosen if entry["type"] == name)
    assert session["per_sample"] == 0.6
    lead = details["retention_lead"]
    assert isinstance(lead, dict)
    assert lead["holder"] == "myop.clients._CLIENTS"


def _chain(target: str, tier: int, hops: int) -> Chain:
    return Chain(
        target_type=target,
        root="module weakref" if tier == BOOKKEEPING else "module myop.clients",
        root_kind="module",
        hops=tuple(Hop("attribute", f"h{n}", "builtins.dict") for n in range(hops)),
        tier=tier,
    )


def test_a_chain_from_weakrefs_registry_never_leads_even_for_the_fastest_type() -> None:
    sockets = _chain("socket.socket", BOOKKEEPING, hops=9)
    clients = _chain("kubernetes.client.api_client.ApiClient", APPLICATION, hops=2)
    growth = {sockets.target_type: 2.0, clients.target_type: 1.0}

    lead = lead_chain([sockets, clients], list(growth), growth)

    assert lead is clients


def test_the_fastest_growing_type_leads_among_the_applications_chains() -> None:
    pods = _chain("kubernetes.client.models.v1_pod.V1Pod", APPLICATION, hops=6)
    informers = _chain("myop.SharedInformer", APPLICATION, hops=2)
    growth = {pods.target_type: 20.0, informers.target_type: 1.0}

    lead = lead_chain([informers, pods], list(growth), growth)

    assert lead is pods

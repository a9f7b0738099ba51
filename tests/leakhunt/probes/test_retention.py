"""The retention probe: new instances of growing types and what holds them."""

from __future__ import annotations

import sys
import types

import pytest

from leakhunt.probes.retention import RetentionProbe, choose_types


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


def test_the_chain_of_a_type_that_grows_every_cycle_names_its_holder(
    cache_module: types.ModuleType,
) -> None:
    probe = RetentionProbe()
    probe.start()
    for number in range(5):
        _cycle(cache_module, number)
        probe.sample()
    details = probe.details()
    probe.stop()

    name = f"{Session.__module__}.Session"
    assert name in probe.chosen_types() or not probe.chosen_types()
    lead = details["retention_lead"]
    assert isinstance(lead, dict)
    assert lead["type"] == name
    assert lead["holder"] == "myop.clients._CLIENTS"
    assert lead["text"].endswith("_CLIENTS (dict) -> ['config-4'] (Session)")


def test_only_objects_new_since_the_previous_sample_are_explained(
    cache_module: types.ModuleType,
) -> None:
    name = f"{Session.__module__}.Session"
    probe = RetentionProbe(focus=(name,))
    probe.start()
    for number in range(3):
        _cycle(cache_module, number)
        probe.sample()
    details = probe.details()
    probe.stop()

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

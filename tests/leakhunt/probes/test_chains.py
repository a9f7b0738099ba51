"""Reference chains: the shortest path from a module or a thread to an object."""

from __future__ import annotations

import sys
import threading
import types
import weakref

import pytest

from leakhunt.probes.chains import BOOKKEEPING, SearchStats, find_chains


class Pod:
    """Stands in for a cached Kubernetes model."""

    def __init__(self, name: str) -> None:
        self.name = name


class Cache:
    """Stands in for an informer's cache: a dict of objects by key."""

    def __init__(self) -> None:
        self._objects: dict[str, Pod] = {}


class Informer:
    """Stands in for an informer that owns a cache."""

    def __init__(self) -> None:
        self._cache = Cache()


@pytest.fixture
def registry_module(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """A module ``myop.registry`` with an ``_INFORMERS`` list, like a leaky operator."""
    module = types.ModuleType("myop.registry")
    module._INFORMERS = []  # type: ignore[attr-defined]  # built at run time
    monkeypatch.setitem(sys.modules, "myop.registry", module)
    return module


def test_a_registry_chain_names_the_module_attribute_index_attributes_and_key(
    registry_module: types.ModuleType,
) -> None:
    informers: list[Informer] = registry_module._INFORMERS
    informers.extend(Informer() for _ in range(4))
    pod = Pod("pod-7")
    informers[3]._cache._objects["leakhunt-0/pod-7"] = pod

    chains = find_chains({id(pod): "tests.Pod"})

    chain = chains["tests.Pod"]
    assert chain.root == "module myop.registry"
    assert chain.holder == "myop.registry._INFORMERS"
    assert [hop.label for hop in chain.hops] == [
        "_INFORMERS",
        "[3]",
        "_cache",
        "_objects",
        "['leakhunt-0/pod-7']",
    ]
    assert chain.text().endswith("_objects (dict) -> ['leakhunt-0/pod-7'] (Pod)")


def test_an_object_held_only_by_a_running_thread_is_traced_to_its_frame_local() -> None:
    started = threading.Event()
    release = threading.Event()
    handed: list[Pod] = []

    def keep_a_cache() -> None:
        cache = {"ns/pod-1": Pod("pod-1")}
        handed.append(cache["ns/pod-1"])
        started.set()
        release.wait(10)
        del cache

    thread = threading.Thread(target=keep_a_cache, name="zombie-watch", daemon=True)
    thread.start()
    try:
        started.wait(10)
        pod = handed.pop()
        chains = find_chains({id(pod): "tests.Pod"})
    finally:
        release.set()
        thread.join(10)

    chain = chains["tests.Pod"]
    assert chain.root_kind == "thread"
    assert chain.root.startswith("thread zombie-watch in keep_a_cache")
    assert chain.hops[0].edge == "local"
    assert chain.hops[0].label == "cache"
    assert chain.hops[-1].label == "['ns/pod-1']"


def test_a_closure_variable_is_named_as_the_variable(
    registry_module: types.ModuleType,
) -> None:
    queue = Cache()

    def handler() -> Cache:
        return queue

    registry_module._INFORMERS.append(handler)

    chains = find_chains({id(queue): "tests.Cache"})

    hops = chains["tests.Cache"].hops
    assert [(hop.edge, hop.label) for hop in hops][-1] == ("closure", "queue")


def test_an_object_nothing_reachable_holds_has_no_chain() -> None:
    orphan = Pod("orphan")

    stats = SearchStats()
    chains = find_chains({id(orphan): "tests.Pod"}, stats=stats)

    assert chains == {}
    assert stats.visited > 1000
    assert not stats.timed_out


def test_one_search_finds_a_chain_per_type(registry_module: types.ModuleType) -> None:
    informer = Informer()
    informer._cache._objects["a"] = Pod("a")
    registry_module._INFORMERS.append(informer)

    chains = find_chains(
        {id(informer): "tests.Informer", id(informer._cache._objects["a"]): "tests.Pod"}
    )

    assert set(chains) == {"tests.Informer", "tests.Pod"}
    assert len(chains["tests.Informer"].hops) == 2
    assert chains["tests.Pod"].hops[:2] == chains["tests.Informer"].hops


def test_objects_held_only_by_leakhunt_are_not_blamed_on_it() -> None:
    import leakhunt.probes.chains as chains_module

    pod = Pod("seen-by-leakhunt")
    chains_module._TEST_ONLY_STATE = [pod]  # type: ignore[attr-defined]  # probe
    try:
        chains = find_chains({id(pod): "tests.Pod"})
    finally:
        del chains_module._TEST_ONLY_STATE  # type: ignore[attr-defined]

    assert chains == {}


class Connection:
    """Stands in for a pooled HTTP connection and its socket."""

    def __init__(self) -> None:
        self.sock = Pod("socket")


class Pool:
    """Stands in for urllib3's pool, which registers a weakref.finalize."""

    def __init__(self) -> None:
        self.queue = [Connection()]
        self.finalizer = weakref.finalize(self, list.clear, self.queue)


def test_a_pooled_socket_is_held_by_the_application_cache_not_by_weakref(
    registry_module: types.ModuleType,
) -> None:
    # The application's chain is 9 hops long; weakref.finalize's registry,
    # which holds the pool's connections for as long as the pool lives, is
    # one hop nearer: the shortest chain from any root would name it.
    pool = Pool()
    manager = {"pools": {"127.0.0.1": pool}}
    registry_module._INFORMERS.append(types.SimpleNamespace(rest=manager))
    socket = pool.queue[0].sock
    try:
        chains = find_chains({id(socket): "tests.Socket"})
    finally:
        pool.finalizer.detach()

    chain = chains["tests.Socket"]
    assert chain.holder == "myop.registry._INFORMERS"
    assert chain.text().endswith("queue (list) -> [0] (Connection) -> sock (Pod)")
    assert not chain.library_root


def test_a_registry_of_bookkeeping_holds_what_nothing_else_does() -> None:
    held = Pod("only-finalized")
    watched = Informer()
    finalizer = weakref.finalize(watched, list, [held])
    try:
        chains = find_chains({id(held): "tests.Pod"})
    finally:
        finalizer.detach()

    chain = chains["tests.Pod"]
    assert chain.root == "module weakref"
    assert chain.tier == BOOKKEEPING


def test_a_target_loaded_from_its_file_is_a_root_though_its_name_starts_leakhunt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A target named as path/to/file.py:name is imported under this name.
    module = types.ModuleType("leakhunt_target_controller_0123456789")
    module._CACHE = [Pod("kept")]  # type: ignore[attr-defined]  # built at run time
    monkeypatch.setitem(sys.modules, module.__name__, module)

    chains = find_chains({id(module._CACHE[0]): "tests.Pod"})

    assert chains["tests.Pod"].holder == f"{module.__name__}._CACHE"

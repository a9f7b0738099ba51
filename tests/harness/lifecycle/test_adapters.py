"""The three controller shapes driven through one start / stop interface."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from harness.errors import ConfigurationError
from harness.lifecycle.adapters import (
    Adapter,
    AsyncAdapter,
    FactoryAdapter,
    GeneratorAdapter,
    StartFailed,
    make_adapter,
)
from harness.lifecycle.context import Context, ContextFactory
from harness.lifecycle.loop import EventLoopHost


@pytest.fixture
def host() -> Iterator[EventLoopHost]:
    loop_host = EventLoopHost(name="adapters")
    yield loop_host
    loop_host.close()


def _started(adapter: Adapter, contexts: ContextFactory) -> Context:
    ctx = contexts(0, adapter.new_stop_event())
    adapter.start(ctx)
    return ctx


def _threads_named(prefix: str) -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(prefix)]


def test_each_shape_gets_its_adapter(samples: Any, host: EventLoopHost) -> None:
    assert isinstance(
        make_adapter(samples.target("ThreadController"), None), FactoryAdapter
    )
    assert isinstance(
        make_adapter(samples.target("generator_controller"), None), GeneratorAdapter
    )
    assert isinstance(
        make_adapter(samples.target("async_controller"), host), AsyncAdapter
    )


def test_a_factory_object_is_started_and_stopped(
    samples: Any, contexts: ContextFactory
) -> None:
    adapter = make_adapter(samples.target("make_thread_controller"), None)
    ctx = _started(adapter, contexts)
    assert _threads_named("worker-cycle-0")

    outcome = adapter.stop(5)

    assert not outcome.timed_out
    assert outcome.error is None
    assert ctx.stop.is_set()
    assert not _threads_named("worker-cycle-0")
    assert adapter.handle is not None
    assert vars(adapter.handle)["stops"] == 1


def test_a_factory_object_without_stop_is_a_configuration_error(
    samples: Any, contexts: ContextFactory
) -> None:
    adapter = make_adapter(samples.target("returns_object_without_stop"), None)

    with pytest.raises(
        ConfigurationError, match=r"MissingStop it returned has no stop\(\)"
    ):
        _started(adapter, contexts)


def test_a_start_that_raises_is_reported_with_its_traceback(
    samples: Any, contexts: ContextFactory
) -> None:
    adapter = make_adapter(samples.target("RaisesOnStart"), None)

    with pytest.raises(StartFailed) as caught:
        _started(adapter, contexts)

    assert "RuntimeError: cannot reach the API server" in caught.value.detail


def test_a_generator_runs_its_code_after_the_yield_on_stop(
    samples: Any, contexts: ContextFactory
) -> None:
    adapter = make_adapter(samples.target("generator_controller"), None)
    _started(adapter, contexts)
    assert _threads_named("worker-cycle-0")
    assert type(adapter.handle).__name__ == "ThreadController"

    outcome = adapter.stop(5)

    assert outcome.error is None
    assert not _threads_named("worker-cycle-0")
    assert adapter.handle is None


def test_a_generator_that_never_yields_is_a_configuration_error(
    samples: Any, contexts: ContextFactory
) -> None:
    adapter = make_adapter(samples.target("never_yields"), None)

    with pytest.raises(ConfigurationError, match="returned without yielding"):
        _started(adapter, contexts)


def test_a_generator_that_yields_twice_is_an_error_on_stop(
    samples: Any, contexts: ContextFactory
) -> None:
    adapter = make_adapter(samples.target("yields_twice"), None)
    _started(adapter, contexts)

    outcome = adapter.stop(5)

    assert outcome.error is not None
    assert "yielded a second time" in outcome.error


def test_an_async_controller_gets_an_asyncio_event_and_returns_when_it_is_set(
    samples: Any, contexts: ContextFactory, host: EventLoopHost
) -> None:
    adapter = make_adapter(samples.target("async_controller"), host)
    ctx = _started(adapter, contexts)
    assert isinstance(ctx.stop, asyncio.Event)

    outcome = adapter.stop(5)

    assert not outcome.timed_out
    assert outcome.error is None
    assert outcome.pending_tasks == []


def test_a_task_an_async_controller_leaves_behind_is_reported(
    samples: Any, contexts: ContextFactory, host: EventLoopHost
) -> None:
    adapter = make_adapter(samples.target("async_leaves_task"), host)
    _started(adapter, contexts)

    outcome = adapter.stop(5)

    assert [t["name"] for t in outcome.pending_tasks] == ["poller"]
    assert outcome.pending_tasks[0]["coro"] == "_forgotten_poller"
    assert "_sleep_in_a_helper" in outcome.pending_tasks[0]["stack"]


def test_an_async_controller_that_ignores_stop_times_out_with_its_task_shown(
    samples: Any, contexts: ContextFactory, host: EventLoopHost
) -> None:
    adapter = make_adapter(samples.target("async_ignores_stop"), host)
    _started(adapter, contexts)

    outcome = adapter.stop(0.3)

    assert outcome.timed_out
    assert any(t["name"] == host.thread_name for t in outcome.thread_dump)
    stuck = [
        t for t in outcome.pending_tasks if t["name"] == "async_ignores_stop-cycle-0"
    ]
    assert stuck
    assert "asyncio.sleep" in stuck[0]["stack"]


def test_an_async_controller_that_returns_before_stop_is_an_error(
    samples: Any, contexts: ContextFactory, host: EventLoopHost
) -> None:
    adapter = make_adapter(samples.target("async_returns_early"), host)
    _started(adapter, contexts)
    host.is_responsive(5)

    outcome = adapter.stop(5)

    assert outcome.error is not None
    assert "returned before ctx.stop was set" in outcome.error


def test_a_hung_stop_returns_at_the_deadline_with_the_stop_s_stack(
    samples: Any, contexts: ContextFactory
) -> None:
    adapter = make_adapter(samples.target("HangingStop"), None)
    _started(adapter, contexts)

    outcome = adapter.stop(0.3)

    assert outcome.timed_out
    assert 0.3 <= outcome.seconds < 5
    stuck = [t for t in outcome.thread_dump if t["name"].startswith("leakhunt-stop-")]
    assert len(stuck) == 1
    assert "wait_forever_for_release" in stuck[0]["stack"]
    assert any(t["name"] == "worker-cycle-0" for t in outcome.thread_dump)


def test_a_factory_object_can_be_started_again_after_a_stop(
    samples: Any, contexts: ContextFactory
) -> None:
    adapter = make_adapter(samples.target("make_thread_controller"), None)
    ctx = _started(adapter, contexts)
    first = adapter.handle
    adapter.stop(5)

    adapter.start(ctx)

    assert adapter.handle is first
    assert not ctx.stop.is_set()
    assert adapter.stop(5).error is None
    assert vars(first)["starts"] == 2

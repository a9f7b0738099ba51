"""Tests of the work queue, its per-key backoff and its token bucket."""

from __future__ import annotations

import threading

import pytest

from harness.controllers.workqueue import ItemBackoff, TokenBucket, WorkQueue


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_key_added_twice_before_it_is_taken_is_handed_out_once() -> None:
    queue = WorkQueue()
    queue.add("ns/a")
    queue.add("ns/a")
    queue.add("ns/b")

    assert queue.get(0.1) == "ns/a"
    assert queue.get(0.1) == "ns/b"
    assert queue.get(0.01) is None


def test_a_key_added_while_processing_comes_back_only_after_done() -> None:
    queue = WorkQueue()
    queue.add("ns/a")
    key = queue.get(0.1)

    queue.add("ns/a")
    assert queue.get(0.01) is None

    queue.done("ns/a")
    assert key == "ns/a"
    assert queue.get(0.1) == "ns/a"


def test_a_delayed_key_is_handed_out_only_once_its_delay_has_passed() -> None:
    clock = FakeClock()
    queue = WorkQueue(clock=clock)
    queue.add_after("ns/a", 5.0)

    assert queue.get(0.0) is None
    clock.now += 5.0
    assert queue.get(0.0) == "ns/a"


def test_retry_delays_double_per_failure_up_to_the_cap() -> None:
    backoff = ItemBackoff(base=0.01, cap=0.05)

    delays = [backoff.when("ns/a") for _ in range(5)]

    assert delays == [0.01, 0.02, 0.04, 0.05, 0.05]
    assert backoff.when("ns/b") == 0.01


def test_forgetting_a_key_resets_its_backoff() -> None:
    queue = WorkQueue(backoff=ItemBackoff(base=1.0, cap=100.0))
    queue.add_rate_limited("ns/a")
    queue.add_rate_limited("ns/a")
    assert queue.requeues("ns/a") == 2

    queue.forget("ns/a")

    assert queue.requeues("ns/a") == 0


def test_the_token_bucket_spreads_retries_beyond_its_burst_at_its_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=10.0, burst=2, clock=clock)

    delays = [bucket.reserve() for _ in range(4)]

    assert delays == [0.0, 0.0, pytest.approx(0.1), pytest.approx(0.2)]
    clock.now += 10.0
    assert bucket.reserve() == 0.0


def test_a_token_bucket_without_a_positive_rate_is_refused_with_the_values() -> None:
    with pytest.raises(ValueError, match="rate=0"):
        TokenBucket(rate=0, burst=1)


def test_shutting_down_wakes_a_worker_blocked_on_an_empty_queue() -> None:
    queue = WorkQueue()
    got: list[str | None] = []
    worker = threading.Thread(target=lambda: got.append(queue.get(30.0)))
    worker.start()

    queue.shut_down()
    worker.join(2.0)

    assert not worker.is_alive()
    assert got == [None]


def test_keys_added_after_shutdown_are_dropped() -> None:
    queue = WorkQueue()
    queue.shut_down()

    queue.add("ns/a")
    queue.add_after("ns/b", 0.5)

    assert len(queue) == 0
    assert queue.get(0.0) is None

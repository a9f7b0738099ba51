"""Calls under a deadline, and what the thread dump shows when one is missed."""

from __future__ import annotations

import threading

from harness.lifecycle.threads import call_with_deadline, dump_threads


def test_a_call_that_returns_in_time_gives_its_value() -> None:
    result = call_with_deadline(lambda: 42, 5.0, name="quick")

    assert result.value == 42
    assert not result.timed_out
    assert result.error is None
    assert result.thread_dump is None


def test_a_call_that_raises_comes_back_as_traceback_text() -> None:
    def informer_start() -> None:
        raise ConnectionRefusedError("127.0.0.1:6443")

    result = call_with_deadline(informer_start, 5.0, name="raises")

    assert result.error is not None
    assert "ConnectionRefusedError: 127.0.0.1:6443" in result.error
    assert "informer_start" in result.error


def test_a_missed_deadline_dumps_the_thread_stuck_in_the_call() -> None:
    release = threading.Event()

    def stop_that_waits_for_the_next_event() -> None:
        release.wait(30)

    try:
        result = call_with_deadline(
            stop_that_waits_for_the_next_event, 0.2, name="stop-cycle-3"
        )
    finally:
        release.set()

    assert result.timed_out
    assert result.seconds >= 0.2
    assert result.thread_dump is not None
    stuck = [t for t in result.thread_dump if t["name"] == "leakhunt-stop-cycle-3"]
    assert len(stuck) == 1
    assert stuck[0]["daemon"] is True
    assert "stop_that_waits_for_the_next_event" in stuck[0]["stack"]


def test_a_dump_names_every_other_live_thread_with_its_daemon_flag() -> None:
    release = threading.Event()
    worker = threading.Thread(target=release.wait, name="informer-worker")
    worker.start()
    try:
        dump = dump_threads()
    finally:
        release.set()
        worker.join()

    names = {t["name"]: t for t in dump}
    assert names["informer-worker"]["daemon"] is False
    assert names["informer-worker"]["ident"] == worker.ident
    assert "wait" in names["informer-worker"]["stack"]
    assert threading.current_thread().name not in names

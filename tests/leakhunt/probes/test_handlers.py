"""Sampling where watch threads spend a cycle: reading, or inside handlers."""

from __future__ import annotations

import math
import socket
import threading
import time
from collections.abc import Callable

from leakhunt.probes.handlers import HandlerSampler


def run_watch(body: Callable[[threading.Event], None]) -> dict[str, object]:
    """Sample a thread running ``body`` inside a function named like a watch."""
    stop = threading.Event()

    def watch_loop() -> None:
        body(stop)

    thread = threading.Thread(target=watch_loop, daemon=True)
    sampler = HandlerSampler()
    sampler.start()
    thread.start()
    time.sleep(0.5)
    sampler.stop()
    stop.set()
    thread.join(timeout=5)
    return {**sampler.sample(), **sampler.details()}


def slow_handler(stop: threading.Event) -> None:
    while not stop.is_set():
        time.sleep(0.01)  # the handler's blocking work


def test_a_thread_stuck_in_its_handler_spends_the_cycle_handling() -> None:
    def body(stop: threading.Event) -> None:
        slow_handler(stop)

    seen = run_watch(body)

    assert isinstance(seen["watch_handling_share"], float)
    assert seen["watch_handling_share"] > 0.9
    frames = seen["handler_frames"]
    assert isinstance(frames, list)
    assert "slow_handler" in frames[0]["frame"]


def test_a_thread_waiting_on_its_stream_spends_the_cycle_reading() -> None:
    server, client = socket.socketpair()

    def body(stop: threading.Event) -> None:
        with client.makefile("rb") as stream:
            stream.readline()  # blocks in socket.py until the line arrives

    try:
        timer = threading.Timer(0.7, server.sendall, args=(b"done\n",))
        timer.start()
        seen = run_watch(body)
        timer.join()
    finally:
        server.close()
        client.close()

    assert isinstance(seen["watch_handling_share"], float)
    assert seen["watch_handling_share"] < 0.1


def test_a_cycle_without_a_watch_has_no_share() -> None:
    sampler = HandlerSampler()
    sampler.start()
    time.sleep(0.1)
    sampler.stop()

    assert math.isnan(sampler.sample()["watch_handling_share"])
    assert sampler.details()["handler_frames"] == []

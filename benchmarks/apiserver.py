"""Benchmarks of the API server simulator: LIST, watch fan-out, memory, leaks.

Run ``python benchmarks/apiserver.py`` for every figure, or name some:
``list``, ``fanout``, ``memory``, ``soak``. Sizes are options so a quick run
stays quick; the defaults are the sizes docs/benchmarks.md reports.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import sys
import time
from typing import Any

import orjson
import psutil
import urllib3

from harness.apiserver.process import SimulatorProcess
from harness.apiserver.server import Simulator
from harness.workload.seed import namespace, pod, seed

MIB = 1024 * 1024


def bench_list(objects: int, repeats: int) -> None:
    """LIST every pod over HTTP, next to serializing the same pods in-process."""
    pods = [pod(f"pod-{i}", "leakhunt-0", i) for i in range(objects)]
    document = {"kind": "PodList", "apiVersion": "v1", "items": pods}
    size = len(orjson.dumps(document))

    def best(call: Any) -> float:
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            call()
            times.append(time.perf_counter() - started)
        return min(times)

    json_time = best(lambda: json.dumps(document))
    orjson_time = best(lambda: orjson.dumps(document))

    with SimulatorProcess(objects=objects, namespaces=1) as simulator:
        http = urllib3.PoolManager()
        url = f"{simulator.url}/api/v1/namespaces/leakhunt-0/pods"
        headers = {"Authorization": f"Bearer {simulator.token}"}
        received = 0

        def fetch() -> None:
            nonlocal received
            received = len(http.request("GET", url, headers=headers).data)

        list_time = best(fetch)
        audited = simulator.control("GET", f"/audit?limit={repeats}")["items"]
        server_time = min(r["duration"] for r in audited if r["verb"] == "list")

    print(f"LIST of {objects} pods ({size / MIB:.1f} MiB of JSON), best of {repeats}:")
    for name, seconds, nbytes in (
        ("simulator LIST over HTTP", list_time, received),
        ("  of which in the server", server_time, received),
        ("json.dumps in-process", json_time, size),
        ("orjson.dumps in-process", orjson_time, size),
    ):
        print(
            f"  {name:26} {seconds * 1000:8.1f} ms  {nbytes / seconds / MIB:8.1f} MiB/s"
            f"  ({seconds / json_time:4.2f}x json.dumps, "
            f"{seconds / orjson_time:5.2f}x orjson)"
        )


async def _count_events(host: str, port: int, token: str, path: str, want: int) -> int:
    """Read one watch stream raw and count its events until ``want`` arrived."""
    reader, writer = await asyncio.open_connection(host, port)
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    writer.write(request.encode())
    await writer.drain()

    events = 0
    last = b""
    while events < want:
        chunk = await reader.read(1 << 20)
        if not chunk:
            break
        # Each event line ends with "}\n"; one may straddle two reads.
        events += (last + chunk).count(b"}\n")
        last = chunk[-1:]
    writer.close()
    return events


async def _watch_client(argv: list[str]) -> None:
    host, port, token, watchers, want, revision = argv
    path = f"/api/v1/namespaces/leakhunt-0/pods?watch=1&resourceVersion={revision}"
    streams = [
        _count_events(host, int(port), token, path, int(want))
        for _ in range(int(watchers))
    ]
    started = time.perf_counter()
    counts = await asyncio.gather(*streams)
    print(sum(counts), time.perf_counter() - started, flush=True)


async def _fanout(objects: int, watchers: int, updates: int) -> tuple[int, float]:
    simulator = Simulator()
    seed(simulator.store, objects=objects, namespaces=1)
    url = await simulator.start()
    host, port = url.removeprefix("http://").split(":")
    pods = simulator.store.registry.lookup("", "v1", "pods")
    assert pods is not None

    client = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "watch-client",
        host,
        port,
        simulator.token,
        str(watchers),
        str(updates),
        str(simulator.store.revision),
        stdout=asyncio.subprocess.PIPE,
    )
    while len(simulator.store.watches.open_watches()) < watchers:
        await asyncio.sleep(0.01)

    # Server-side churn: update pods in the store, yielding to the loop often
    # so the watch streams are written while the writes go on.
    for index in range(updates):
        name = f"pod-{index % objects}"
        obj = simulator.store.get(pods, "leakhunt-0", name).load()
        obj["metadata"]["labels"]["leakhunt.dev/generation"] = str(index)
        simulator.store.update(pods, "leakhunt-0", name, obj)
        if index % 50 == 0:
            await asyncio.sleep(0)

    stdout, _ = await client.communicate()
    delivered, seconds = stdout.split()
    await simulator.stop()
    return int(delivered), float(seconds)


def bench_fanout(objects: int, watchers: int, updates: int) -> None:
    """Deliver pod updates to many watchers at once and count events per second."""
    delivered, seconds = asyncio.run(_fanout(objects, watchers, updates))
    print(
        f"Watch fan-out: {updates} pod updates to {watchers} watchers: {delivered} "
        f"events in {seconds:.2f} s = {delivered / seconds:,.0f} events/s delivered"
    )


def bench_memory(objects: int) -> None:
    """Hold many seeded pods and report the simulator's resident memory."""
    started = time.perf_counter()
    with SimulatorProcess(objects=objects, namespaces=10) as simulator:
        ready = time.perf_counter() - started
        rss = psutil.Process(simulator.pid).memory_info().rss
    print(
        f"Memory: {objects} pods held in {rss / MIB:.0f} MiB RSS "
        f"({rss / objects:,.0f} B per pod); seeded and serving in {ready:.1f} s"
    )


async def _soak(seconds: float, sample_every: float) -> list[tuple[float, int, int]]:
    simulator = Simulator(compaction_window=30.0)
    store = simulator.store
    seed(store, objects=1000, namespaces=2)
    store.create(
        store.registry.lookup("", "v1", "namespaces") or _never(),
        "",
        namespace("churn"),
    )
    url = await simulator.start()
    configmaps = store.registry.lookup("", "v1", "configmaps") or _never()
    process = psutil.Process()
    samples: list[tuple[float, int, int]] = []
    http = urllib3.PoolManager(maxsize=8)
    headers = {"Authorization": f"Bearer {simulator.token}"}

    def short_watch() -> None:
        # A client that watches for a moment and leaves, as controllers do.
        response = http.request(
            "GET",
            f"{url}/api/v1/namespaces/churn/configmaps?watch=1&timeoutSeconds=1",
            headers=headers,
            preload_content=False,
        )
        response.read()
        response.release_conn()

    started = time.monotonic()
    next_sample = started
    index = 0
    loop = asyncio.get_running_loop()
    watchers: list[asyncio.Future[None]] = []
    while time.monotonic() - started < seconds:
        name = f"cm-{index % 500}"
        entry = store.find(configmaps, "churn", name)
        if entry is None:
            store.create(
                configmaps, "churn", {"metadata": {"name": name}, "data": {"i": "0"}}
            )
        elif index % 3 == 0:
            store.delete(configmaps, "churn", name)
        else:
            obj = entry.load()
            obj["data"] = {"i": str(index)}
            store.update(configmaps, "churn", name, obj)
        index += 1
        if index % 20 == 0:
            # About 2,000 writes a second, and a new watcher whenever one left.
            watchers = [w for w in watchers if not w.done()]
            if len(watchers) < 4:
                watchers.append(loop.run_in_executor(None, short_watch))
            await asyncio.sleep(0.01)
        if time.monotonic() >= next_sample:
            gc.collect()
            samples.append(
                (
                    time.monotonic() - started,
                    process.memory_info().rss,
                    len(gc.get_objects()),
                )
            )
            next_sample += sample_every
    await asyncio.gather(*watchers)
    await simulator.stop()
    print(f"  {index} writes, {len(store.watches.open_watches())} watches left open")
    return samples


def _never() -> Any:
    raise AssertionError("a built-in resource is missing")


def bench_soak(seconds: float, sample_every: float) -> None:
    """Churn with watchers coming and going; report RSS and objects over time."""
    print(f"Soak: {seconds:.0f} s of churn with short-lived watchers, in-process:")
    samples = _run_soak(seconds, sample_every)
    for at, rss, objects in samples:
        print(f"  t={at:6.0f} s  RSS {rss / MIB:7.1f} MiB  {objects:9,} GC objects")
    half = len(samples) // 2
    later = samples[half:]
    if len(later) >= 2:
        rss_slope = statistics.linear_regression(
            [s[0] for s in later], [s[1] for s in later]
        ).slope
        obj_slope = statistics.linear_regression(
            [s[0] for s in later], [s[2] for s in later]
        ).slope
        print(
            f"  second half: RSS {rss_slope * 60 / 1024:+.1f} KiB/min, "
            f"GC objects {obj_slope * 60:+.1f}/min"
        )


def _run_soak(seconds: float, sample_every: float) -> list[tuple[float, int, int]]:
    return asyncio.run(_soak(seconds, sample_every))


def main() -> None:
    """Run the benchmarks named on the command line (all by default)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "which", nargs="*", default=["list", "fanout", "memory", "soak"]
    )
    parser.add_argument("--list-objects", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--watchers", type=int, default=20)
    parser.add_argument("--updates", type=int, default=20_000)
    parser.add_argument("--memory-objects", type=int, default=100_000)
    parser.add_argument("--soak-seconds", type=float, default=300.0)
    parser.add_argument("--sample-every", type=float, default=30.0)
    if sys.argv[1:2] == ["watch-client"]:
        asyncio.run(_watch_client(sys.argv[2:]))
        return
    args = parser.parse_args()

    if "list" in args.which:
        bench_list(args.list_objects, args.repeats)
    if "fanout" in args.which:
        bench_fanout(1000, args.watchers, args.updates)
    if "memory" in args.which:
        bench_memory(args.memory_objects)
    if "soak" in args.which:
        bench_soak(args.soak_seconds, args.sample_every)


if __name__ == "__main__":
    main()

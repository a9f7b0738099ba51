"""Fixtures for the lifecycle tests: sample targets, contexts, a fake server.

``FakeServer`` stands in for the simulator's control client, which does not
exist yet: it implements :class:`ServerControl` over a real loopback listener,
so the watches it lists are real connections whose peers this process's own
sockets can be matched against.
"""

from __future__ import annotations

import contextlib
import inspect
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import kubernetes.client
import pytest

from harness.lifecycle.context import ContextFactory
from harness.lifecycle.target import Target, load_target

SAMPLES = Path(__file__).with_name("sample_controllers.py")

KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: nowhere
  cluster: {server: "http://127.0.0.1:9"}
users:
- name: tester
  user: {token: not-a-secret}
contexts:
- name: nowhere
  context: {cluster: nowhere, user: tester}
current-context: nowhere
"""


class Samples:
    """Samples loads the sample controllers by path, as a user's targets."""

    def target(self, name: str) -> Target:
        """The sample controller ``name`` as a loaded target."""
        return load_target(self.spec(name))

    def spec(self, name: str) -> str:
        """The target spec naming sample ``name``."""
        return f"{SAMPLES}:{name}"

    @property
    def module(self) -> ModuleType:
        """The loaded sample module, for its ``SEEN`` and ``RELEASE``."""
        module = inspect.getmodule(self.target("make_thread_controller").function)
        assert module is not None
        return module


class FakeServer:
    """FakeServer records what scenarios ask and serves connections as watches."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.address = "{}:{}".format(*self._listener.getsockname())
        self._connections: list[tuple[int, socket.socket]] = []
        self._next_id = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, name="fake-server")
        self._thread.start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = self._listener.accept()
                with self._lock:
                    self._next_id += 1
                    self._connections.append((self._next_id, connection))

    def start_churn(self, namespace: str, rate: float | None = None) -> None:
        self.calls.append(("start_churn", (namespace, rate)))

    def stop_churn(self) -> None:
        self.calls.append(("stop_churn", ()))

    def expire_watches(self) -> None:
        self.calls.append(("expire_watches", ()))
        self._close_all()

    def drop_watches(self) -> None:
        self.calls.append(("drop_watches", ()))
        self._close_all()

    def set_latency(self, seconds: float) -> None:
        self.calls.append(("set_latency", (seconds,)))

    def open_watches(self) -> list[dict[str, Any]]:
        with self._lock:
            self._connections = [(i, c) for i, c in self._connections if _is_open(c)]
            return [
                {"id": str(i), "peer": "{}:{}".format(*c.getpeername()), "url": "/w"}
                for i, c in self._connections
            ]

    def names(self) -> list[str]:
        """The names of the methods called, in order."""
        return [name for name, _ in self.calls]

    def _close_all(self) -> None:
        with self._lock:
            for _, connection in self._connections:
                connection.close()
            self._connections = []

    def close(self) -> None:
        """Stop listening and close every connection."""
        self._close_all()
        # NB: on Linux, closing a listening socket does not wake a thread
        # blocked in accept(); shutting it down does.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._thread.join()


def _is_open(connection: socket.socket) -> bool:
    try:
        data = connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return True
    except OSError:
        return False
    return bool(data)


@pytest.fixture
def fake_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeServer]:
    """A fake API server control, with the sample watchers pointed at it."""
    server = FakeServer()
    monkeypatch.setenv("LEAKHUNT_TEST_WATCH_ADDRESS", server.address)
    yield server
    server.close()


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Path:
    """A kubeconfig for a server nobody listens on; no sample controller calls it."""
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG)
    return path


@pytest.fixture
def contexts(kubeconfig: Path) -> ContextFactory:
    """The context factory every runner in these tests uses."""
    configuration = kubernetes.client.Configuration()
    configuration.host = "http://127.0.0.1:9"
    return ContextFactory(
        configuration=configuration, kubeconfig=kubeconfig, namespace="soak"
    )


@pytest.fixture
def samples() -> Iterator[Samples]:
    """The sample controllers; hung ones are released when the test ends."""
    loaded = Samples()
    release: threading.Event = loaded.module.RELEASE
    release.clear()
    loaded.module.SEEN.clear()
    yield loaded
    release.set()

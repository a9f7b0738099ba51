"""The simulator as a subprocess: start it, wait until it serves, stop it."""

from __future__ import annotations

import base64
import contextlib
import logging
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import orjson
from kubernetes import client

from harness.errors import ServerError
from harness.workload.seed import namespace_names

logger = logging.getLogger(__name__)

START_TIMEOUT = 20.0
"""Seconds to wait for an empty simulator to write its kubeconfig."""

SEED_RATE = 5_000.0
"""Pods a second the simulator is given to seed before it must be serving.

It seeds 100,000 pods in about 5 s here (docs/benchmarks.md), about 20,000 a
second; a quarter of that leaves room for a machine that is busy or slow.
"""

STOP_TIMEOUT = 10.0
"""Seconds to wait after SIGTERM before killing the simulator."""

STDERR_TAIL = 2000
"""Characters of the simulator's stderr quoted when it fails to start."""


class SimulatorProcess:
    """SimulatorProcess runs ``python -m harness.apiserver`` for tests and soaks.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`. Once
    started it exposes the URL, token and kubeconfig of the running server.
    """

    def __init__(
        self,
        objects: int = 0,
        namespaces: int = 1,
        kubeconfig: Path | None = None,
        compaction_window: float | None = None,
        extra_args: Sequence[str] = (),
        *,
        tls: bool = False,
    ) -> None:
        self.objects = objects
        self.namespaces = namespace_names(namespaces)
        self._requested_kubeconfig = kubeconfig
        self.compaction_window = compaction_window
        self.extra_args = tuple(extra_args)
        self.tls = tls
        self.ca_file: Path | None = None
        """The server's certificate (its own authority) when serving TLS."""
        self.url = ""
        self.token = ""
        self.kubeconfig = Path()
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: Path | None = None
        self._stderr: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        """The simulator's process id."""
        if self._process is None:
            raise ServerError("the simulator is not running; call start() first")
        return self._process.pid

    @property
    def start_timeout(self) -> float:
        """Seconds the simulator may take to seed its pods and start serving."""
        return START_TIMEOUT + self.objects / SEED_RATE

    def start(self) -> SimulatorProcess:
        """Start the simulator and wait until its kubeconfig is written."""
        if self._process is not None:
            raise ServerError(f"the simulator is already running as pid {self.pid}")
        self._workdir = Path(tempfile.mkdtemp(prefix="leakhunt-apiserver-"))
        self.kubeconfig = self._requested_kubeconfig or self._workdir / "kubeconfig"
        self.kubeconfig.unlink(missing_ok=True)
        command = [
            sys.executable,
            "-m",
            "harness.apiserver",
            "--port",
            "0",
            "--kubeconfig",
            str(self.kubeconfig),
            "--objects",
            str(self.objects),
            "--namespaces",
            str(len(self.namespaces)),
        ]
        if self.compaction_window is not None:
            command += ["--compaction-window", str(self.compaction_window)]
        if self.tls:
            command.append("--tls")
        command += self.extra_args

        self._stderr = (self._workdir / "stderr").open("w+b")
        self._process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=self._stderr
        )
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        logger.info("The simulator (pid %d) serves %s.", self.pid, self.url)
        return self

    def _wait_until_ready(self) -> None:
        assert self._process is not None
        timeout = self.start_timeout
        deadline = time.monotonic() + timeout
        while not self.kubeconfig.exists():
            if self._process.poll() is not None:
                raise ServerError(
                    f"the simulator exited with code {self._process.returncode} "
                    f"before serving: {self._stderr_tail()}"
                )
            if time.monotonic() > deadline:
                raise ServerError(
                    f"the simulator did not write {self.kubeconfig} within "
                    f"{timeout:.0f} s: {self._stderr_tail()}"
                )
            time.sleep(0.02)

        document = orjson.loads(self.kubeconfig.read_bytes())
        cluster = document["clusters"][0]["cluster"]
        self.url = cluster["server"]
        self.token = document["users"][0]["user"]["token"]
        if "certificate-authority-data" in cluster:
            assert self._workdir is not None
            self.ca_file = self._workdir / "ca.crt"
            self.ca_file.write_bytes(
                base64.b64decode(cluster["certificate-authority-data"])
            )

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return "(no stderr captured)"
        self._stderr.flush()
        self._stderr.seek(0)
        text = self._stderr.read().decode(errors="replace").strip()
        return text[-STDERR_TAIL:] or "(stderr was empty)"

    def stop(self) -> None:
        """Stop the simulator and reap it; safe to call more than once."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                logger.warning(
                    "The simulator (pid %d) ignored SIGTERM for %.0f s; killing it.",
                    process.pid,
                    STOP_TIMEOUT,
                )
                process.kill()
                process.wait()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
            self.ca_file = None

    def __enter__(self) -> SimulatorProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def configuration(self) -> client.Configuration:
        """Return a client configuration for the ``kubernetes`` package."""
        configuration = client.Configuration(
            host=self.url,
            api_key={"authorization": self.token},
            api_key_prefix={"authorization": "Bearer"},
            ssl_ca_cert=str(self.ca_file) if self.ca_file else None,
        )
        return configuration

    def ssl_context(self) -> ssl.SSLContext | None:
        """Return a client SSL context that trusts the server, None over HTTP."""
        if self.ca_file is None:
            return None
        return ssl.create_default_context(cafile=str(self.ca_file))

    def control(self, method: str, path: str, body: object = None) -> Any:
        """Call a control endpoint under ``/leakhunt/v1`` and return its JSON."""
        data = orjson.dumps(body) if body is not None else None
        request = urllib.request.Request(
            f"{self.url}/leakhunt/v1{path}",
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/json",
            },
        )
        try:
            reply = urllib.request.urlopen(
                request, timeout=30, context=self.ssl_context()
            )
            with contextlib.closing(reply):
                return orjson.loads(reply.read())
        except urllib.error.HTTPError as exc:
            raise ServerError(
                f"{method} {path} on the simulator at {self.url} failed with "
                f"{exc.code}: {exc.read().decode(errors='replace')}"
            ) from exc
        except urllib.error.URLError as exc:
            raise ServerError(
                f"cannot reach the simulator at {self.url}: {exc.reason}"
            ) from exc

    def open_watches(self) -> list[dict[str, Any]]:
        """Return the watches open on the server, as ``/leakhunt/v1/watches``."""
        items: list[dict[str, Any]] = self.control("GET", "/watches")["items"]
        return items

    def compact(self) -> int:
        """Compact the server's history now; return the revision compacted to."""
        revision: int = self.control("POST", "/compact")["compactedRevision"]
        return revision

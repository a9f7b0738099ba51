"""Fixtures for leakhunt's tests: a cluster that refuses leakhunt's requests.

``refusing_cluster`` is a real HTTP server on loopback that answers like an
API server refusing requests. The simulator grants every request made with
its token; a cluster whose RBAC
forbids leakhunt's writes, or that rejects its credentials, is this instead:
``GET /version`` answers, and each request gets the status its method and
path were given (403 Forbidden unless told), with a ``metav1.Status``
body as kube-apiserver sends it. It records every request it answered.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

VERSION: dict[str, object] = {
    "major": "1",
    "minor": "31",
    "gitVersion": "v1.31.0-refusing",
    "gitCommit": "0" * 40,
    "gitTreeState": "clean",
    "buildDate": "2024-08-13T07:28:49Z",
    "goVersion": "go1.22.5",
    "compiler": "gc",
    "platform": "linux/amd64",
}

REASONS = {
    200: "OK",
    201: "Created",
    401: "Unauthorized",
    403: "Forbidden",
    500: "InternalError",
}


class RefusingServer:
    """Answers ``GET /version``; every other request gets its configured status."""

    def __init__(self, answers: dict[tuple[str, str], int] | None = None) -> None:
        self.answers = {("GET", "/version"): 200, **(answers or {})}
        self.requests: list[tuple[str, str]] = []
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}"
        self._thread = threading.Thread(
            target=self._http.serve_forever, name="refusing-server", daemon=True
        )

    def status_for(self, method: str, path: str) -> int:
        """The status configured for ``method`` on ``path``: an exact path, or
        the longest configured prefix that ends in ``/``."""
        path = path.rstrip("/") or "/"
        matches = [
            (len(key), status)
            for (verb, key), status in self.answers.items()
            if verb == method
            and (key == path or (key.endswith("/") and path.startswith(key)))
        ]
        return max(matches)[1] if matches else 403

    def kubeconfig(self, path: Path) -> Path:
        """Write a kubeconfig for this server with a token it will not accept."""
        path.write_text(
            "apiVersion: v1\nkind: Config\ncurrent-context: refusing\n"
            f"clusters: [{{name: refusing, cluster: {{server: '{self.url}'}}}}]\n"
            "contexts: [{name: refusing, context: {cluster: refusing, user: u}}]\n"
            "users: [{name: u, user: {token: not-allowed}}]\n"
        )
        return path

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = self.rfile.read(length)
                path = self.path.split("?")[0]
                server.requests.append((self.command, path))
                status = server.status_for(self.command, path)
                body: dict[str, object]
                if path.rstrip("/") == "/version" and status == 200:
                    body = VERSION
                elif status < 300:
                    # A write is answered with the object written, as kube does.
                    body = json.loads(request or b"{}")
                else:
                    body = {
                        "kind": "Status",
                        "apiVersion": "v1",
                        "status": "Failure",
                        "reason": REASONS.get(status, "Unknown"),
                        "message": f'{path} is forbidden: User "u" cannot '
                        f"{self.command.lower()} it",
                        "code": status,
                    }
                data = json.dumps(body).encode()
                self.send_response(status, REASONS.get(status))
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = do_PATCH = do_PUT = _answer

            def log_message(self, format: str, *args: object) -> None:
                """Keep the test output quiet."""

        return Handler

    def start(self) -> RefusingServer:
        """Serve in a thread of its own."""
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and close the listening socket."""
        self._http.shutdown()
        self._http.server_close()
        self._thread.join()


@pytest.fixture
def refusing_cluster() -> Iterator[Callable[..., RefusingServer]]:
    """Start refusing servers: ``refusing_cluster({("POST", "/api"): 201})``."""
    started: list[RefusingServer] = []

    def start(answers: dict[tuple[str, str], int] | None = None) -> RefusingServer:
        server = RefusingServer(answers).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()

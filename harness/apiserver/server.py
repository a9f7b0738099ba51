"""The simulator's HTTP server: authentication, audit, faults and routing.

:class:`Simulator` owns the store and everything around it and serves them on
aiohttp. It is driven either by the command line (:mod:`harness.apiserver.command`)
or, inside one event loop, by code that wants a server without a subprocess
(benchmarks, server-side churn).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import secrets
import ssl
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import orjson
from aiohttp import web

from harness.apiserver import control, discovery, openapi
from harness.apiserver import status as errors
from harness.apiserver.audit import Audit, AuditRecord, new_record
from harness.apiserver.faults import Faults
from harness.apiserver.handlers import (
    ResourceHandlers,
    error_response,
    json_response,
    request_header,
)
from harness.apiserver.list_options import TRUE_VALUES
from harness.apiserver.pagination import Paginator
from harness.apiserver.routing import parse_target
from harness.apiserver.store import DEFAULT_COMPACTION_WINDOW, Store
from harness.apiserver.streaming import WatchSettings, WatchStreams

logger = logging.getLogger(__name__)

HOUSEKEEPING_INTERVAL = 1.0
"""Seconds between trims of the history when nothing is being written."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

AUDIT_RECORD = web.RequestKey("audit", AuditRecord)
"""Where a request keeps its audit record while it is being served."""

_UNAUTHENTICATED_PATHS = ("/healthz", "/livez", "/readyz")


class Simulator:
    """Simulator is the API server: its store, its HTTP app and its controls."""

    def __init__(
        self,
        *,
        token: str | None = None,
        compaction_window: float = DEFAULT_COMPACTION_WINDOW,
        watch_settings: WatchSettings | None = None,
    ) -> None:
        self.token = token or secrets.token_urlsafe(32)
        self.store = Store(compaction_window=compaction_window)
        self.audit = Audit()
        self.faults = Faults()
        self.paginator = Paginator(ttl=compaction_window)
        self.handlers = ResourceHandlers(self.store, self.paginator)
        self.streams = WatchStreams(self.store, watch_settings or WatchSettings())
        self.url = ""
        self.control_routes: dict[tuple[str, str], control.Action] = {}
        """More control endpoints under /leakhunt/v1, by (method, path)."""
        self._runner: web.AppRunner | None = None
        self._housekeeping: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()

    def build_app(self) -> web.Application:
        """Return the aiohttp application serving the whole API."""
        app = web.Application(
            middlewares=[
                self._audit_middleware,
                self._auth_middleware,
                self._fault_middleware,
            ],
            client_max_size=1024**3,
        )
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        return app

    async def start(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> str:
        """Start serving on host:port (0 picks a free port); return the URL.

        With an SSL context it serves HTTPS, which kubectl needs to send a token.
        """
        # NB: handler_cancellation makes a client that hangs up cancel its
        # watch at once, instead of at the next event written to a dead socket;
        # otherwise the open-watch registry would report watches nobody holds.
        self._runner = web.AppRunner(
            self.build_app(), handler_cancellation=True, access_log=None
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, ssl_context=ssl_context)
        await site.start()

        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", [])
        bound_host, bound_port = sockets[0].getsockname()[:2]
        shown_host = f"[{bound_host}]" if ":" in bound_host else bound_host
        scheme = "https" if ssl_context is not None else "http"
        self.url = f"{scheme}://{shown_host}:{bound_port}"
        self._housekeeping = asyncio.create_task(self._keep_house())
        logger.info("The API server simulator is listening on %s.", self.url)
        return self.url

    def run_in_background(
        self, coroutine: Coroutine[Any, Any, None], name: str
    ) -> asyncio.Task[None]:
        """Run a task (server-side churn, say) until it ends or the server stops."""
        task = asyncio.create_task(coroutine, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def stop(self) -> None:
        """Cancel background tasks, end every watch and stop serving."""
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        self.store.watches.drop_all()
        if self._housekeeping is not None:
            self._housekeeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._housekeeping
            self._housekeeping = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        logger.info("The API server simulator at %s has stopped.", self.url)

    async def _keep_house(self) -> None:
        while True:
            await asyncio.sleep(HOUSEKEEPING_INTERVAL)
            self.store.trim_history()

    # Middlewares, outermost first.

    @web.middleware
    async def _audit_middleware(
        self, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        record = new_record(
            request.method, request.path, request_header(request, "User-Agent")
        )
        record.resource_version = request.query.get("resourceVersion", "")
        record.limit = request.query.get("limit", "")
        request[AUDIT_RECORD] = record
        started = time.perf_counter()
        response: web.StreamResponse | None = None
        try:
            response = await handler(request)
            return response
        except Exception:
            # A bug anywhere inside, in a middleware or a handler: the client
            # still gets a Status, and the server serves on.
            logger.exception(
                "The request %s %s failed on a bug in the simulator.",
                request.method,
                request.path_qs,
            )
            response = error_response(
                errors.ApiError(
                    500,
                    "InternalError",
                    f"an error on the server prevented {request.method} "
                    f"{request.path} from succeeding",
                )
            )
            return response
        finally:
            record.duration = time.perf_counter() - started
            if response is not None:
                record.code = response.status
                if isinstance(response, web.Response):
                    record.bytes_sent = response.content_length or 0
            else:
                # Cancelled: the client hung up before the answer.
                record.code = record.code or 499
            self.audit.record(record)

    @web.middleware
    async def _auth_middleware(
        self, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        if request.path in _UNAUTHENTICATED_PATHS:
            return await handler(request)
        header = request_header(request, "Authorization")
        scheme, _, presented = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            presented.strip().encode(), self.token.encode()
        ):
            return error_response(
                errors.ApiError(
                    401,
                    "Unauthorized",
                    "Unauthorized: send the bearer token from the simulator's "
                    "kubeconfig in an 'Authorization: Bearer <token>' header",
                )
            )
        return await handler(request)

    @web.middleware
    async def _fault_middleware(
        self, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        if request.path.startswith(("/api", "/apis", "/version", "/openapi")):
            if self.faults.latency > 0:
                await asyncio.sleep(self.faults.latency)
            error = self.faults.error()
            if error is not None:
                return error_response(error)
        return await handler(request)

    # Routing.

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        record = request[AUDIT_RECORD]
        try:
            return await self._route(request, record)
        except errors.ApiError as exc:
            return error_response(exc)

    async def _route(
        self, request: web.Request, record: AuditRecord
    ) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        watch = request.query.get("watch", "") in TRUE_VALUES
        target = parse_target(
            self.store.registry, path, request.method, watch_param=watch
        )
        if target is not None:
            record.verb = target.verb
            record.group = target.resource.group
            record.version = target.resource.version
            record.resource = target.resource.plural
            record.subresource = target.subresource or ""
            record.scope = target.scope
            record.namespace = target.namespace or ""
            record.name = target.name or ""
            record.label_selector = request.query.get("labelSelector", "")
            record.field_selector = request.query.get("fieldSelector", "")
            if target.verb == "watch":
                return await self.streams.serve(request, target, record)
            return await self.handlers.handle(request, target)

        if path.startswith("/leakhunt/"):
            return await control.handle(self, request, path)
        if request.method != "GET":
            raise errors.method_not_allowed(request.method, path)
        record.verb = "get"
        return self._non_resource(request, path)

    def _non_resource(self, request: web.Request, path: str) -> web.StreamResponse:
        registry = self.store.registry
        parts = [part for part in path.split("/") if part]
        document: object = None
        if path == "/version":
            document = discovery.version()
        elif path == "/api":
            document = discovery.core_versions(request.host)
        elif path == "/api/v1":
            document = discovery.resource_list(registry, "", "v1")
        elif path == "/apis":
            document = discovery.group_list(registry)
        elif len(parts) == 2 and parts[0] == "apis":
            document = discovery.group(registry, parts[1])
        elif len(parts) == 3 and parts[0] == "apis":
            document = discovery.resource_list(registry, parts[1], parts[2])
        elif path == "/openapi/v3":
            document = openapi.root_document(registry)
        elif path.startswith("/openapi/v3/") and len(parts) in (4, 5):
            group, version = (parts[3], parts[4]) if len(parts) == 5 else ("", parts[3])
            document = openapi.group_version_document(registry, group, version)
        elif path in _UNAUTHENTICATED_PATHS:
            return web.Response(text="ok", content_type="text/plain")
        elif path == "/metrics":
            stored = {
                resource: self.store.count(resource) for resource in registry.served()
            }
            text = self.audit.render(self.store.watches.open_watches(), stored)
            return web.Response(text=text, content_type="text/plain", charset="utf-8")
        if document is None:
            raise errors.path_not_found(path)
        return json_response(orjson.dumps(document))

"""The REST verbs on resources: get, list, create, update, patch, delete.

Each handler turns a parsed request into store calls and answers with the
bytes the store keeps, so the common paths never re-serialize an object.
Watch streams live in :mod:`harness.apiserver.streaming`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from aiohttp import web

from harness.apiserver import status as errors
from harness.apiserver.json_values import json_type, show_json
from harness.apiserver.limits import MAX_OBJECT_BYTES, check_nesting
from harness.apiserver.list_options import ListOptions, parse_list_options
from harness.apiserver.pagination import ListScope, Page, Paginator
from harness.apiserver.patch import PatchError, apply_json_patch, apply_merge_patch
from harness.apiserver.resources import ResourceType
from harness.apiserver.routing import Target
from harness.apiserver.store import Preconditions, Store
from harness.apiserver.strategic import apply_strategic_merge_patch
from harness.apiserver.tables import table, wants_table

logger = logging.getLogger(__name__)

JSON = "application/json"

FUTURE_REVISION_WAIT = 3.0
"""Seconds a read from a future resourceVersion waits for it before the 504,
as kube-apiserver's watch cache waits."""

FUTURE_REVISION_POLL = 0.05
"""Seconds between looks at the store's revision while waiting for one."""

_RETURNS_DELETED_OBJECT = {("", "pods"), ("", "services"), ("", "namespaces")}
"""Resources whose DELETE answers with the object rather than a Status, as in kube."""

_PATCH_REASONS = {
    400: "BadRequest",
    413: "RequestEntityTooLarge",
    422: "Invalid",
}
"""The Status reason of each code a PatchError carries."""

_PATCH_TYPES = (
    "application/merge-patch+json",
    "application/json-patch+json",
    "application/strategic-merge-patch+json",
)


def request_header(request: web.Request, name: str) -> str:
    """Return a request header as text, its bytes that are not UTF-8 replaced.

    NB: aiohttp keeps such bytes as lone surrogates, which no JSON encoder
    writes: a header echoed into the audit or the watch list would otherwise
    fail every later read of them.
    """
    value = request.headers.get(name, "")
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def json_response(body: bytes, status: int = 200) -> web.Response:
    """Return a JSON response from bytes already serialized."""
    return web.Response(body=body, status=status, content_type=JSON)


def error_response(error: errors.ApiError) -> web.Response:
    """Return the Status response of an API error."""
    response = json_response(error.body(), error.code)
    retry_after = error.retry_after_seconds
    if retry_after is None and error.code == 429:
        retry_after = 1
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


async def wait_for_revision(store: Store, revision: int | None) -> None:
    """Wait briefly for the store to reach ``revision``, or raise the 504.

    NB: kube-apiserver's watch cache, asked for a resourceVersion newer than
    it holds, waits a few seconds for it to arrive, then answers 504 "Too
    large resource version" with a retry delay; a LIST and a WATCH alike.
    """
    if revision is None or revision <= store.revision:
        return
    deadline = time.monotonic() + FUTURE_REVISION_WAIT
    while store.revision < revision:
        if time.monotonic() >= deadline:
            raise errors.too_large_resource_version(revision, store.revision)
        await asyncio.sleep(FUTURE_REVISION_POLL)


async def read_json(
    request: web.Request, what: str, *, allow_empty: bool = False
) -> Any:
    """Read and decode a JSON request body, raising 413 or 400 as kube does."""
    content_type = request_header(request, "Content-Type")
    if content_type.startswith(
        ("application/vnd.kubernetes.protobuf", "application/cbor")
    ):
        # NB: typed clients (kubectl create configmap, client-go) may send
        # protobuf; the simulator speaks JSON only and says so.
        raise errors.unsupported_media_type(
            content_type, "application/json, application/yaml"
        )
    length = request.content_length
    if length is not None and length > MAX_OBJECT_BYTES:
        raise _too_large(length)

    # NB: a read returns what has arrived so far, not all it may return: a
    # body larger than one network read comes in several.
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(MAX_OBJECT_BYTES + 1 - size):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_OBJECT_BYTES:
            raise _too_large(None)
    body = b"".join(chunks)

    if not body.strip():
        if allow_empty:
            return None
        raise errors.bad_request(
            f"the {what} has an empty body; expected a JSON object"
        )
    try:
        decoded = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise errors.bad_request(
            f"the {what} is not valid JSON: {exc}; expected a JSON object"
        ) from exc
    check_nesting(decoded, what)
    return decoded


def _too_large(length: int | None) -> errors.ApiError:
    got = f", got {length} bytes" if length is not None else ""
    return errors.ApiError(
        413,
        "RequestEntityTooLarge",
        f"the request body is too large: the limit is {MAX_OBJECT_BYTES} bytes{got}",
    )


def _require_object(body: Any, what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise errors.bad_request(
            f"the {what} must be a JSON object, got {json_type(body)}: "
            f"{show_json(body)}"
        )
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise errors.bad_request(
            f"the {what} has a metadata that is a {json_type(metadata)}, "
            f"{show_json(metadata)}; expected a JSON object such as "
            '{"name": "web"}'
        )
    return body


def _check_kind(resource: ResourceType, obj: Mapping[str, Any], path: str) -> None:
    kind = obj.get("kind")
    api_version = obj.get("apiVersion")
    if kind and kind != resource.kind:
        raise errors.bad_request(
            f"the kind in the body ({kind}) does not match the kind served at "
            f"{path} ({resource.kind})"
        )
    if api_version and api_version != resource.api_version:
        raise errors.bad_request(
            f"the API version in the body ({api_version}) does not match the "
            f"expected API version ({resource.api_version})"
        )


def _reject_dry_run(query: Mapping[str, str]) -> None:
    if query.get("dryRun"):
        raise errors.bad_request(
            f"dryRun={query['dryRun']!r} is not supported by the leakhunt API "
            "server simulator; send the request without dryRun"
        )


class ResourceHandlers:
    """ResourceHandlers answers the non-streaming verbs on resource URLs."""

    def __init__(self, store: Store, paginator: Paginator) -> None:
        self.store = store
        self.paginator = paginator

    async def handle(self, request: web.Request, target: Target) -> web.StreamResponse:
        """Answer one request on a resource URL (anything but a watch)."""
        handler: Callable[[web.Request, Target], Any] = getattr(self, f"_{target.verb}")
        response: web.StreamResponse = await handler(request, target)
        return response

    def _namespace(self, target: Target) -> str:
        return (target.namespace or "") if target.resource.namespaced else ""

    async def _get(self, request: web.Request, target: Target) -> web.StreamResponse:
        assert target.name is not None
        if target.resource.namespaced and target.namespace is None:
            raise errors.path_not_found(request.path)
        entry = self.store.get(target.resource, self._namespace(target), target.name)
        if target.subresource is None and wants_table(
            request.headers.get("Accept", "")
        ):
            include = request.query.get("includeObject", "PartialObjectMetadata")
            meta = {"resourceVersion": str(entry.revision)}
            return json_response(table(target.resource, [entry.load()], meta, include))
        return json_response(entry.raw)

    async def _list(self, request: web.Request, target: Target) -> web.StreamResponse:
        resource = target.resource
        options = parse_list_options(request.query, resource, None)
        if not options.continue_token:
            await wait_for_revision(self.store, options.resource_version)
        page = self._page(target, options)

        metadata: dict[str, Any] = {"resourceVersion": str(page.revision)}
        if page.continue_token:
            metadata["continue"] = page.continue_token
        if page.remaining is not None:
            metadata["remainingItemCount"] = page.remaining
        items = page.items

        if wants_table(request.headers.get("Accept", "")):
            include = request.query.get("includeObject", "PartialObjectMetadata")
            objects = [entry.load() for _, _, entry in items]
            return json_response(table(resource, objects, metadata, include))

        body = b"".join(
            (
                b'{"kind":"',
                resource.list_kind.encode(),
                b'","apiVersion":"',
                resource.api_version.encode(),
                b'","metadata":',
                orjson.dumps(metadata),
                b',"items":[',
                b",".join(entry.raw for _, _, entry in items),
                b"]}",
            )
        )
        return json_response(body)

    def _page(self, target: Target, options: ListOptions) -> Page:
        resource = target.resource
        scope = ListScope(
            errors.qualified(resource.plural, resource.group),
            target.namespace,
            options.label_text,
            options.field_text,
        )
        if options.continue_token:
            if options.resource_version_text not in ("", "0"):
                raise errors.bad_request(
                    "specifying resource version is not allowed when using continue"
                )
            return self.paginator.next_page(
                scope, options.continue_token, options.limit
            )

        current = self.store.revision
        rv = options.resource_version
        if options.resource_version_match == "Exact" and rv != current:
            # NB: the store keeps only the present; an exact read of the past
            # is answered as kube-apiserver answers one that etcd has compacted.
            raise errors.gone(f"too old resource version: {rv} ({current})")

        items = self.store.list(
            target.resource,
            target.namespace,
            options.label_selector,
            options.field_selector,
        )
        return self.paginator.first_page(scope, current, items, options.limit)

    async def _create(self, request: web.Request, target: Target) -> web.StreamResponse:
        _reject_dry_run(request.query)
        resource = target.resource
        obj = _require_object(await read_json(request, "create request"), "object")
        _check_kind(resource, obj, request.path)

        if resource.namespaced:
            if target.namespace is None:
                raise errors.method_not_allowed("POST", request.path)
            body_namespace = (obj.get("metadata") or {}).get("namespace")
            if body_namespace and body_namespace != target.namespace:
                raise errors.bad_request(
                    f"the namespace of the provided object ({body_namespace}) does "
                    f"not match the namespace sent on the request ({target.namespace})"
                )
        entry = self.store.create(resource, target.namespace or "", obj)
        return json_response(entry.raw, 201)

    async def _update(self, request: web.Request, target: Target) -> web.StreamResponse:
        assert target.name is not None
        _reject_dry_run(request.query)
        resource = target.resource
        obj = _require_object(await read_json(request, "update request"), "object")
        _check_kind(resource, obj, request.path)

        body_name = (obj.get("metadata") or {}).get("name")
        if body_name != target.name:
            raise errors.bad_request(
                f"the name of the object ({body_name}) does not match the name on "
                f"the URL ({target.name})"
            )
        entry = self.store.update(
            resource,
            self._namespace(target),
            target.name,
            obj,
            subresource=target.subresource,
        )
        return json_response(entry.raw)

    async def _patch(self, request: web.Request, target: Target) -> web.StreamResponse:
        assert target.name is not None
        _reject_dry_run(request.query)
        resource = target.resource
        content_type = request_header(request, "Content-Type").split(";")[0].strip()
        if content_type not in _PATCH_TYPES:
            raise errors.unsupported_media_type(content_type, ", ".join(_PATCH_TYPES))
        custom = self.store.registry.is_custom(resource)
        if content_type == _PATCH_TYPES[2] and custom:
            raise errors.unsupported_media_type(
                content_type,
                f"{_PATCH_TYPES[0]}, {_PATCH_TYPES[1]} (strategic merge patch is "
                "not supported for custom resources)",
            )

        patch = await read_json(request, "patch")
        namespace = self._namespace(target)
        current = self.store.get(resource, namespace, target.name)
        try:
            if content_type == _PATCH_TYPES[0]:
                patched = apply_merge_patch(current.load(), patch)
            elif content_type == _PATCH_TYPES[1]:
                patched = apply_json_patch(current.load(), patch)
            else:
                patched = apply_strategic_merge_patch(current.load(), patch)
        except PatchError as exc:
            raise errors.ApiError(exc.code, _PATCH_REASONS[exc.code], str(exc)) from exc
        if not isinstance(patched, dict) or not isinstance(
            patched.get("metadata"), dict
        ):
            raise errors.ApiError(
                422, "Invalid", "the patched object must be a JSON object with metadata"
            )
        _check_kind(resource, patched, request.path)

        entry = self.store.update(
            resource, namespace, target.name, patched, subresource=target.subresource
        )
        return json_response(entry.raw)

    async def _delete(self, request: web.Request, target: Target) -> web.StreamResponse:
        assert target.name is not None
        _reject_dry_run(request.query)
        resource = target.resource
        preconditions = await self._delete_options(request)
        entry, gone = self.store.delete(
            resource, self._namespace(target), target.name, preconditions
        )
        if gone and resource.key not in _RETURNS_DELETED_OBJECT:
            meta = entry.load()["metadata"]
            body = errors.success_status(
                name=target.name,
                group=resource.group,
                kind=resource.plural,
                uid=meta["uid"],
            )
            return json_response(orjson.dumps(body))
        return json_response(entry.raw, 200 if gone else 202)

    async def _deletecollection(
        self, request: web.Request, target: Target
    ) -> web.StreamResponse:
        _reject_dry_run(request.query)
        resource = target.resource
        options = parse_list_options(request.query, resource, None)
        await self._delete_options(request)

        deleted = []
        for ns, name, _ in self.store.list(
            resource, target.namespace, options.label_selector, options.field_selector
        ):
            if self.store.find(resource, ns, name) is None:
                continue
            entry, _ = self.store.delete(resource, ns, name)
            deleted.append(entry.raw)

        body = b"".join(
            (
                b'{"kind":"',
                resource.list_kind.encode(),
                b'","apiVersion":"',
                resource.api_version.encode(),
                b'","metadata":{"resourceVersion":"',
                str(self.store.revision).encode(),
                b'"},"items":[',
                b",".join(deleted),
                b"]}",
            )
        )
        return json_response(body)

    async def _delete_options(self, request: web.Request) -> Preconditions | None:
        if not request.can_read_body:
            return None
        options = await read_json(request, "DeleteOptions body", allow_empty=True)
        if options is None:
            return None
        if not isinstance(options, dict):
            raise errors.bad_request(
                "the DeleteOptions body must be a JSON object, got "
                f"{json_type(options)}: {show_json(options)}"
            )
        if options.get("dryRun"):
            raise errors.bad_request(
                "dryRun is not supported by the leakhunt API server simulator; "
                "send the request without dryRun"
            )
        wanted = options.get("preconditions")
        if not wanted:
            return None
        if not isinstance(wanted, dict):
            raise errors.bad_request("preconditions must be a JSON object")
        return Preconditions(
            uid=wanted.get("uid"), resource_version=wanted.get("resourceVersion")
        )

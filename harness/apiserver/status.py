"""metav1.Status errors: the one shape every failed request is answered with."""

from __future__ import annotations

import logging
from typing import Any

import orjson

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """An API request that failed the way kube-apiserver would fail it.

    It carries the HTTP code, the machine-readable ``reason`` and the
    human-readable message, and renders itself as a ``metav1.Status``.
    """

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        name: str | None = None,
        group: str | None = None,
        kind: str | None = None,
        causes: list[dict[str, str]] | None = None,
        retry_after_seconds: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.name = name
        self.group = group
        self.kind = kind
        self.causes = causes
        self.retry_after_seconds = retry_after_seconds
        """When the client may retry; also sent as the Retry-After header."""

    def status(self) -> dict[str, Any]:
        """Return the ``metav1.Status`` object that describes this error."""
        details: dict[str, Any] = {}
        if self.name is not None:
            details["name"] = self.name
        if self.group is not None:
            details["group"] = self.group
        if self.kind is not None:
            details["kind"] = self.kind
        if self.causes:
            details["causes"] = self.causes
        if self.retry_after_seconds is not None:
            details["retryAfterSeconds"] = self.retry_after_seconds

        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if details:
            status["details"] = details
        return status

    def body(self) -> bytes:
        """Return the Status serialized as JSON."""
        return orjson.dumps(self.status())


def success_status(*, name: str, group: str, kind: str, uid: str) -> dict[str, Any]:
    """Return the ``Success`` Status some deletions answer with."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {"name": name, "group": group, "kind": kind, "uid": uid},
    }


def qualified(plural: str, group: str) -> str:
    """Return ``pods`` or ``deployments.apps``: how kube names a resource."""
    return f"{plural}.{group}" if group else plural


def not_found(plural: str, group: str, name: str) -> ApiError:
    """Return the 404 for an object that does not exist."""
    return ApiError(
        404,
        "NotFound",
        f'{qualified(plural, group)} "{name}" not found',
        name=name,
        group=group,
        kind=plural,
    )


def already_exists(plural: str, group: str, name: str) -> ApiError:
    """Return the 409 for a create whose name is taken."""
    return ApiError(
        409,
        "AlreadyExists",
        f'{qualified(plural, group)} "{name}" already exists',
        name=name,
        group=group,
        kind=plural,
    )


def conflict(plural: str, group: str, name: str) -> ApiError:
    """Return the 409 for a write based on a stale resourceVersion."""
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {qualified(plural, group)} "{name}": '
        "the object has been modified; please apply your changes to the latest "
        "version and try again",
        name=name,
        group=group,
        kind=plural,
    )


def invalid(kind: str, group: str, name: str, field: str, detail: str) -> ApiError:
    """Return the 422 for an object that fails validation in ``field``."""
    return ApiError(
        422,
        "Invalid",
        f'{kind} "{name}" is invalid: {field}: {detail}',
        name=name,
        group=group,
        kind=kind,
        causes=[{"reason": "FieldValueInvalid", "message": detail, "field": field}],
    )


def bad_request(message: str) -> ApiError:
    """Return the 400 for a request the server cannot make sense of."""
    return ApiError(400, "BadRequest", message)


def too_large_resource_version(requested: int, current: int) -> ApiError:
    """Return the 504 for a read from a resourceVersion the server has not reached."""
    return ApiError(
        504,
        "Timeout",
        f"Timeout: Too large resource version: {requested}, current: {current}",
        retry_after_seconds=1,
    )


def gone(message: str) -> ApiError:
    """Return the 410 for a resourceVersion or continue token that is too old."""
    return ApiError(410, "Expired", message)


def method_not_allowed(method: str, path: str) -> ApiError:
    """Return the 405 for a verb the resource does not support."""
    return ApiError(
        405, "MethodNotAllowed", f"the server does not allow {method} on {path}"
    )


def unsupported_media_type(content_type: str, accepted: str) -> ApiError:
    """Return the 415 for a body in a content type the verb does not take."""
    return ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media "
        f"types include: {accepted}; got {content_type!r}",
    )


def path_not_found(path: str) -> ApiError:
    """Return the 404 for a URL that names no resource the server serves."""
    return ApiError(
        404, "NotFound", f"the server could not find the requested resource ({path})"
    )

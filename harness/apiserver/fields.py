"""Field selectors, the fields a resource is selected by, parsed and matched.

A LIST or WATCH names the objects it wants by their fields with the
``fieldSelector`` query parameter. The grammar is apimachinery's
``fields.ParseSelector``: ``f=v``, ``f==v``, ``f!=v`` joined by commas, with
``\\``, ``,`` and ``=`` escaped by a backslash inside values. Text
kube-apiserver refuses raises :class:`~harness.apiserver.selectors.SelectorError`
with its wording.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from harness.apiserver.selectors import SelectorError

logger = logging.getLogger(__name__)

FIELD_SELECTORS_ALWAYS = ("metadata.name", "metadata.namespace")
"""Field selectors every resource supports, built-in or custom."""

POD_FIELD_SELECTORS = (
    *FIELD_SELECTORS_ALWAYS,
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
)
"""Field selectors pods support (kube-apiserver also has ``spec.hostNetwork``).

Other resources' extra fields are listed with the resource types the simulator
serves; pass them as ``supported`` to :func:`parse_field_selector`.
"""


@dataclass(frozen=True, slots=True)
class FieldRequirement:
    """FieldRequirement is one term of a field selector: ``field=value`` or ``!=``."""

    field: str
    value: str
    negated: bool = False

    def matches(self, actual: str) -> bool:
        """Tell whether the field's actual value satisfies this term."""
        return (actual != self.value) if self.negated else (actual == self.value)

    def __str__(self) -> str:
        escaped = (
            self.value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")
        )
        return f"{self.field}{'!=' if self.negated else '='}{escaped}"


@dataclass(frozen=True, slots=True)
class FieldSelector:
    """FieldSelector is a conjunction of field terms over an object's fields.

    A field the object does not have, or holds as an object or list, reads as
    the empty string, so ``status.phase=`` selects objects without a phase.
    """

    requirements: tuple[FieldRequirement, ...] = ()

    @property
    def empty(self) -> bool:
        """Whether the selector leaves the selection unrestricted."""
        return not self.requirements

    @property
    def fields(self) -> frozenset[str]:
        """The dotted field paths this selector reads."""
        return frozenset(requirement.field for requirement in self.requirements)

    def matches(self, obj: Mapping[str, Any]) -> bool:
        """Tell whether an object, as decoded JSON, is selected."""
        return all(
            requirement.matches(field_value(obj, requirement.field))
            for requirement in self.requirements
        )

    def matches_values(self, values: Mapping[str, str]) -> bool:
        """Tell whether an object is selected, given its fields already flattened.

        ``values`` maps dotted paths to strings, as :func:`field_values` builds
        it; a path it lacks reads as the empty string.
        """
        return all(
            requirement.matches(values.get(requirement.field, ""))
            for requirement in self.requirements
        )

    def exact_value(self, field: str) -> str | None:
        """Return the value the selector requires ``field`` to equal, if any."""
        for requirement in self.requirements:
            if requirement.field == field and not requirement.negated:
                return requirement.value
        return None

    def __str__(self) -> str:
        return ",".join(str(requirement) for requirement in self.requirements)


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """Return the value a field selector sees at a dotted path of an object.

    Strings are themselves, booleans ``true``/``false``, numbers their decimal
    text; anything missing, null, an object or a list is the empty string.
    """
    node: Any = obj
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return ""
        node = node.get(part)
    if isinstance(node, str):
        return node
    if isinstance(node, bool):
        return "true" if node else "false"
    if isinstance(node, int | float):
        return str(node)
    return ""


def field_values(obj: Mapping[str, Any], paths: Collection[str]) -> dict[str, str]:
    """Return the values of the given dotted paths of an object, flattened."""
    return {path: field_value(obj, path) for path in paths}


def _split_terms(text: str) -> Iterator[str]:
    """Split on commas a backslash does not escape, keeping the escapes."""
    start = 0
    escaped = False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            yield text[start:index]
            start = index + 1
    yield text[start:]


def _split_term(term: str) -> tuple[str, str, str] | None:
    # NB: field names cannot be escaped, so the first operator wins, and "!="
    # and "==" are tried before "=" so no "=" is left on the value.
    for index in range(len(term)):
        for operator in ("!=", "==", "="):
            if term.startswith(operator, index):
                return term[:index], operator, term[index + len(operator) :]
    return None


def _unescape(value: str) -> str:
    result: list[str] = []
    escaped = False
    for char in value:
        if escaped:
            if char not in "\\,=":
                raise SelectorError(
                    f"invalid field selector: invalid escape sequence: \\{char}"
                )
            result.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in ",=":
            raise SelectorError(
                f"invalid field selector: unescaped character in value: {char}"
            )
        else:
            result.append(char)
    if escaped:
        raise SelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(result)


def _unsupported_field_message(field: str, supported: Collection[str]) -> str:
    if set(supported) <= set(FIELD_SELECTORS_ALWAYS):
        # NB: a resource without its own field label conversion answers with
        # apimachinery's default message, which lists the two it accepts.
        only = ", ".join(f'"{name}"' for name in FIELD_SELECTORS_ALWAYS)
        return f'"{field}" is not a known field selector: only {only}'
    return f"field label not supported: {field}"


def parse_field_selector(text: str, *, supported: Collection[str]) -> FieldSelector:
    """Parse a ``fieldSelector`` query parameter against the fields a resource has.

    ``supported`` lists the dotted paths the resource can be selected by (see
    :data:`POD_FIELD_SELECTORS`). Whitespace is not trimmed, as in
    kube-apiserver: ``"metadata.name = a"`` names the field ``"metadata.name "``.

    Raises :class:`SelectorError`, for example ``field label not supported:
    spec.foo`` or ``invalid selector: 'a'; can't understand 'a'``.
    """
    # First parse every term, in sorted order as apimachinery does, so the
    # first error reported is the one kube-apiserver would report.
    terms = sorted(term for term in _split_terms(text) if term)
    requirements: list[FieldRequirement] = []
    for term in terms:
        split = _split_term(term)
        if split is None:
            raise SelectorError(
                f"invalid selector: '{text}'; can't understand '{term}'"
            )
        field, operator, raw_value = split
        requirements.append(
            FieldRequirement(field, _unescape(raw_value), operator == "!=")
        )

    # Then check each field against what this resource can be selected by.
    allowed = frozenset(supported)
    for requirement in requirements:
        if requirement.field not in allowed:
            raise SelectorError(
                _unsupported_field_message(requirement.field, supported)
            )
    return FieldSelector(tuple(requirements))

"""Label selectors, parsed and matched as kube-apiserver does, and SelectorError.

A LIST or WATCH names the objects it wants with the ``labelSelector`` query
parameter (field selectors are in :mod:`harness.apiserver.fields`). This
module turns that text into a :class:`LabelSelector`, rejects what
kube-apiserver rejects with the same wording (the message becomes the body of
a ``400 Bad Request`` Status), and tells whether an object is selected.

The grammar is apimachinery's ``labels.Parse``: ``k=v``, ``k==v``, ``k!=v``,
``k in (a,b)``, ``k notin (a,b)``, ``k`` (exists), ``!k`` (does not exist),
and the numeric ``k>n`` / ``k<n``, joined by commas.
"""

from __future__ import annotations

import enum
import logging
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from types import MappingProxyType

logger = logging.getLogger(__name__)

LABEL_NAME_MAX_LENGTH = 63
"""The longest name part of a label key, and the longest label value."""

LABEL_PREFIX_MAX_LENGTH = 253
"""The longest DNS subdomain prefix of a label key."""

_NAME_FORMAT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_NAME_RE = re.compile(_NAME_FORMAT)
_VALUE_FORMAT = f"({_NAME_FORMAT})?"
_VALUE_RE = re.compile(_VALUE_FORMAT)
_DNS_LABEL_FORMAT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS_SUBDOMAIN_FORMAT = _DNS_LABEL_FORMAT + "(\\." + _DNS_LABEL_FORMAT + ")*"
_DNS_SUBDOMAIN_RE = re.compile(_DNS_SUBDOMAIN_FORMAT)

_NAME_MESSAGE = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start "
    "and end with an alphanumeric character"
)
_VALUE_MESSAGE = (
    "a valid label must be an empty string or consist of alphanumeric "
    "characters, '-', '_' or '.', and must start and end with an alphanumeric "
    "character"
)
_DNS_SUBDOMAIN_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
    "characters, '-' or '.', and must start and end with an alphanumeric character"
)

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


class SelectorError(ValueError):
    """SelectorError is a selector kube-apiserver would refuse with 400 Bad Request.

    Its message is the Status message: what was wrong and the offending text,
    in kube-apiserver's own wording.
    """


class Operator(enum.StrEnum):
    """Operator is how a label requirement relates its key to its values."""

    EQUALS = "="
    DOUBLE_EQUALS = "=="
    NOT_EQUALS = "!="
    IN = "in"
    NOT_IN = "notin"
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"
    GREATER_THAN = "gt"
    LESS_THAN = "lt"


# --- label key and value validation ------------------------------------------


def _regex_message(message: str, fmt: str, *examples: str) -> str:
    # NB: kube-apiserver's wording, double spaces before "or" included, so that a
    # client matching on the message sees what a real server would send.
    shown = "".join(
        f"{' or ' if i else ''}'{example}', " for i, example in enumerate(examples)
    )
    return f"{message} (e.g. {shown}regex used for validation is '{fmt}')"


_NAME_PROBLEM = _regex_message(
    _NAME_MESSAGE, _NAME_FORMAT, "MyName", "my.name", "123-abc"
)
_VALUE_PROBLEM = _regex_message(
    _VALUE_MESSAGE, _VALUE_FORMAT, "MyValue", "my_value", "12345"
)
_PREFIX_PROBLEM = _regex_message(
    _DNS_SUBDOMAIN_MESSAGE, _DNS_SUBDOMAIN_FORMAT, "example.com"
)


def _qualified_name_problems(key: str) -> list[str]:
    parts = key.split("/")
    if len(parts) > 2:
        return [
            f"a qualified name {_NAME_PROBLEM} with an optional DNS subdomain prefix"
            " and '/' (e.g. 'example.com/MyName')"
        ]

    problems = []
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            problems.append("prefix part must be non-empty")
        elif len(prefix) > LABEL_PREFIX_MAX_LENGTH:
            limit = LABEL_PREFIX_MAX_LENGTH
            problems.append(f"prefix part must be no more than {limit} characters")
        if prefix and not _DNS_SUBDOMAIN_RE.fullmatch(prefix):
            problems.append(f"prefix part {_PREFIX_PROBLEM}")

    name = parts[-1]
    if not name:
        problems.append("name part must be non-empty")
    elif len(name) > LABEL_NAME_MAX_LENGTH:
        limit = LABEL_NAME_MAX_LENGTH
        problems.append(f"name part must be no more than {limit} characters")
    if not _NAME_RE.fullmatch(name):
        problems.append(f"name part {_NAME_PROBLEM}")
    return problems


def _label_value_problems(value: str) -> list[str]:
    problems = []
    if len(value) > LABEL_NAME_MAX_LENGTH:
        problems.append(f"must be no more than {LABEL_NAME_MAX_LENGTH} characters")
    if not _VALUE_RE.fullmatch(value):
        problems.append(_VALUE_PROBLEM)
    return problems


def _quote(value: str) -> str:
    """Quote a string the way Go's %q does for the printable text selectors hold."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    escaped = escaped.replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")
    return f'"{escaped}"'


def _invalid_value(value: str, problems: list[str]) -> str:
    return f"Invalid value: {_quote(value)}: {'; '.join(problems)}"


def _invalid(path: str, value: str, problems: list[str]) -> str:
    return f"{path}: {_invalid_value(value, problems)}"


def label_problem(key: str, value: str) -> str | None:
    """Say what is wrong with one label of an object, as kube-apiserver does.

    None when the key is a qualified name and the value a valid label value.
    """
    key_problems = _qualified_name_problems(key)
    if key_problems:
        return _invalid_value(key, key_problems)
    value_problems = _label_value_problems(value)
    if value_problems:
        return _invalid_value(value, value_problems)
    return None


def annotation_key_problem(key: str) -> str | None:
    """Say what is wrong with an annotation's key, as kube-apiserver does.

    NB: kube-apiserver checks annotation keys as label keys once lowercased,
    and lets their values hold any text.
    """
    problems = _qualified_name_problems(key.lower())
    return _invalid_value(key, problems) if problems else None


def _parse_int64(text: str) -> int | None:
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        return None
    number = int(text)
    return number if _INT64_MIN <= number <= _INT64_MAX else None


# --- requirements and label selectors ----------------------------------------


@dataclass(frozen=True, slots=True)
class Requirement:
    """Requirement is one comma-separated term of a label selector.

    ``values`` are sorted and unique, as apimachinery keeps them; equality
    operators hold exactly one value, existence operators none.
    """

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Tell whether a set of labels satisfies this requirement."""
        op = self.operator
        if op is Operator.EXISTS:
            return self.key in labels
        if op is Operator.DOES_NOT_EXIST:
            return self.key not in labels

        value = labels.get(self.key)
        if op in (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.IN):
            return value is not None and value in self.values
        if op in (Operator.NOT_EQUALS, Operator.NOT_IN):
            return value is None or value not in self.values

        return value is not None and self._compares(value)

    def _compares(self, value: str) -> bool:
        # NB: Gt and Lt compare as 64-bit integers; a label that is not one
        # never matches, whichever way the comparison goes.
        actual = _parse_int64(value)
        bound = _parse_int64(self.values[0])
        if actual is None or bound is None:
            return False
        if self.operator is Operator.GREATER_THAN:
            return actual > bound
        return actual < bound

    def __str__(self) -> str:
        op = self.operator
        if op is Operator.EXISTS:
            return self.key
        if op is Operator.DOES_NOT_EXIST:
            return f"!{self.key}"
        joined = ",".join(self.values)
        if op in (Operator.IN, Operator.NOT_IN):
            return f"{self.key} {op.value} ({joined})"
        symbol = {Operator.GREATER_THAN: ">", Operator.LESS_THAN: "<"}.get(op, op.value)
        return f"{self.key}{symbol}{joined}"


def _new_requirement(
    key: str, operator: Operator, values: Collection[str]
) -> Requirement:
    """Build a requirement, checking it as apimachinery's NewRequirement does."""
    ordered = tuple(sorted(set(values)))
    errors = []

    key_problems = _qualified_name_problems(key)
    if key_problems:
        errors.append(_invalid("key", key, key_problems))

    if operator in (Operator.GREATER_THAN, Operator.LESS_THAN):
        for index, value in enumerate(ordered):
            if _parse_int64(value) is None:
                errors.append(
                    _invalid(
                        f"values[{index}]",
                        value,
                        ["for 'Gt', 'Lt' operators, the value must be an integer"],
                    )
                )

    for index, value in enumerate(ordered):
        value_problems = _label_value_problems(value)
        if value_problems:
            errors.append(_invalid(f"values[{index}][{key}]", value, value_problems))

    if len(errors) == 1:
        raise SelectorError(errors[0])
    if errors:
        raise SelectorError("[" + ", ".join(dict.fromkeys(errors)) + "]")
    return Requirement(key, operator, ordered)


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """LabelSelector is a conjunction of label requirements, sorted by key.

    The empty selector matches every object, labelled or not.
    """

    requirements: tuple[Requirement, ...] = ()

    @property
    def empty(self) -> bool:
        """Whether the selector leaves the selection unrestricted."""
        return not self.requirements

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        """Tell whether an object with these labels (``None``: none) is selected."""
        present: Mapping[str, str] = labels if labels is not None else {}
        return all(requirement.matches(present) for requirement in self.requirements)

    def exact_value(self, key: str) -> str | None:
        """Return the one value the selector requires for ``key``, if it pins one."""
        for requirement in self.requirements:
            if requirement.key != key:
                continue
            pinning = (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.IN)
            if requirement.operator in pinning and len(requirement.values) == 1:
                return requirement.values[0]
            return None
        return None

    def __str__(self) -> str:
        return ",".join(str(requirement) for requirement in self.requirements)


# Token kinds: "end", "identifier", a keyword ("in", "notin"), or the symbol itself.
_END, _ID = "end", "identifier"
_SYMBOLS = frozenset(("(", ")", ",", "!", "=", "==", "!=", ">", "<"))
_KEYWORDS = frozenset(("in", "notin"))
# Whitespace separates tokens; a run of symbols is cut into the longest tokens.
_TOKEN_RE = re.compile(r"==|!=|[=!(),><]|[^ \t\r\n=!(),><]+")
_OPERATORS = MappingProxyType(
    {
        "in": Operator.IN,
        "notin": Operator.NOT_IN,
        "=": Operator.EQUALS,
        "==": Operator.DOUBLE_EQUALS,
        "!=": Operator.NOT_EQUALS,
        ">": Operator.GREATER_THAN,
        "<": Operator.LESS_THAN,
    }
)
# NB: listed in apimachinery's order, which its error messages show.
_BINARY_OPERATORS = "in, notin, =, ==, !=, gt, lt"


def _tokens(text: str) -> list[tuple[str, str]]:
    """Split a label selector into (kind, literal) tokens, the last one "end"."""
    # NB: apimachinery's lexer reads a NUL byte as the end of the string.
    tokens = []
    for match in _TOKEN_RE.finditer(text.split("\0", 1)[0]):
        literal = match.group()
        kind = literal if literal in _SYMBOLS or literal in _KEYWORDS else _ID
        tokens.append((kind, literal))
    tokens.append((_END, ""))
    return tokens


class _LabelParser:
    """A recursive-descent parser over the tokens of one label selector."""

    def __init__(self, text: str) -> None:
        self._tokens = _tokens(text)
        self._position = 0

    def _peek(self, *, as_value: bool = True) -> tuple[str, str]:
        token, literal = self._tokens[self._position]
        # NB: "in" and "notin" are keywords only where an operator may stand;
        # elsewhere they are plain keys or values ("in in (in)" is valid).
        if as_value and token in _KEYWORDS:
            token = _ID
        return token, literal

    def _take(self, *, as_value: bool = True) -> tuple[str, str]:
        item = self._peek(as_value=as_value)
        self._position += 1
        return item

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            token, literal = self._peek()
            if token == _END:
                return requirements
            if token not in (_ID, "!"):
                raise SelectorError(
                    f"found '{literal}', expected: !, identifier, or 'end of string'"
                )

            try:
                requirements.append(self._requirement())
            except SelectorError as error:
                raise SelectorError(f"unable to parse requirement: {error}") from None

            token, literal = self._take()
            if token == _END:
                return requirements
            if token != ",":
                raise SelectorError(
                    f"found '{literal}', expected: ',' or 'end of string'"
                )
            token, literal = self._peek()
            if token not in (_ID, "!"):
                raise SelectorError(
                    f"found '{literal}', expected: identifier after ','"
                )

    def _requirement(self) -> Requirement:
        # First the key, with an optional "!" before it.
        negated = False
        token, literal = self._take()
        if token == "!":
            negated = True
            token, literal = self._take()
        if token != _ID:
            raise SelectorError(f"found '{literal}', expected: identifier")
        key = literal
        key_problems = _qualified_name_problems(key)
        if key_problems:
            raise SelectorError(_invalid("<nil>", key, key_problems))

        # Then the operator, inferred when the key stands alone.
        if negated:
            return _new_requirement(key, Operator.DOES_NOT_EXIST, ())
        if self._peek()[0] in (_END, ","):
            return _new_requirement(key, Operator.EXISTS, ())
        token, literal = self._take(as_value=False)
        operator = _OPERATORS.get(token)
        if operator is None:
            raise SelectorError(f"found '{literal}', expected: {_BINARY_OPERATORS}")

        # Finally the values: a parenthesised set or a single, possibly empty, one.
        if operator in (Operator.IN, Operator.NOT_IN):
            return _new_requirement(key, operator, self._value_set())
        return _new_requirement(key, operator, (self._exact_value(),))

    def _value_set(self) -> set[str]:
        token, literal = self._take()
        if token != "(":
            raise SelectorError(f"found '{literal}' expected: '('")

        token, literal = self._peek()
        if token == ")":
            self._take()
            return {""}
        if token not in (_ID, ","):
            raise SelectorError(f"found '{literal}', expected: ',', ')' or identifier")

        values = self._value_list()
        if self._take()[0] != ")":
            raise SelectorError(f"found '{literal}', expected: ')'")
        return values

    def _value_list(self) -> set[str]:
        # NB: empty entries are the empty value: "(,a)", "(a,)", "(a,,b)".
        values: set[str] = set()
        while True:
            token, literal = self._take()
            if token == _ID:
                values.add(literal)
                following, following_literal = self._peek()
                if following == ")":
                    return values
                if following != ",":
                    raise SelectorError(
                        f"found '{following_literal}', expected: ',' or ')'"
                    )
            elif token == ",":
                if not values:
                    values.add("")
                following = self._peek()[0]
                if following == ")":
                    values.add("")
                    return values
                if following == ",":
                    self._take()
                    values.add("")
            else:
                raise SelectorError(f"found '{literal}', expected: ',', or identifier")

    def _exact_value(self) -> str:
        if self._peek()[0] in (_END, ","):
            return ""
        token, literal = self._take()
        if token != _ID:
            raise SelectorError(f"found '{literal}', expected: identifier")
        return literal


def parse_label_selector(text: str) -> LabelSelector:
    """Parse a ``labelSelector`` query parameter; the empty string selects all.

    Raises :class:`SelectorError` with kube-apiserver's message for text it
    would refuse, for example ``unable to parse requirement: found 'b',
    expected: in, notin, =, ==, !=, gt, lt`` for ``"a b"``.
    """
    requirements = _LabelParser(text).parse()
    requirements.sort(key=lambda requirement: requirement.key)
    return LabelSelector(tuple(requirements))


def selector_from_label_dict(match_labels: Mapping[str, str]) -> LabelSelector:
    """Build the selector that requires every label of ``match_labels``.

    This is what a Deployment's ``spec.selector.matchLabels`` means. Keys and
    values are validated as in a parsed selector.
    """
    requirements = [
        _new_requirement(key, Operator.EQUALS, (value,))
        for key, value in sorted(match_labels.items())
    ]
    return LabelSelector(tuple(requirements))

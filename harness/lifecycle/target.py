"""Loading a controller named on the command line and telling its shape."""

from __future__ import annotations

import difflib
import enum
import hashlib
import importlib
import importlib.util
import inspect
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from harness.errors import ConfigurationError

logger = logging.getLogger(__name__)

MAX_SUGGESTED_NAMES = 6
"""How many existing names a "not found" error lists."""

SPEC_FORMS = "'package.module:name' or 'path/to/file.py:name'"

REQUIRED_METHODS = ("start", "stop")
"""What the object a factory returns must have."""

_EXIT_ON_IMPORT_HINT = (
    "keep the command-line entry point under 'if __name__ == \"__main__\":'"
)


class Shape(enum.Enum):
    """Shape is which of the three forms of the controller contract a target has."""

    FACTORY = "factory"
    """``f(ctx)`` returns an object with ``start()`` and ``stop()``."""

    GENERATOR = "generator"
    """``f(ctx)`` yields once: before the yield is start, after it is stop."""

    ASYNC = "async"
    """``async def f(ctx)`` returns once ``ctx.stop`` is set."""


@dataclass(frozen=True)
class Target:
    """Target is a loaded controller: the callable, its shape and its name."""

    spec: str
    function: Callable[..., Any]
    shape: Shape

    @property
    def name(self) -> str:
        """The name the user gave after the colon."""
        return self.spec.rpartition(":")[2]


def load_target(spec: str) -> Target:
    """Import the controller named by ``spec`` and detect its shape.

    ``spec`` is ``package.module:name`` or ``path/to/file.py:name``; ``name``
    may be dotted (``module:Class.create``). Raises
    :class:`ConfigurationError` with one line saying what was expected.
    """
    module_part, colon, name = spec.rpartition(":")
    if not colon or not module_part or not name:
        raise ConfigurationError(
            f"expected a controller target such as {SPEC_FORMS}, got {spec!r}"
        )

    module = _import(module_part, spec)
    function = _resolve(module, name, spec)
    shape = _shape_of(function, spec)
    logger.debug("Loaded controller %s as a %s.", spec, shape.value)
    return Target(spec=spec, function=function, shape=shape)


def check_started_object(obj: object, target: Target) -> None:
    """Check that what a factory returned has ``start()`` and ``stop()``.

    Raises :class:`ConfigurationError` naming the missing method.
    """
    missing = [m for m in REQUIRED_METHODS if not callable(getattr(obj, m, None))]
    if missing:
        raise ConfigurationError(
            f"expected {target.spec} to return an object with start() and stop(),"
            f" but the {type(obj).__qualname__} it returned has no "
            + " and no ".join(f"{m}()" for m in missing)
        )


def _import(module_part: str, spec: str) -> ModuleType:
    if module_part.endswith(".py") or "/" in module_part or "\\" in module_part:
        return _import_file(Path(module_part), spec)

    try:
        return importlib.import_module(module_part)
    except ImportError as exc:
        raise ConfigurationError(
            f"expected an importable module in {spec!r}, but importing"
            f" {module_part!r} failed: {exc}"
        ) from None
    except SystemExit as exc:
        raise ConfigurationError(
            f"module {module_part!r} of {spec!r} called sys.exit({exc.code!r})"
            f" while importing; {_EXIT_ON_IMPORT_HINT}"
        ) from None
    except Exception as exc:
        raise ConfigurationError(
            f"module {module_part!r} of {spec!r} raised while importing:"
            f" {type(exc).__name__}: {exc}"
        ) from None


def _import_file(path: Path, spec: str) -> ModuleType:
    if path.is_dir():
        raise ConfigurationError(
            f"expected a Python file in {spec!r}, but {str(path)!r} is a"
            " directory; name a .py file in it, such as"
            f" '{path / 'controller.py'}:{spec.rpartition(':')[2]}'"
        )
    if not path.is_file():
        raise ConfigurationError(
            f"expected a Python file in {spec!r}, but {str(path)!r} does not exist"
        )

    # NB: a module name unique to the absolute path, so that two targets named
    # "controller.py" in different folders do not replace each other in
    # sys.modules, while loading the same file twice reuses one module.
    resolved = path.resolve()
    digest = hashlib.sha1(str(resolved).encode(), usedforsecurity=False).hexdigest()
    module_name = f"leakhunt_target_{resolved.stem}_{digest[:10]}"
    if module_name in sys.modules:
        return sys.modules[module_name]

    module_spec = importlib.util.spec_from_file_location(module_name, resolved)
    if module_spec is None or module_spec.loader is None:
        raise ConfigurationError(
            f"expected a Python file in {spec!r}, but {str(path)!r} cannot be"
            " loaded as a module"
        )

    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module
    try:
        module_spec.loader.exec_module(module)
    except SystemExit as exc:
        del sys.modules[module_name]
        raise ConfigurationError(
            f"file {str(path)!r} of {spec!r} called sys.exit({exc.code!r})"
            f" while importing; {_EXIT_ON_IMPORT_HINT}"
        ) from None
    except Exception as exc:
        del sys.modules[module_name]
        raise ConfigurationError(
            f"file {str(path)!r} of {spec!r} raised while importing:"
            f" {type(exc).__name__}: {exc}"
        ) from None
    return module


def _resolve(module: ModuleType, name: str, spec: str) -> Any:
    obj: Any = module
    for part in name.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigurationError(
                f"expected {spec!r} to name something in {module.__name__!r},"
                f" but it has no {part!r}; it has {_suggest(obj, part)}"
            ) from None
    return obj


def _suggest(container: object, missing: str) -> str:
    public = sorted(n for n in dir(container) if not n.startswith("_"))
    callables = [n for n in public if callable(getattr(container, n, None))]
    close = difflib.get_close_matches(missing, callables, n=MAX_SUGGESTED_NAMES)
    names = close + [n for n in callables if n not in close]
    if not names:
        return "no public callables"

    shown = ", ".join(names[:MAX_SUGGESTED_NAMES])
    more = len(names) - MAX_SUGGESTED_NAMES
    return shown + (f" and {more} more" if more > 0 else "")


def _shape_of(obj: object, spec: str) -> Shape:
    if inspect.isasyncgenfunction(obj):
        raise ConfigurationError(
            f"expected {spec} to be a factory, a generator function or an async"
            " function, got an async generator function; make it"
            " 'async def run(ctx)' that returns once ctx.stop is set"
        )
    if inspect.isgeneratorfunction(obj):
        return Shape.GENERATOR
    if inspect.iscoroutinefunction(obj):
        return Shape.ASYNC
    if not callable(obj):
        raise ConfigurationError(
            f"expected {spec} to be callable (a factory, a generator function or"
            f" an async function), got a {type(obj).__qualname__}"
        )
    if inspect.isclass(obj):
        missing = [m for m in REQUIRED_METHODS if not callable(getattr(obj, m, None))]
        if missing:
            raise ConfigurationError(
                f"expected class {spec} to have start() and stop(), but it has no "
                + " and no ".join(f"{m}()" for m in missing)
            )
    return Shape.FACTORY

"""Loading targets named on the command line, and the one-line errors for bad ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import EXIT_USAGE, ConfigurationError
from harness.lifecycle.target import Shape, load_target


def _error(spec: str) -> str:
    with pytest.raises(ConfigurationError) as caught:
        load_target(spec)
    assert caught.value.exit_code == EXIT_USAGE
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("name", "shape"),
    [
        ("make_thread_controller", Shape.FACTORY),
        ("ThreadController", Shape.FACTORY),
        ("generator_controller", Shape.GENERATOR),
        ("async_controller", Shape.ASYNC),
    ],
)
def test_a_file_target_is_loaded_with_its_shape(
    samples: object, name: str, shape: Shape
) -> None:
    target = load_target(f"tests/harness/lifecycle/sample_controllers.py:{name}")

    assert target.shape is shape
    assert target.name == name
    assert target.function.__name__ == name


def test_a_module_target_is_imported_by_its_dotted_name() -> None:
    target = load_target("harness.lifecycle.child:main")

    assert target.shape is Shape.FACTORY
    assert target.function.__module__ == "harness.lifecycle.child"


def test_a_dotted_name_reaches_an_attribute_of_a_class(tmp_path: Path) -> None:
    path = tmp_path / "operator.py"
    path.write_text(
        "class Operator:\n"
        "    @staticmethod\n"
        "    async def run(ctx):\n"
        "        await ctx.stop.wait()\n"
    )

    assert load_target(f"{path}:Operator.run").shape is Shape.ASYNC


def test_loading_the_same_file_twice_reuses_one_module() -> None:
    spec = "tests/harness/lifecycle/sample_controllers.py:make_thread_controller"

    first, second = load_target(spec), load_target(spec)

    assert first.function is second.function


def test_a_target_without_a_colon_says_which_forms_are_accepted() -> None:
    message = _error("mycontroller.factory")

    assert "'package.module:name' or 'path/to/file.py:name'" in message
    assert "'mycontroller.factory'" in message


def test_a_module_that_does_not_import_shows_the_import_error() -> None:
    message = _error("no_such_package_for_leakhunt.controller:run")

    assert "No module named 'no_such_package_for_leakhunt'" in message


def test_a_missing_file_is_named() -> None:
    message = _error("controllers/missing.py:run")

    assert "'controllers/missing.py' does not exist" in message


def test_a_file_that_raises_on_import_shows_the_exception(tmp_path: Path) -> None:
    path = tmp_path / "broken.py"
    path.write_text("raise RuntimeError('no KUBECONFIG set')\n")

    message = _error(f"{path}:run")

    assert "RuntimeError: no KUBECONFIG set" in message


def test_a_name_not_found_lists_names_that_exist() -> None:
    message = _error("tests/harness/lifecycle/sample_controllers.py:make_thread_ctrl")

    assert "has no 'make_thread_ctrl'" in message
    assert message.index("make_thread_controller") < message.index(" and ")
    assert "more" in message


def test_something_not_callable_is_rejected_with_its_type() -> None:
    message = _error("tests/harness/lifecycle/sample_controllers.py:NOT_CALLABLE")

    assert "expected" in message
    assert "to be callable" in message
    assert "got a int" in message


def test_a_class_without_stop_says_that_stop_is_missing() -> None:
    message = _error("tests/harness/lifecycle/sample_controllers.py:MissingStop")

    assert "has no stop()" in message
    assert "start()" not in message.split("has no")[1]


def test_an_async_generator_is_rejected_with_the_shape_to_use() -> None:
    message = _error(
        "tests/harness/lifecycle/sample_controllers.py:async_generator_controller"
    )

    assert "async generator" in message
    assert "async def run(ctx)" in message


def test_a_target_that_exits_while_importing_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "script.py"
    path.write_text("import sys\nsys.exit(4)\ndef controller(ctx): pass\n")

    message = _error(f"{path}:controller")

    assert f"file '{path}'" in message
    assert "called sys.exit(4) while importing" in message
    assert "if __name__ ==" in message


def test_a_directory_named_as_a_file_is_called_a_directory(tmp_path: Path) -> None:
    message = _error(f"{tmp_path}:controller")

    assert f"'{tmp_path}' is a directory" in message
    assert f"'{tmp_path / 'controller.py'}:controller'" in message

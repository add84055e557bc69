"""``graflow.cli._loading``: the workflow spec and ``-p`` parameters every command that takes a workflow shares."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from graflow.cli._loading import (
    ParameterError,
    WorkflowLoadError,
    load_workflow,
    parse_parameters,
    resolve_spec,
    split_spec,
)
from graflow.exceptions import GraflowError


@pytest.fixture(autouse=True)
def _import_state_restored(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Loading a file puts its folder on sys.path and the module in sys.modules: undone after each test."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        del sys.modules[name]


def write(path: Path, source: str) -> Path:
    path.write_text(textwrap.dedent(source).lstrip())
    return path


def test_a_spec_splits_at_its_last_colon_before_an_identifier() -> None:
    assert split_spec("flows/etl.py:nightly") == ("flows/etl.py", "nightly")
    assert split_spec("pkg.mod:build") == ("pkg.mod", "build")
    assert split_spec("flows/etl.py") == ("flows/etl.py", None)
    assert split_spec(r"C:\flows\etl.py") == (r"C:\flows\etl.py", None)
    assert split_spec(r"C:\flows\etl.py:wf") == (r"C:\flows\etl.py", "wf")


def test_resolve_spec_makes_a_file_path_absolute_and_leaves_a_module_alone(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_spec("etl.py:wf") == f"{tmp_path / 'etl.py'}:wf"
    assert resolve_spec("pkg.mod:wf") == "pkg.mod:wf"


def test_the_file_is_loaded_under_its_own_name_and_its_main_block_does_not_run(tmp_path: Path) -> None:
    path = write(tmp_path / "cli_loading_guarded.py", """
        from graflow import task, workflow

        LOADED_AS = __name__
        with workflow("guarded") as wf:
            @task
            def only() -> int:
                return 1

        if __name__ == "__main__":
            raise SystemExit("the main block ran")
    """)
    wf = load_workflow(str(path))
    assert wf.name == "guarded"
    assert sys.modules["cli_loading_guarded"].LOADED_AS == "cli_loading_guarded"


def test_a_file_named_like_a_loaded_module_does_not_shadow_it(tmp_path: Path) -> None:
    write(tmp_path / "json.py", """
        from graflow import task, workflow

        with workflow("not the json module") as wf:
            @task
            def only() -> int:
                return 1
    """)
    import json

    wf = load_workflow(str(tmp_path / "json.py"))
    assert wf.name == "not the json module" and sys.modules["json"] is json


@pytest.mark.parametrize(("name", "problem"), [
    ("number", "'number' in {path} is neither a workflow nor a function returning one (int)"),
    ("needs_args", "factory needs_args() needs arguments (size); a factory must take none"),
    ("returns_other", "factory returns_other() returned a dict, not a workflow"),
    ("raises", "factory raises() failed: RuntimeError: no"),
])
def test_a_name_that_is_not_a_workflow_is_explained(tmp_path: Path, name: str, problem: str) -> None:
    path = write(tmp_path / f"cli_loading_{name}.py", """
        number = 3

        def needs_args(size):
            raise AssertionError("called")

        def returns_other():
            return {}

        def raises():
            raise RuntimeError("no")
    """)
    with pytest.raises(WorkflowLoadError) as raised:
        load_workflow(f"{path}:{name}")
    assert str(raised.value).startswith(problem.format(path=path))
    assert isinstance(raised.value, GraflowError)


def test_parameters_are_json_when_they_parse() -> None:
    assert parse_parameters(["n=3", "x=1.5", "s=text", "l=[1]", "d={\"a\": 1}", "b=false", "z=null", "e=",
                             "q=\"3\"", "u=a=b", " k =v"]) == {
        "n": 3, "x": 1.5, "s": "text", "l": [1], "d": {"a": 1}, "b": False, "z": None, "e": "", "q": "3",
        "u": "a=b", "k": "v"}
    assert parse_parameters(["n=1", "n=2"]) == {"n": 2}


@pytest.mark.parametrize(("item", "problem"), [
    ("novalue", "expected key=value"),
    ("=3", "the key is empty"),
    ("two words=3", "the key contains whitespace"),
])
def test_bad_parameters_are_named(item: str, problem: str) -> None:
    with pytest.raises(ParameterError) as raised:
        parse_parameters([item])
    assert str(raised.value) == f"bad parameter {item!r}: {problem}"

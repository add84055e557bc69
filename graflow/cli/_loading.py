"""Finding a workflow from a command-line spec, and parsing ``-p key=value`` parameters.

Shared by the commands that take a workflow (``graflow run``, ``graph``, ``validate`` ...). A spec is
``FILE[:NAME]`` or ``MODULE[:NAME]``:

- ``path/to/etl.py:nightly`` or ``package.module:nightly``: the attribute ``nightly``, a ``WorkflowContext`` or a
  factory function that takes no arguments and returns one. When no attribute has that name, the one workflow
  whose ``name`` it is.
- ``path/to/etl.py`` or ``package.module``: the single ``WorkflowContext`` at the module's top level.

A file is imported as a module named after it (``etl``), never as ``__main__``: code under
``if __name__ == "__main__":`` does not run, so a script that ends with a guarded ``wf.execute()`` is not run twice.
An unguarded ``wf.execute()`` at the top level of the file does run while it is loaded. The file's folder is put
first on ``sys.path`` as ``python path/to/etl.py`` would, and its functions are pickled by value (as those of a
``__main__`` script are), so checkpoints and Redis workers do not need to import the file.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import os
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

from graflow.core.workflow import WorkflowContext
from graflow.exceptions import GraflowError

__all__ = [
    "ParameterError",
    "WorkflowLoadError",
    "check_start",
    "load_workflow",
    "parse_parameters",
    "resolve_spec",
    "split_spec",
]


class WorkflowLoadError(GraflowError):
    """A workflow spec that names no loadable workflow; the message names the problem in one line."""

    def __init__(self, spec: str, problem: str) -> None:
        self.spec = spec
        self.problem = problem
        super().__init__(problem)


class ParameterError(GraflowError):
    """A ``-p`` parameter that is not ``key=value``."""

    def __init__(self, text: str, problem: str) -> None:
        self.text = text
        self.problem = problem
        super().__init__(f"bad parameter {text!r}: {problem}")


def split_spec(spec: str) -> tuple[str, str | None]:
    """Split ``FILE[:NAME]`` / ``MODULE[:NAME]`` into its target and attribute name (None when absent).

    A colon followed by something that is not a Python identifier is part of the path (``C:\\flows\\etl.py``).
    """
    target, sep, name = spec.rpartition(":")
    if sep and target and name.isidentifier():
        return target, name
    return spec, None


def _is_file_target(target: str) -> bool:
    return target.endswith(".py") or os.sep in target or "/" in target or Path(target).is_file()


def resolve_spec(spec: str) -> str:
    """The spec with a file path made absolute, so it loads again from any folder (recorded with runs)."""
    target, name = split_spec(spec)
    if _is_file_target(target):
        target = str(Path(target).expanduser().resolve())
    return f"{target}:{name}" if name else target


def load_workflow(spec: str) -> WorkflowContext:
    """Load the workflow a spec names.

    Args:
        spec: ``FILE[:NAME]`` or ``MODULE[:NAME]`` (see the module docstring).

    Returns:
        The workflow; a factory named by ``:NAME`` has been called.

    Raises:
        WorkflowLoadError: The file or module is missing or fails to import, it holds no workflow or several
            and no ``:NAME``, the name is unknown, or a factory does not return a workflow. The message is one line.
    """
    target, name = split_spec(spec)
    if not target:
        raise WorkflowLoadError(spec, "empty workflow spec; expected FILE[:WORKFLOW] or MODULE[:WORKFLOW]")
    module = _import_file(spec, target) if _is_file_target(target) else _import_module(spec, target)
    label = target if _is_file_target(target) else f"module {target}"
    if name is None:
        return _single_workflow(spec, module, label)
    return _named_workflow(spec, module, label, name)


def _import_file(spec: str, target: str) -> ModuleType:
    path = Path(target).expanduser()
    if not path.exists():
        raise WorkflowLoadError(spec, f"no such file: {target}")
    if path.is_dir():
        raise WorkflowLoadError(spec, f"{target} is a folder, not a Python file")
    path = path.resolve()
    module_name = path.stem if path.stem.isidentifier() else "_graflow_workflow"
    existing = sys.modules.get(module_name)
    if existing is not None and getattr(existing, "__file__", None) != str(path):
        module_name = f"_graflow_file_{module_name}"  # do not shadow a module of the same name
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    if module_spec is None or module_spec.loader is None:
        raise WorkflowLoadError(spec, f"{target} is not a Python file")
    module = importlib.util.module_from_spec(module_spec)
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    sys.modules[module_name] = module
    try:
        module_spec.loader.exec_module(module)
    except BaseException as exc:
        sys.modules.pop(module_name, None)
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise WorkflowLoadError(spec, f"{target} failed to load: {_describe(exc, str(path))}") from exc
    _pickle_by_value(module)
    return module


def _import_module(spec: str, target: str) -> ModuleType:
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # like python -m: modules of the current folder are found
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as exc:
        if exc.name and (target == exc.name or target.startswith(exc.name + ".")):
            raise WorkflowLoadError(spec, f"no such file or module: {target}") from exc
        raise WorkflowLoadError(spec, f"module {target} failed to load: {_describe(exc, None)}") from exc
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise WorkflowLoadError(spec, f"module {target} failed to load: {_describe(exc, None)}") from exc


def _describe(exc: BaseException, path: str | None) -> str:
    """``Type: message (file:line)`` with the innermost frame in the user's file (or any frame without one)."""
    if isinstance(exc, SyntaxError):
        return f"SyntaxError: {exc.msg} (line {exc.lineno})"
    where = ""
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if path is None or f.filename == path] or frames
    if mine:
        where = f" (line {mine[-1].lineno})" if path else f" ({mine[-1].filename}:{mine[-1].lineno})"
    if isinstance(exc, SystemExit):
        return f"it called sys.exit({exc.code!r}) while being imported{where}"
    message = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {message}{where}" if message else f"{type(exc).__name__}{where}"


def _pickle_by_value(module: ModuleType) -> None:
    try:
        import cloudpickle
    except ImportError:  # pragma: no cover - cloudpickle is a core dependency
        return
    try:
        cloudpickle.register_pickle_by_value(module)
    except ValueError:  # pragma: no cover - registered already
        pass


def _workflows_of(module: ModuleType) -> dict[str, WorkflowContext]:
    """Top-level workflows of the module by attribute name; an object bound to two names counts once."""
    found: dict[str, WorkflowContext] = {}
    seen: set[int] = set()
    for attr, value in vars(module).items():
        if isinstance(value, WorkflowContext) and not attr.startswith("_") and id(value) not in seen:
            seen.add(id(value))
            found[attr] = value
    return found


def _single_workflow(spec: str, module: ModuleType, label: str) -> WorkflowContext:
    found = _workflows_of(module)
    if len(found) == 1:
        return next(iter(found.values()))
    if not found:
        raise WorkflowLoadError(
            spec, f"{label} defines no workflow at its top level; name one, or a factory, with {spec}:NAME")
    names = ", ".join(sorted(found))
    raise WorkflowLoadError(spec, f"{label} defines {len(found)} workflows ({names}); choose one with {spec}:NAME")


def _named_workflow(spec: str, module: ModuleType, label: str, name: str) -> WorkflowContext:
    value = getattr(module, name, None)
    if value is None:
        by_name = [wf for wf in _workflows_of(module).values() if wf.name == name]
        if len(by_name) == 1:
            return by_name[0]
        candidates = ", ".join(sorted(_workflows_of(module))) or "none"
        raise WorkflowLoadError(spec, f"{label} has no workflow named {name!r} (workflows: {candidates})")
    if isinstance(value, WorkflowContext):
        return value
    if not callable(value):
        raise WorkflowLoadError(spec, f"{name!r} in {label} is neither a workflow nor a function returning one "
                                      f"({type(value).__name__})")
    _check_no_required_arguments(spec, value, name)
    try:
        made = value()
    except Exception as exc:
        raise WorkflowLoadError(spec, f"factory {name}() failed: {_describe(exc, None)}") from exc
    if not isinstance(made, WorkflowContext):
        raise WorkflowLoadError(spec, f"factory {name}() returned a {type(made).__name__}, not a workflow")
    return made


def _check_no_required_arguments(spec: str, factory: Any, name: str) -> None:
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return
    required = [p.name for p in signature.parameters.values()
                if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if required:
        raise WorkflowLoadError(
            spec, f"factory {name}() needs arguments ({', '.join(required)}); a factory must take none")


def check_start(wf: WorkflowContext, start: str | None) -> None:
    """Check that a run of ``wf`` can start: at task ``start``, or (None) at its one task without predecessors.

    Raises:
        WorkflowLoadError: No such task (the tasks are named), no tasks, or several start candidates (named).
    """
    spec = wf.name
    nodes = sorted(str(node) for node in wf.graph.nodes)
    if start is not None:
        if start not in wf.graph:
            raise WorkflowLoadError(spec, f"workflow {wf.name!r} has no task {start!r} "
                                          f"(tasks: {', '.join(nodes) or 'none'})")
        return
    if not nodes:
        raise WorkflowLoadError(spec, f"workflow {wf.name!r} has no tasks")
    candidates = sorted(str(node) for node in wf.graph.get_start_nodes())
    if len(candidates) != 1:
        listed = ", ".join(candidates) or "none: every task has a predecessor"
        raise WorkflowLoadError(spec, f"workflow {wf.name!r} has {len(candidates)} start candidates ({listed}); "
                                      f"pick one with --start TASK")


def parse_parameters(items: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Parse ``key=value`` strings into a dict; a later key wins.

    A value is parsed as JSON when it parses (``n=3`` is the int 3, ``flags=[1,2]`` a list, ``x=null`` None,
    ``name="3"`` the string ``"3"``); otherwise it is kept as the string it is (``day=2025-01-31``).

    Raises:
        ParameterError: An item without ``=`` or with an empty or non-identifier-like key.
    """
    parsed: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep:
            raise ParameterError(item, "expected key=value")
        if not key:
            raise ParameterError(item, "the key is empty")
        if any(ch.isspace() for ch in key):
            raise ParameterError(item, "the key contains whitespace")
        try:
            parsed[key] = json.loads(raw)
        except ValueError:
            parsed[key] = raw
    return parsed

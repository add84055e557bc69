"""The workflows a server may start, by name: their parameters (from the start task's signature) and their graph.

A run's parameters seed its channel (``wf.execute(day=...)``); keyword resolution hands them to the start task's
parameters of the same name (D11). So the parameters a workflow documents are the start task's: each with a JSON
type worked out from its annotation (``int`` is ``integer``, ``list[str]`` is ``array`` ...), whether it is required
(no default) and its default. :meth:`WorkflowCatalog.check_parameters` refuses a run that lacks a required
parameter or gives one a value of the wrong JSON type; other keys are accepted and seed the channel as they are.
"""

from __future__ import annotations

import collections.abc
import inspect
import json
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from graflow.api.errors import ApiError, not_found
from graflow.core.signature import llm_param
from graflow.core.start import resolve_start_node
from graflow.core.workflow import WorkflowContext
from graflow.exceptions import ConfigError, GraflowError

#: JSON types of Python annotations.
_JSON_TYPES: dict[Any, str] = {
    str: "string", int: "integer", float: "number", bool: "boolean", list: "array", tuple: "array", set: "array",
    frozenset: "array", dict: "object", collections.abc.Sequence: "array", collections.abc.Mapping: "object",
    collections.abc.MutableMapping: "object", collections.abc.Iterable: "array",
}  # fmt: skip
_CHECKS: dict[str, Any] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
    "any": lambda v: True,
}


@dataclass(frozen=True)
class Parameter:
    """One parameter of a workflow.

    Attributes:
        name: The parameter (and channel key).
        type: Its JSON type: ``string``, ``integer``, ``number``, ``boolean``, ``array``, ``object`` or ``any``.
        annotation: The Python annotation as written (None when there is none).
        required: Whether a run must give it (it has no default).
        nullable: Whether ``null`` is accepted (``Optional[...]``, ``X | None``).
        default: Its default (JSON, or the ``repr`` of a value JSON cannot hold); None when required.
        choices: The values a ``Literal[...]`` annotation allows (None for other annotations).
    """

    name: str
    type: str = "any"
    annotation: str | None = None
    required: bool = True
    nullable: bool = False
    default: Any = None
    choices: list[Any] | None = None


@dataclass
class RegisteredWorkflow:
    """A workflow the server may start.

    Attributes:
        name: Its name (``workflow(name)``), which the API uses.
        workflow: The workflow.
        spec: Where it was loaded from (``FILE:NAME`` or ``module:NAME``), None when registered as an object.
        start_node: Its start node (None when it has none, or several: it cannot be started then).
        parameters: The start task's parameters.
        problem: Why it cannot be started, when it cannot.
    """

    name: str
    workflow: WorkflowContext
    spec: str | None = None
    start_node: str | None = None
    parameters: list[Parameter] = field(default_factory=list)
    problem: str | None = None

    @classmethod
    def of(cls, workflow: WorkflowContext, spec: str | None = None) -> RegisteredWorkflow:
        """Describe ``workflow``."""
        try:
            start = resolve_start_node(workflow.graph)
        except GraflowError as exc:
            return cls(workflow.name, workflow, spec, problem=str(exc))
        return cls(workflow.name, workflow, spec, start, parameters_of(workflow.graph.get_node(start)))

    def graph(self) -> dict[str, Any]:
        """Its nodes and edges (see :func:`describe_graph`)."""
        return describe_graph(self.workflow.graph)


class WorkflowCatalog:
    """The registered workflows, by name.

    Args:
        workflows: ``(workflow, spec)`` pairs; ``spec`` may be None.

    Raises:
        ConfigError: Two workflows with one name.
    """

    def __init__(self, workflows: Iterable[tuple[WorkflowContext, str | None]] = ()) -> None:
        self._by_name: dict[str, RegisteredWorkflow] = {}
        for workflow, spec in workflows:
            self.add(workflow, spec)

    def add(self, workflow: WorkflowContext, spec: str | None = None) -> RegisteredWorkflow:
        """Register ``workflow`` under its name (see the class for errors)."""
        if workflow.name in self._by_name:
            raise ConfigError(f"Two workflows are named {workflow.name!r}; workflow names must be unique")
        registered = self._by_name[workflow.name] = RegisteredWorkflow.of(workflow, spec)
        return registered

    def __len__(self) -> int:
        return len(self._by_name)

    def names(self) -> list[str]:
        """The names, sorted."""
        return sorted(self._by_name)

    def all(self) -> list[RegisteredWorkflow]:
        """Every registered workflow, by name."""
        return [self._by_name[name] for name in self.names()]

    def find(self, name: str) -> RegisteredWorkflow | None:
        """The workflow called ``name``, or None."""
        return self._by_name.get(name)

    def get(self, name: str) -> RegisteredWorkflow:
        """The workflow called ``name``.

        Raises:
            ApiError: 404 when there is none.
        """
        found = self._by_name.get(name)
        if found is None:
            raise not_found(f"Workflow {name!r}")
        return found


def check_parameters(registered: RegisteredWorkflow, given: dict[str, Any]) -> None:
    """Refuse parameters a run of ``registered`` cannot start with.

    Raises:
        ApiError: 422 listing every missing required parameter and every value of the wrong JSON type; 409 when
            the workflow cannot be started at all (no single start node).
    """
    if registered.problem is not None:
        raise ApiError(409, f"Workflow {registered.name!r} cannot be started: {registered.problem}")
    problems = []
    for parameter in registered.parameters:
        if parameter.name not in given:
            if parameter.required:
                problems.append({"parameter": parameter.name, "problem": f"required ({parameter.type})"})
            continue
        value = given[parameter.name]
        if value is None and parameter.nullable:
            continue
        if not _CHECKS[parameter.type](value):
            problems.append({"parameter": parameter.name, "problem": f"expected {parameter.type}, got "
                             f"{_json_type(value)}"})
        elif parameter.choices is not None and value not in parameter.choices:
            problems.append({"parameter": parameter.name, "problem": f"expected one of {parameter.choices}"})
    if problems:
        raise ApiError(422, f"Parameters of workflow {registered.name!r} do not fit", detail=problems)


def parameters_of(task: Any) -> list[Parameter]:
    """The parameters keyword resolution fills in ``task`` (for a parallel group: in its members, first wins)."""
    if getattr(task, "is_parallel_group", False):
        seen: dict[str, Parameter] = {}
        for member in task.tasks:
            for parameter in parameters_of(member):
                seen.setdefault(parameter.name, parameter)
        return list(seen.values())
    func = getattr(task, "func", None)
    if func is None or not getattr(task, "resolve_keyword_args", True):
        return []
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return []
    try:
        hints = typing.get_type_hints(func)
    except Exception:  # annotations that do not evaluate: keep them as written
        hints = {}
    if getattr(task, "inject_context", False) and params and params[0].kind is not inspect.Parameter.KEYWORD_ONLY:
        params = params[1:]
    skip = set(getattr(task, "_bound_kwargs", None) or ())  # bound with t(x=1): not the run's to give
    if getattr(task, "inject_llm_client", False):
        skip.add(llm_param(params, "llm_client", "LLMClient", "llm"))
    if getattr(task, "inject_llm_agent", None):
        skip.add(llm_param(params, "llm_agent", "LLMAgent", "agent"))
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [_parameter(p, hints.get(p.name, p.annotation)) for p in params if p.kind in kinds and p.name not in skip]


def _parameter(param: inspect.Parameter, hint: Any) -> Parameter:
    json_type, nullable = json_type_of(hint)
    required = param.default is inspect.Parameter.empty
    return Parameter(
        name=param.name,
        type=json_type,
        annotation=None if param.annotation is inspect.Parameter.empty else _annotation_text(param.annotation),
        required=required,
        nullable=nullable or (not required and param.default is None),
        default=None if required else _jsonable(param.default),
        choices=_choices(hint),
    )


def _choices(hint: Any) -> list[Any] | None:
    """The values of a ``Literal[...]`` (inside ``Optional`` too), else None."""
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        return [_jsonable(value) for value in typing.get_args(hint)]
    if origin is typing.Union or origin is types.UnionType:
        for arg in typing.get_args(hint):
            found = _choices(arg)
            if found is not None:
                return found
    return None


def json_type_of(hint: Any) -> tuple[str, bool]:
    """The JSON type of an annotation and whether it admits None (``any`` when it cannot tell)."""
    if hint is inspect.Parameter.empty or hint is Any or isinstance(hint, str):
        return "any", False
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        args = typing.get_args(hint)
        nullable = type(None) in args
        kinds = {json_type_of(arg)[0] for arg in args if arg is not type(None)}
        if kinds == {"integer", "number"}:
            kinds = {"number"}
        return (kinds.pop() if len(kinds) == 1 else "any"), nullable
    if origin is typing.Literal:
        kinds = {_json_type(value) for value in typing.get_args(hint)}
        return (kinds.pop() if len(kinds) == 1 else "any"), False
    if origin is typing.Annotated:
        return json_type_of(typing.get_args(hint)[0])
    target = origin or hint
    if typing.is_typeddict(target):
        return "object", False
    return _JSON_TYPES.get(target, "any"), False


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    for name in ("boolean", "integer", "number", "string", "array", "object"):
        if _CHECKS[name](value):
            return name
    return type(value).__name__


def _annotation_text(annotation: Any) -> str:
    if isinstance(annotation, str):
        return annotation
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value, allow_nan=False)
        return value
    except (TypeError, ValueError):
        return repr(value)


def describe_graph(graph: Any, states: dict[str, Any] | None = None) -> dict[str, Any]:
    """The nodes and edges of a task graph, for drawing it.

    Args:
        graph: A ``TaskGraph``.
        states: Per node id, more fields to add to its node (a run's live states).

    Returns:
        ``{"nodes": [{"id", "name", "kind", "handler", "group", "members"}...], "edges": [{"source", "target"}...]}``:
        ``kind`` is ``task`` or ``parallel_group``; a group lists its ``members``, a member names its ``group``.
    """
    groups: dict[str, str] = {}
    nodes = []
    for node_id in list(graph.nodes):
        task = graph.get_node(node_id)
        is_group = bool(getattr(task, "is_parallel_group", False))
        members = [member.task_id for member in task.tasks] if is_group else None
        for member in members or ():
            groups[member] = node_id
        nodes.append({
            "id": node_id,
            "name": str(getattr(task, "name", node_id)) if not is_group else node_id,
            "kind": "parallel_group" if is_group else "task",
            "handler": getattr(task, "handler_type", None),
            "members": members,
        })  # fmt: skip
    for node in nodes:
        node["group"] = groups.get(node["id"])
        node.update((states or {}).get(node["id"], {}))
    edges = [{"source": str(source), "target": str(target)} for source, target in graph.get_edges()]
    return {"nodes": nodes, "edges": edges}


__all__ = [
    "Parameter",
    "RegisteredWorkflow",
    "WorkflowCatalog",
    "check_parameters",
    "describe_graph",
    "json_type_of",
    "parameters_of",
]

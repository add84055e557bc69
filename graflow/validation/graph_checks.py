"""Checks of a workflow's structure: start node, handlers, loops, output references, group policies, pickling.

Each check returns findings for what the engine would reject, or get stuck on, once the workflow runs.
"""

from __future__ import annotations

from typing import Any

import networkx as nx

from graflow.validation.annotations import result_shape
from graflow.validation.findings import Finding
from graflow.validation.view import WorkflowView

#: Candidates a start-node finding names before it says how many more there are.
SHOWN_CANDIDATES = 10


def check_start_node(view: WorkflowView, start: str | None = None) -> list[Finding]:
    """No start node, or several, when none is given (D4); an empty workflow."""
    if not view.tasks:
        return [view.finding("start_node", "the workflow has no tasks: there is nothing to run")]
    if start is not None:
        return []
    candidates = [str(c) for c in view.graph.get_start_nodes()]
    if len(candidates) == 1:
        return []
    if not candidates:
        first = next(iter(view.tasks))
        return [view.finding(
            "start_node",
            "no start node: every task has a predecessor (a loop with no way in); choose where to start with --start",
            first,
        )]
    shown = ", ".join(candidates[:SHOWN_CANDIDATES])
    if len(candidates) > SHOWN_CANDIDATES:
        shown += f" (+{len(candidates) - SHOWN_CANDIDATES} more)"
    return [view.finding(
        "start_node",
        f"ambiguous start node: {len(candidates)} tasks have no predecessor ({shown}); connect them, or choose one "
        "with --start" + _template_hint(view, candidates),
        candidates[0],
    )]


def _template_hint(view: WorkflowView, candidates: list[str]) -> str:
    """A task defined in the workflow block only to be bound (``t(task_id=..., x=...)``) is a task of its own."""
    templates = []
    for candidate in candidates:
        func = getattr(view.tasks[candidate], "func", None)
        if func is None or view.nx.degree(candidate):
            continue
        bound = [t for t, other in view.tasks.items() if t != candidate and getattr(other, "func", None) is func]
        if bound:
            templates.append(f"'{candidate}' (bound as {', '.join(bound[:3])})")
    if not templates:
        return ""
    return (f"; {', '.join(templates)} is only used through bound instances: define it outside the "
            "`with workflow(...)` block so that it is not a task of its own")


def check_handlers(view: WorkflowView) -> list[Finding]:
    """Tasks that name a handler the workflow does not register (the run would refuse to start, D15)."""
    from graflow.core import registry

    known = {"direct", *view.handlers}
    listed = ", ".join(["direct", *sorted(h for h in view.handlers if h != "direct")])
    findings = []
    for task_id, task in view.tasks.items():
        handler = getattr(task, "handler_type", None) or "direct"
        if handler not in known:
            hint = ""
            if registry.known("task_handler", handler):  # a built-in class: still needs an instance registered
                hint = f", e.g. an instance of {registry.BUILTIN['task_handler'].get(handler, handler)}"
            findings.append(view.finding(
                "handler",
                f"handler '{handler}' is not registered (registered: {listed}); register it with "
                f"wf.register_handler('{handler}', handler){hint}",
                task_id,
            ))
    return findings


def _can_leave_loop(task: Any) -> bool:
    """Whether a task can end a loop: it takes its context, so it can call next_iteration() or terminate."""
    if getattr(task, "inject_context", False):
        return True
    return getattr(task, "is_parallel_group", False) and any(_can_leave_loop(m) for m in task.tasks)


def check_cycles(view: WorkflowView, runs: set[str] | None = None) -> list[Finding]:
    """Loops of the static graph on which no task can stop the loop: they run until ``max_steps``.

    Args:
        view: The workflow.
        runs: The tasks the run reaches from its start (default: all); a loop it never reaches never runs.
    """
    graph = view.nx
    stuck = graph.subgraph([n for n, t in view.tasks.items()
                            if not _can_leave_loop(t) and (runs is None or n in runs)])
    order = {node: i for i, node in enumerate(view.tasks)}
    findings = []
    for component in nx.strongly_connected_components(stuck):
        first = min(component, key=order.__getitem__)
        if len(component) == 1 and not stuck.has_edge(first, first):
            continue
        edges = nx.find_cycle(stuck.subgraph(component), source=first)
        path = " -> ".join([str(u) for u, _ in edges] + [str(edges[-1][1])])
        findings.append(view.finding(
            "cycle",
            f"loop {path} never ends: no task on it takes inject_context=True, so none can call next_iteration() "
            "or terminate_workflow(); the run goes round until max_steps",
            str(first),
        ))
    return sorted(findings, key=lambda f: order.get(f.task or "", 0))


def check_output_references(view: WorkflowView) -> list[Finding]:
    """``x.outputs[...]`` bound to a task that ``x`` does not run before, or naming a key ``x`` never returns."""
    errors = view.graph.output_reference_errors()
    findings = []
    for task_id, task in view.tasks.items():
        refs = getattr(task, "_output_refs", ())
        if not refs:
            continue
        prefix = f"Task '{task_id}' "
        findings += [view.finding("output_reference", e[len(prefix):], task_id) for e in errors if e.startswith(prefix)]
        for ref in refs:
            producer = view.tasks.get(ref.task_id)
            if producer is None or not ref.path or not isinstance(ref.path[0], str):
                continue
            shape = result_shape(producer)
            if not shape.may_hold(ref.path[0]):
                keys = ", ".join(sorted(shape.keys or ())) or "none"
                findings.append(view.finding(
                    "output_reference",
                    f"takes {ref!r}, but '{ref.task_id}' returns {shape.described}, which has no key "
                    f"{ref.path[0]!r} (keys: {keys})",
                    task_id,
                ))
    return findings


def check_group_policies(view: WorkflowView) -> list[Finding]:
    """Parallel-group policies that fail the group whatever its members do."""
    from graflow.core.handlers.group_policy import resolve_group_policy

    findings = []
    for group_id, members in view.groups.items():
        config = getattr(view.tasks[group_id], "_execution_config", None) or {}
        policy = config.get("policy", "strict")
        try:
            resolved = resolve_group_policy(policy)
        except (ValueError, TypeError, KeyError) as exc:
            findings.append(view.finding("group_policy", f"its policy {policy!r} cannot be used: {exc}", group_id))
            continue
        names = ", ".join(members) or "none"
        min_success = getattr(resolved, "min_success", None)
        if isinstance(min_success, int) and min_success > len(members):
            findings.append(view.finding(
                "group_policy",
                f"policy {resolved.get_name()} needs {min_success} members to succeed, but the group has "
                f"{len(members)} ({names}): it always fails",
                group_id,
            ))
        critical = getattr(resolved, "critical_task_ids", None) or []
        unknown = [c for c in critical if c not in members]
        if unknown:
            findings.append(view.finding(
                "group_policy",
                f"policy critical names {', '.join(map(repr, unknown))}, not members of the group (members: {names}): "
                "the group fails when it finishes",
                group_id,
            ))
    return findings


def check_pickling(view: WorkflowView) -> list[Finding]:
    """Tasks and handlers that cannot be pickled, so cannot travel to a Redis worker."""
    import cloudpickle

    findings = []
    failed: set[str] = set()
    for task_id, task in view.tasks.items():
        if getattr(task, "is_parallel_group", False) and any(m.task_id in failed for m in task.tasks):
            continue  # its member is reported already
        problem = _pickle_problem(cloudpickle, task)
        if problem is not None:
            failed.add(task_id)
            findings.append(view.finding("pickle", f"cannot be pickled for a worker: {problem}", task_id))
    for name, handler in view.handlers.items():
        problem = _pickle_problem(cloudpickle, handler)
        if problem is not None:
            users = [t for t, task in view.tasks.items() if getattr(task, "handler_type", None) == name]
            findings.append(view.finding(
                "pickle", f"handler '{name}' cannot be pickled for the workers: {problem}", users[0] if users else None
            ))
    return findings


def _pickle_problem(cloudpickle: Any, value: Any) -> str | None:
    try:
        cloudpickle.dumps(value)
    except Exception as exc:
        text = str(exc).splitlines()[0] if str(exc) else ""
        return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return None


__all__ = [
    "check_cycles",
    "check_group_policies",
    "check_handlers",
    "check_output_references",
    "check_pickling",
    "check_start_node",
]

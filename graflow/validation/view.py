"""The workflow as the checks read it: its tasks, parallel groups, handlers and what runs before what."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import networkx as nx

from graflow.validation.findings import Finding, Location, task_location


@dataclass
class WorkflowView:
    """A read-only view of one workflow definition for the checks.

    Args:
        name: The workflow's name.
        graph: Its ``TaskGraph``.
        handlers: The task handlers registered on it, by name.
        fallback: Where findings point when a task has no Python source (the workflow's file).
    """

    name: str
    graph: Any
    handlers: dict[str, Any]
    fallback: Location
    _locations: dict[str, Location] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, workflow: Any, fallback: Location) -> WorkflowView:
        """The view of a ``WorkflowContext``."""
        return cls(str(workflow.name), workflow.graph, dict(workflow.handlers), fallback)

    # -- tasks --------------------------------------------------------------------------------------------------------
    @cached_property
    def nx(self) -> nx.DiGraph:
        """The graph as networkx (nodes in definition order, attribute ``task``)."""
        graph: nx.DiGraph = self.graph.nx_graph()
        return graph

    @cached_property
    def tasks(self) -> dict[str, Any]:
        """Every node's executable by id, in definition order (group members are nodes too)."""
        return {str(node): data.get("task") for node, data in self.nx.nodes(data=True)}

    def task_ids(self) -> Iterator[str]:
        """Node ids in definition order."""
        return iter(self.tasks)

    @cached_property
    def groups(self) -> dict[str, list[str]]:
        """Parallel groups: group id -> member ids."""
        return {
            node: [m.task_id for m in getattr(task, "tasks", ())]
            for node, task in self.tasks.items()
            if getattr(task, "is_parallel_group", False)
        }

    @cached_property
    def group_of(self) -> dict[str, str]:
        """Member id -> id of the (first) group it belongs to."""
        found: dict[str, str] = {}
        for group, members in self.groups.items():
            for member in members:
                found.setdefault(member, group)
        return found

    # -- order --------------------------------------------------------------------------------------------------------
    def ancestors(self, node: str) -> set[str]:
        """Tasks that have run, or may have, when ``node`` starts.

        Its graph ancestors; for a group member, also the ancestors of its group (members run after the tasks that
        trigger the group); and for every group among them, its members and what they chain inside their branches.
        """
        graph = self.nx
        if node not in graph:
            return set()
        found: set[str] = set(nx.ancestors(graph, node))
        pending, entered = [node, *found], set()
        while pending:  # inside a group's branch: what ran before the group ran before this task too
            group = self.group_of.get(pending.pop())
            if group is not None and group not in entered and group in graph:
                entered.add(group)  # the group itself is not: its result is stored after its members
                new = set(nx.ancestors(graph, group)) - found
                found |= new
                pending.extend(new)
        for group_id in [g for g in found if g in self.groups]:
            for member in self.groups[group_id]:
                if member in graph and member != node:
                    found.add(member)
                    found |= set(nx.descendants(graph, member)) - {node}
        return found

    def reachable(self, starts: list[str]) -> set[str]:
        """Tasks a run from ``starts`` can get to along the static graph (a group reaches its members)."""
        graph = self.nx
        found: set[str] = set()
        pending = [s for s in starts if s in graph]
        while pending:
            node = pending.pop()
            if node in found:
                continue
            found.add(node)
            pending.extend(str(n) for n in graph.successors(node))
            pending.extend(m for m in self.groups.get(node, ()) if m in graph)
        return found

    def triggers(self, node: str) -> list[str]:
        """Tasks whose completion queues ``node``: its direct predecessors; a group member's are its group's (D11)."""
        graph = self.nx
        preds = [str(p) for p in graph.predecessors(node)] if node in graph else []
        if not preds and node in self.group_of:
            group = self.group_of[node]
            preds = [str(p) for p in graph.predecessors(group)] if group in graph else []
        return preds

    # -- findings -----------------------------------------------------------------------------------------------------
    def location(self, task_id: str | None) -> Location:
        """Where ``task_id`` is defined (the workflow's file when unknown or None)."""
        if task_id is None:
            return self.fallback
        cached = self._locations.get(task_id)
        if cached is None:
            cached = self._locations[task_id] = task_location(self.tasks.get(task_id), self.fallback)
        return cached

    def finding(self, kind: str, message: str, task_id: str | None = None) -> Finding:
        """A finding about ``task_id`` (or the whole workflow when None), located at its definition."""
        return Finding(kind, message, self.location(task_id), task_id, self.name)


__all__ = ["WorkflowView"]

"""How the renderers see parallel groups.

A ``ParallelGroup`` is a node of the task graph whose members are ordinary nodes with no edges to or from the group
node; the group node carries the edges to the group's predecessors and successors. Each renderer turns that into a
picture of its own: the ASCII layout splits the group into a start and a join node, Mermaid and DOT draw a container.
This module holds the two graph views they need, so both follow the same rules.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

JOIN_PREFIX = "↣ "  # the join node of group "G" is labelled "↣ G"


def is_parallel_group(task: Any) -> bool:
    """Whether a node's task object is a parallel group (``is_parallel_group`` is literally ``True``)."""
    return task is not None and getattr(task, "is_parallel_group", False) is True


def node_task(graph: nx.DiGraph, node: Hashable) -> Any:
    """The task object stored on ``node`` (attribute ``task``), or None for a plain node."""
    return graph.nodes[node].get("task")


def group_member_ids(task: Any) -> list[Hashable]:
    """Ids of the members of a group task, in member order, without duplicates."""
    seen: set[Hashable] = set()
    ids: list[Hashable] = []
    for member in getattr(task, "tasks", None) or []:
        member_id = getattr(member, "task_id", member)
        if member_id not in seen:
            seen.add(member_id)
            ids.append(member_id)
    return ids


def _members_by_id(task: Any) -> dict[Hashable, Any]:
    return {getattr(m, "task_id", m): m for m in getattr(task, "tasks", None) or []}


def group_nodes(graph: nx.DiGraph) -> list[Hashable]:
    """The parallel-group nodes of ``graph``, in node order."""
    return [n for n, data in graph.nodes(data=True) if is_parallel_group(data.get("task"))]


# --------------------------------------------------------------------------------------------------------------------
# Start/join view (ASCII layout)
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class FlatGraph:
    """A graph with integer node ids, display labels and a flag for double (group) boxes.

    Integer ids keep the layout independent of the user's node keys: a task may well be called ``"↣ x"``.
    """

    labels: list[str] = field(default_factory=list)
    double: list[bool] = field(default_factory=list)
    edges: list[tuple[int, int]] = field(default_factory=list)

    def add(self, label: str, double: bool = False) -> int:
        """Add a node and return its id."""
        self.labels.append(label)
        self.double.append(double)
        return len(self.labels) - 1


def _label(node: Hashable) -> str:
    # A box is one line high; a newline in a task id would tear it apart.
    return str(node).replace("\r", " ").replace("\n", " ")


def expand_groups(graph: nx.DiGraph) -> FlatGraph:
    """Replace every group node by a start node ``G`` and a join node ``↣ G``.

    Edges: predecessors of G → start, start → each member, each member → join, join → successors of G. A member that
    is itself a group is entered at its start and left at its join. Members missing from the graph are added as plain
    nodes. Edges from a group node to its own members (some callers add them) are not drawn as join → member.
    """
    flat = FlatGraph()
    entry: dict[Hashable, int] = {}
    exit_: dict[Hashable, int] = {}
    groups: list[Hashable] = []
    for node, data in graph.nodes(data=True):
        if is_parallel_group(data.get("task")):
            groups.append(node)
            entry[node] = flat.add(_label(node), double=True)
            exit_[node] = flat.add(JOIN_PREFIX + _label(node), double=True)
        else:
            entry[node] = exit_[node] = flat.add(_label(node))
    own_members: dict[Hashable, set[Hashable]] = {}
    for group in groups:
        members = group_member_ids(graph.nodes[group]["task"])
        own_members[group] = set(members)
        for member in members:
            if member not in entry:
                entry[member] = exit_[member] = flat.add(_label(member))
            if member == group:
                continue
            flat.edges.append((entry[group], entry[member]))
            flat.edges.append((exit_[member], exit_[group]))
    for u, v in graph.edges():
        if u in own_members and v in own_members[u]:
            continue
        flat.edges.append((exit_[u], entry[v]))
    return flat


# --------------------------------------------------------------------------------------------------------------------
# Container view (Mermaid subgraphs, DOT clusters)
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class GroupBox:
    """One parallel group drawn as a container."""

    group_id: Hashable
    label: str
    tasks: list[Hashable]  # members first, then the tasks that run after them inside the branch
    successors: list[Hashable]  # the group's external successors


def container_view(graph: nx.DiGraph) -> tuple[nx.DiGraph, list[GroupBox]]:
    """A copy of ``graph`` prepared for container rendering, and the groups to draw.

    A group's container holds its members and every task reachable from a member, stopping at the group's external
    successors and at other groups (so ``a | (b >> c)`` puts ``c`` in the box beside ``b``). Edges entering a
    container task from outside are dropped (the group node's own edge stands for them), and so are edges from a
    container task to one of the group's external successors (the edge leaves from the container instead).
    """
    display = graph.copy()
    boxes: list[GroupBox] = []
    groups = set(group_nodes(graph))
    for group in group_nodes(graph):
        task = graph.nodes[group]["task"]
        members = group_member_ids(task)
        member_set = set(members)
        by_id = _members_by_id(task)
        for member in members:
            if member not in display:
                display.add_node(member, task=by_id.get(member))
        external = [s for s in graph.successors(group) if s not in member_set]
        inside = _branch_tasks(graph, members, stop=set(external) | groups)
        inside_set = set(inside)
        for t in inside:
            for pred in list(display.predecessors(t)):
                if pred not in inside_set:
                    display.remove_edge(pred, t)
            for succ in list(display.successors(t)):
                if succ in external:
                    display.remove_edge(t, succ)
        boxes.append(GroupBox(group, str(group), inside, external))
    return display, boxes


def _branch_tasks(graph: nx.DiGraph, members: Iterable[Hashable], stop: set[Hashable]) -> list[Hashable]:
    """Members in order, then the tasks reachable from them (depth first, graph order) up to ``stop``."""
    found: list[Hashable] = []
    seen: set[Hashable] = set()
    for member in members:
        if member in seen:
            continue
        seen.add(member)
        found.append(member)
    stack = [m for m in reversed(found) if m in graph]
    visited: set[Hashable] = set()
    while stack:
        node = stack.pop()
        if node in visited:
            continue
        visited.add(node)
        if node not in seen:
            seen.add(node)
            found.append(node)
        for succ in reversed(list(graph.successors(node))):
            if succ not in visited and succ not in stop:
                stack.append(succ)
    return found

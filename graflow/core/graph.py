"""``TaskGraph``: the directed graph of task nodes.

The engine works on a small built-in graph (``graflow.core.digraph``) so that importing Graflow and running a
workflow never pay for networkx; ``nx_graph()`` gives a real ``networkx.DiGraph`` for rendering and analysis.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import TYPE_CHECKING, Any

from graflow.core import registry
from graflow.core.digraph import (
    AdjacencyView,
    DiDegreeView,
    DiGraph,
    InDegreeView,
    InEdgeView,
    NodeView,
    OutDegreeView,
    OutEdgeView,
)
from graflow.exceptions import DuplicateTaskError

if TYPE_CHECKING:
    from graflow.core.task import Executable


class TaskGraph:
    """Nodes are task ids; each node stores its executable as attribute ``task``.

    The read API is networkx's (``nodes``, ``edges``, ``in_degree`` ... behave as on a ``networkx.DiGraph``), except
    where Graflow 0.2 defined its own: ``successors``/``predecessors`` return lists, ``has_node``/``get_node`` also
    find members of parallel groups. ``_graph`` is the underlying :class:`~graflow.core.digraph.DiGraph`.
    """

    def __init__(self) -> None:
        self._graph = DiGraph()
        self._version = 0
        self._nx_cache: tuple[tuple[int, int], Any] | None = None

    # -- building ---------------------------------------------------------------------------------------------------
    def add_node(self, task: Executable, task_id: str | None = None, skip_if_exists: bool = False) -> None:
        """Add ``task`` as node ``task_id`` (default ``task.task_id``).

        Raises:
            DuplicateTaskError: The id exists and ``skip_if_exists`` is false.
        """
        node_id = task_id or task.task_id
        if node_id in self._graph:
            if skip_if_exists:
                return
            raise DuplicateTaskError(node_id)
        self._graph.add_node(node_id, task=task)
        self._version += 1

    def add_edge(self, from_node: str, to_node: str, **attrs: Any) -> None:
        """Add the edge ``from_node -> to_node``."""
        self._graph.add_edge(from_node, to_node, **attrs)
        self._version += 1

    def remove_node(self, node_id: str) -> None:
        """Remove a node and its edges."""
        self._graph.remove_node(node_id)
        self._version += 1

    def rename_node(self, old_task_id: str, new_task_id: str) -> None:
        """Rename a node. Raises KeyError if the old id is missing, ValueError if the new id exists."""
        if old_task_id not in self._graph:
            raise KeyError(f"Node '{old_task_id}' not found in graph")
        if new_task_id in self._graph:
            raise ValueError(f"Node '{new_task_id}' already exists in graph")
        self._graph.relabel(old_task_id, new_task_id)
        self._version += 1

    def clear(self) -> None:
        """Remove every node and edge."""
        self._graph.clear()
        self._version += 1

    def copy(self) -> TaskGraph:
        """A structural copy (tasks are shared, not copied)."""
        clone = TaskGraph()
        clone._graph = self._graph.copy()
        clone._version = self._version
        return clone

    # -- reading ----------------------------------------------------------------------------------------------------
    def get_node(self, task_id: str) -> Executable:
        """The executable of ``task_id``, also searching inside parallel groups. Raises KeyError."""
        node = self._graph.nodes.get(task_id)
        if node is not None and "task" in node:
            task: Executable = node["task"]
            return task
        for _, data in self._graph.nodes(data=True):
            t = data.get("task")
            for member in getattr(t, "tasks", ()) if getattr(t, "is_parallel_group", False) else ():
                if member.task_id == task_id:
                    found: Executable = member
                    return found
        raise KeyError(f"Node '{task_id}' not found in graph")

    def has_node(self, task_id: str) -> bool:
        """Whether ``task_id`` is a node or a member of a parallel group."""
        if task_id in self._graph:
            return True
        try:
            self.get_node(task_id)
        except KeyError:
            return False
        return True

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._graph

    @property
    def digraph(self) -> DiGraph:
        """The graph the engine reads (live, not a copy)."""
        return self._graph

    @property
    def nodes(self) -> NodeView:
        """The nodes: iterate ids, ``nodes.keys()``, ``nodes[id]["task"]``, ``nodes(data=True)``, ``nodes.items()``."""
        return self._graph.nodes

    @property
    def edges(self) -> OutEdgeView:
        """The edges as ``(from, to)`` pairs; ``edges(data=True)``, ``edges(node)``, ``edges[u, v]``."""
        return self._graph.edges

    @property
    def in_edges(self) -> InEdgeView:
        """The edges read from the target side: ``in_edges(node)`` are the edges into ``node``."""
        return self._graph.in_edges

    out_edges = edges

    @property
    def in_degree(self) -> InDegreeView:
        """Incoming edge counts: ``in_degree(node)`` is an int, ``dict(in_degree())`` maps every node."""
        return self._graph.in_degree

    @property
    def out_degree(self) -> OutDegreeView:
        """Outgoing edge counts: ``out_degree(node)`` is an int, ``dict(out_degree())`` maps every node."""
        return self._graph.out_degree

    @property
    def degree(self) -> DiDegreeView:
        """In- plus out-degree, as ``in_degree``."""
        return self._graph.degree

    @property
    def adj(self) -> AdjacencyView:
        """``adj[u][v]`` is the attribute dict of the edge ``u -> v``."""
        return self._graph.adj

    succ = adj

    @property
    def pred(self) -> AdjacencyView:
        """``pred[v][u]`` is the attribute dict of the edge ``u -> v``."""
        return self._graph.pred

    def get_edges(self) -> list[tuple[str, str]]:
        """Every edge as a list of pairs."""
        return list(self._graph.edges)

    def successors(self, node: str) -> list[str]:
        """Direct successors of ``node``."""
        return list(self._graph.successors(node))

    def predecessors(self, node: str) -> list[str]:
        """Direct predecessors of ``node``."""
        return list(self._graph.predecessors(node))

    def neighbors(self, node: str) -> Iterator[str]:
        """Direct successors of ``node``, as an iterator (networkx's ``neighbors``)."""
        return self._graph.successors(node)

    def has_edge(self, from_node: str, to_node: str) -> bool:
        """Whether the edge ``from_node -> to_node`` exists."""
        return self._graph.has_edge(from_node, to_node)

    def number_of_nodes(self) -> int:
        """Node count (parallel-group members that are not nodes themselves are not counted)."""
        return self._graph.number_of_nodes()

    def number_of_edges(self, u: str | None = None, v: str | None = None) -> int:
        """Edge count, or 1/0 for whether ``u -> v`` exists."""
        return self._graph.number_of_edges(u, v)

    def handler_types(self) -> frozenset[str]:
        """Every handler name the nodes ask for (cached until the graph changes)."""
        key = (self._version, self._graph.version)
        cached: tuple[tuple[int, int], frozenset[str]] | None = getattr(self, "_handler_types", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        types = frozenset(getattr(d.get("task"), "handler_type", "direct") for _, d in self._graph.nodes(data=True))
        self._handler_types = (key, types)
        return types

    def output_reference_errors(self) -> list[str]:
        """One message per output reference whose task does not run before its user (cached until the graph
        changes); empty when every ``x.outputs[...]`` bound to a task names one of its ancestors."""
        key = (self._version, self._graph.version)
        cached: tuple[tuple[int, int], list[str]] | None = getattr(self, "_ref_errors", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        errors: list[str] = []
        for user, data in self._graph.nodes(data=True):
            for ref in getattr(data.get("task"), "_output_refs", ()):
                if ref.task_id not in self._graph._node:
                    errors.append(f"Task '{user}' takes {ref!r}, but '{ref.task_id}' is not a task of this workflow")
                elif ref.task_id not in self._ancestors(user):
                    errors.append(f"Task '{user}' takes {ref!r}, but '{ref.task_id}' is not upstream of "
                                  f"'{user}': connect them ({ref.task_id} >> ... >> {user})")
        self._ref_errors = (key, errors)
        return errors

    def _ancestors(self, node: str) -> set[str]:
        pred = self._graph._pred
        seen: set[str] = set()
        stack = list(pred[node])
        while stack:
            current = stack.pop()
            if current not in seen:
                seen.add(current)
                stack.extend(pred[current])
        return seen

    def group_members(self) -> set[str]:
        """Ids of every member of every parallel group."""
        members: set[str] = set()
        for _, data in self._graph.nodes(data=True):
            t = data.get("task")
            if getattr(t, "is_parallel_group", False):
                members.update(m.task_id for m in t.tasks)
        return members

    def get_start_nodes(self) -> list[str]:
        """D4: nodes without predecessors that are not members of a parallel group."""
        members = self.group_members()
        return [n for n, preds in self._graph._pred.items() if not preds and n not in members]

    def get_parallel_group_members(self, group_id: str) -> list[str]:
        """Member ids of the group ``group_id``."""
        t = self.get_node(group_id)
        if not getattr(t, "is_parallel_group", False):
            raise ValueError(f"Node '{group_id}' is not a parallel group")
        return [m.task_id for m in t.tasks]  # type: ignore[attr-defined]

    def detect_cycles(self) -> list[list[str]]:
        """Every simple cycle (empty when the graph is acyclic), each starting at its node defined first."""
        return [list(map(str, c)) for c in simple_cycles(self.nx_graph())]

    def nx_graph(self) -> Any:
        """The graph as a ``networkx.DiGraph`` (a snapshot, rebuilt after the graph changes; node attribute ``task``
        holds each executable). Edit the graph through ``TaskGraph`` methods, not through this object."""
        key = (self._version, self._graph.version)
        cached = self._nx_cache
        if cached is None or cached[0] != key:
            cached = (key, self._graph.to_networkx())
            self._nx_cache = cached
        return cached[1]

    def content_hash(self) -> str:
        """sha256 of the graph's structure: node ids, their task kinds and functions, and edges."""
        import hashlib

        h = hashlib.sha256()
        for node in sorted(self._graph.nodes):
            t = self._graph.nodes[node].get("task")
            func = getattr(t, "func", None)
            func_name = f"{getattr(func, '__module__', '')}.{getattr(func, '__qualname__', '')}" if func else ""
            is_group = getattr(t, "is_parallel_group", False)
            members = ",".join(m.task_id for m in getattr(t, "tasks", ())) if is_group else ""
            h.update(f"N|{node}|{type(t).__name__}|{func_name}|{members}\n".encode())
        for u, v in sorted(self._graph.edges):
            h.update(f"E|{u}|{v}\n".encode())
        return h.hexdigest()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_nx_cache", None)
        state.pop("_handler_types", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._nx_cache = None

    def __iter__(self) -> Iterator[str]:
        return iter(self._graph.nodes)

    def __len__(self) -> int:
        return self._graph.number_of_nodes()

    def __str__(self) -> str:
        return str(registry.resolve("render", "ascii")(self.nx_graph()))

    def __repr__(self) -> str:
        return f"TaskGraph(nodes={list(self._graph.nodes)}, edges={list(self._graph.edges)})"


def simple_cycles(graph: Any) -> list[list[Hashable]]:
    """The elementary cycles of a networkx ``graph`` in a stable order.

    networkx returns them in an order that depends on string hashing, so it changes from one process to the next.
    Here each cycle starts at its node defined first, and cycles are sorted by their nodes' definition order.
    """
    import networkx as nx

    index = {node: i for i, node in enumerate(graph.nodes())}
    cycles = []
    for cycle in nx.simple_cycles(graph):
        first = min(range(len(cycle)), key=lambda i: index[cycle[i]])
        cycles.append(cycle[first:] + cycle[:first])
    cycles.sort(key=lambda cycle: [index[node] for node in cycle])
    return cycles


__all__ = ["TaskGraph", "simple_cycles"]

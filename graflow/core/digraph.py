"""A small directed graph for the engine's hot path.

It keeps the same three dictionaries networkx keeps (``_node``, ``_succ``, ``_pred``), so code that reads them is
shared, but importing it costs nothing: networkx is imported only when a caller asks for a real
``networkx.DiGraph`` (rendering, cycle detection).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any


class NodeView:
    """Read-only view of the nodes: iterate ids, ``id in view``, ``view[id]`` for attributes, ``view(data=True)``."""

    __slots__ = ("_node",)

    def __init__(self, node: dict[str, dict[str, Any]]) -> None:
        self._node = node

    def __iter__(self) -> Iterator[str]:
        return iter(self._node)

    def __len__(self) -> int:
        return len(self._node)

    def __contains__(self, node: object) -> bool:
        return node in self._node

    def __getitem__(self, node: str) -> dict[str, Any]:
        return self._node[node]

    def get(self, node: str, default: Any = None) -> Any:
        """Attributes of ``node`` or ``default``."""
        return self._node.get(node, default)

    def __call__(self, data: bool = False) -> Any:
        return list(self._node.items()) if data else list(self._node)

    def __eq__(self, other: object) -> bool:
        return list(self) == list(other) if isinstance(other, (NodeView, list)) else NotImplemented

    def __repr__(self) -> str:
        return f"NodeView({tuple(self._node)})"


class EdgeView:
    """Read-only view of the edges: iterate ``(u, v)`` pairs, ``(u, v) in view``, ``view(data=True)``."""

    __slots__ = ("_succ",)

    def __init__(self, succ: dict[str, dict[str, dict[str, Any]]]) -> None:
        self._succ = succ

    def __iter__(self) -> Iterator[tuple[str, str]]:
        for u, targets in self._succ.items():
            for v in targets:
                yield (u, v)

    def __len__(self) -> int:
        return sum(len(t) for t in self._succ.values())

    def __contains__(self, edge: object) -> bool:
        if not isinstance(edge, tuple) or len(edge) != 2:
            return False
        u, v = edge
        return v in self._succ.get(u, ())

    def __call__(self, data: bool = False) -> Any:
        if data:
            return [(u, v, d) for u, t in self._succ.items() for v, d in t.items()]
        return list(self)

    def __repr__(self) -> str:
        return f"EdgeView({list(self)})"


class DiGraph:
    """Nodes with attribute dicts and directed edges with attribute dicts."""

    __slots__ = ("_node", "_pred", "_succ", "version")

    def __init__(self) -> None:
        self.version = 0  # bumped on every structural change (caches key on it)
        self._node: dict[str, dict[str, Any]] = {}
        self._succ: dict[str, dict[str, dict[str, Any]]] = {}
        self._pred: dict[str, dict[str, dict[str, Any]]] = {}

    def add_node(self, node: str, **attrs: Any) -> None:
        """Add ``node`` or update its attributes."""
        if node in self._node:
            self._node[node].update(attrs)
            return
        self._node[node] = attrs
        self._succ[node] = {}
        self._pred[node] = {}
        self.version += 1

    def add_edge(self, u: str, v: str, **attrs: Any) -> None:
        """Add ``u -> v`` (adding missing nodes)."""
        for n in (u, v):
            if n not in self._node:
                self.add_node(n)
        data = self._succ[u].get(v)
        if data is None:
            data = {}
            self._succ[u][v] = data
            self._pred[v][u] = data
            self.version += 1
        data.update(attrs)

    def remove_node(self, node: str) -> None:
        """Remove ``node`` and its edges. Raises KeyError when missing."""
        if node not in self._node:
            raise KeyError(f"Node '{node}' not found in graph")
        for v in self._succ.pop(node):
            del self._pred[v][node]
        for u in self._pred.pop(node):
            del self._succ[u][node]
        del self._node[node]
        self.version += 1

    def relabel(self, old: str, new: str) -> None:
        """Rename ``old`` to ``new`` keeping attributes and edges (order of nodes is kept)."""
        items = list(self._node.items())
        succ, pred = self._succ, self._pred
        out_edges = list(succ[old].items())
        in_edges = list(pred[old].items())
        self.remove_node(old)
        self._node = {}
        self._succ = {}
        self._pred = {}
        for n, attrs in items:
            name = new if n == old else n
            self._node[name] = attrs
            self._succ[name] = succ.get(n, {}) if n != old else {}
            self._pred[name] = pred.get(n, {}) if n != old else {}
        for v, d in out_edges:
            target = new if v == old else v
            self._succ[new][target] = d
            self._pred[target][new] = d
        for u, d in in_edges:
            if u == old:
                continue
            self._succ[u][new] = d
            self._pred[new][u] = d
        self.version += 1

    def clear(self) -> None:
        """Remove everything."""
        self.version += 1
        self._node.clear()
        self._succ.clear()
        self._pred.clear()

    def copy(self) -> DiGraph:
        """A structural copy; attribute dicts are copied one level deep."""
        clone = DiGraph()
        clone.version = self.version
        clone._node = {n: dict(a) for n, a in self._node.items()}
        clone._succ = {u: {} for u in self._node}
        clone._pred = {u: {} for u in self._node}
        for u, targets in self._succ.items():
            for v, d in targets.items():
                data = dict(d)
                clone._succ[u][v] = data
                clone._pred[v][u] = data
        return clone

    # -- reading ----------------------------------------------------------------------------------------------------
    @property
    def nodes(self) -> NodeView:
        """The nodes."""
        return NodeView(self._node)

    @property
    def edges(self) -> EdgeView:
        """The edges."""
        return EdgeView(self._succ)

    def __contains__(self, node: object) -> bool:
        return node in self._node

    def __iter__(self) -> Iterator[str]:
        return iter(self._node)

    def __len__(self) -> int:
        return len(self._node)

    def successors(self, node: str) -> Iterator[str]:
        """Direct successors."""
        return iter(self._succ[node])

    def predecessors(self, node: str) -> Iterator[str]:
        """Direct predecessors."""
        return iter(self._pred[node])

    def in_degree(self, node: str) -> int:
        """Number of incoming edges."""
        return len(self._pred[node])

    def out_degree(self, node: str) -> int:
        """Number of outgoing edges."""
        return len(self._succ[node])

    def number_of_nodes(self) -> int:
        """Node count."""
        return len(self._node)

    def number_of_edges(self) -> int:
        """Edge count."""
        return sum(len(t) for t in self._succ.values())

    def has_edge(self, u: str, v: str) -> bool:
        """Whether ``u -> v`` exists."""
        return v in self._succ.get(u, ())

    def ancestors(self, node: str) -> set[str]:
        """Every node with a path to ``node`` (``node`` itself only when it lies on a cycle)."""
        seen: set[str] = set()
        stack = list(self._pred.get(node, ()))
        while stack:
            n = stack.pop()
            if n in seen:
                continue
            seen.add(n)
            stack.extend(self._pred[n])
        return seen

    def to_networkx(self) -> Any:
        """A real ``networkx.DiGraph`` with the same nodes, edges and attributes (imports networkx)."""
        import networkx as nx

        graph = nx.DiGraph()
        graph.add_nodes_from(self._node.items())
        graph.add_edges_from((u, v, d) for u, t in self._succ.items() for v, d in t.items())
        return graph

    @classmethod
    def from_edges(cls, nodes: Iterable[str], edges: Iterable[tuple[str, str]]) -> DiGraph:
        """A graph with these nodes and edges."""
        graph = cls()
        for n in nodes:
            graph.add_node(n)
        for u, v in edges:
            graph.add_edge(u, v)
        return graph


__all__ = ["DiGraph", "EdgeView", "NodeView"]

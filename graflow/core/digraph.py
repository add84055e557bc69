"""A small directed graph for the engine's hot path, read like a ``networkx.DiGraph``.

It keeps the same three dictionaries networkx keeps (``_node``, ``_succ``, ``_pred``), so code that reads them is
shared, but importing it costs nothing: networkx is imported only when a caller asks for a real
``networkx.DiGraph`` (rendering, cycle detection).

In Graflow 0.2 ``TaskGraph._graph`` was a ``networkx.DiGraph`` and programs read it directly, so the read API is
networkx's: ``nodes``, ``edges``, ``in_edges``, ``degree``, ``in_degree``, ``out_degree``, ``adj``, ``succ`` and
``pred`` are live, read-only views (``graflow.core.digraph_views``) with networkx's iteration order, call
signatures and set/mapping behaviour. A missing node raises ``KeyError`` where networkx raises ``NetworkXError``.

The views never copy and the graph edits its dictionaries in place, so a view (or the engine's reference to a
dictionary) stays valid for the graph's lifetime.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from graflow.core.digraph_views import (
    Adjacency,
    AdjacencyView,
    AtlasView,
    DiDegreeView,
    EdgeView,
    InDegreeView,
    InEdgeView,
    NodeAttrs,
    NodeView,
    OutDegreeView,
    OutEdgeView,
)


def _rename_key(d: dict[str, Any], old: str, new: str) -> None:
    """Rename a key of ``d`` in place, keeping its position."""
    items = list(d.items())
    d.clear()
    d.update((new if k == old else k, v) for k, v in items)


class DiGraph:
    """Nodes with attribute dicts and directed edges with attribute dicts."""

    __slots__ = ("_node", "_pred", "_succ", "version")

    def __init__(self) -> None:
        self.version = 0  # bumped on every structural change (caches key on it)
        self._node: dict[str, NodeAttrs] = {}
        self._succ: Adjacency = {}
        self._pred: Adjacency = {}

    # -- building ---------------------------------------------------------------------------------------------------
    def add_node(self, node: str, **attrs: Any) -> None:
        """Add ``node`` or update its attributes."""
        if node in self._node:
            self._node[node].update(attrs)
            return
        self._node[node] = attrs
        self._succ[node] = {}
        self._pred[node] = {}
        self.version += 1

    def add_nodes_from(self, nodes: Iterable[Any], **attrs: Any) -> None:
        """Add nodes given as ids or ``(id, attrs)`` pairs; ``attrs`` apply to all of them."""
        for item in nodes:
            try:
                hash(item)
            except TypeError:  # an (id, attrs) pair: the dict makes it unhashable, as networkx tells them apart
                node, own = item
                self.add_node(node, **{**attrs, **own})
            else:
                self.add_node(item, **attrs)

    def add_edge(self, u: str, v: str, **attrs: Any) -> None:
        """Add ``u -> v`` (adding missing nodes) or update its attributes."""
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

    def add_edges_from(self, edges: Iterable[tuple[Any, ...]], **attrs: Any) -> None:
        """Add edges given as ``(u, v)`` or ``(u, v, attrs)``; ``attrs`` apply to all of them."""
        for edge in edges:
            u, v, *rest = edge
            self.add_edge(u, v, **{**attrs, **(rest[0] if rest else {})})

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

    def remove_edge(self, u: str, v: str) -> None:
        """Remove ``u -> v``. Raises KeyError when missing."""
        try:
            del self._succ[u][v]
            del self._pred[v][u]
        except KeyError:
            raise KeyError(f"The edge {u}-{v} is not in the graph") from None
        self.version += 1

    def relabel(self, old: str, new: str) -> None:
        """Rename ``old`` to ``new`` keeping attributes, edges and the order of nodes.

        The renamed node moves to the end of its neighbours' adjacency, as ``networkx.relabel_nodes`` moves it.
        """
        if old not in self._node:
            raise KeyError(f"Node '{old}' not found in graph")
        if new in self._node:
            if new == old:
                return
            raise ValueError(f"Node '{new}' already exists in graph")
        succ, pred = self._succ, self._pred
        for d in (self._node, succ, pred):
            _rename_key(d, old, new)
        for v in list(succ[new]):
            if v == old:
                _rename_key(succ[new], old, new)
                _rename_key(pred[new], old, new)
            else:
                pred[v][new] = pred[v].pop(old)
        for u in list(pred[new]):
            if u != new:
                succ[u][new] = succ[u].pop(old)
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

    # -- reading (networkx's read API) ------------------------------------------------------------------------------
    @property
    def nodes(self) -> NodeView:
        """The nodes (a live view)."""
        return NodeView(self._node)

    @property
    def edges(self) -> OutEdgeView:
        """The edges as ``(u, v)`` pairs (a live view); ``edges(nbunch, data=True)`` for data."""
        return OutEdgeView(self._succ)

    out_edges = edges

    @property
    def in_edges(self) -> InEdgeView:
        """The edges read from the predecessor side; ``in_edges(node)`` are the edges into ``node``."""
        return InEdgeView(self._pred)

    @property
    def degree(self) -> DiDegreeView:
        """In-degree plus out-degree: ``degree(node)``, ``dict(degree())``."""
        return DiDegreeView(self._succ, self._pred)

    @property
    def in_degree(self) -> InDegreeView:
        """Incoming edge counts: ``in_degree(node)``, ``dict(in_degree())``, ``in_degree(nbunch)``."""
        return InDegreeView(self._succ, self._pred)

    @property
    def out_degree(self) -> OutDegreeView:
        """Outgoing edge counts: ``out_degree(node)``, ``dict(out_degree())``, ``out_degree(nbunch)``."""
        return OutDegreeView(self._succ, self._pred)

    @property
    def adj(self) -> AdjacencyView:
        """``adj[u][v]`` is the attribute dict of ``u -> v`` (same as ``succ``)."""
        return AdjacencyView(self._succ)

    succ = adj

    @property
    def pred(self) -> AdjacencyView:
        """``pred[v][u]`` is the attribute dict of ``u -> v``."""
        return AdjacencyView(self._pred)

    def __getitem__(self, node: str) -> AtlasView:
        return AtlasView(self._succ[node])

    def __contains__(self, node: object) -> bool:
        try:
            return node in self._node
        except TypeError:
            return False

    def __iter__(self) -> Iterator[str]:
        return iter(self._node)

    def __len__(self) -> int:
        return len(self._node)

    def has_node(self, node: object) -> bool:
        """Whether ``node`` is a node (False for unhashable values)."""
        return node in self

    def successors(self, node: str) -> Iterator[str]:
        """Direct successors. Raises KeyError when ``node`` is missing."""
        try:
            return iter(self._succ[node])
        except KeyError:
            raise KeyError(f"The node {node} is not in the digraph.") from None

    neighbors = successors

    def predecessors(self, node: str) -> Iterator[str]:
        """Direct predecessors. Raises KeyError when ``node`` is missing."""
        try:
            return iter(self._pred[node])
        except KeyError:
            raise KeyError(f"The node {node} is not in the digraph.") from None

    def has_edge(self, u: str, v: str) -> bool:
        """Whether ``u -> v`` exists."""
        try:
            return v in self._succ[u]
        except (KeyError, TypeError):
            return False

    has_successor = has_edge

    def has_predecessor(self, u: str, v: str) -> bool:
        """Whether ``v -> u`` exists."""
        try:
            return v in self._pred[u]
        except (KeyError, TypeError):
            return False

    def number_of_nodes(self) -> int:
        """Node count."""
        return len(self._node)

    order = number_of_nodes

    def number_of_edges(self, u: str | None = None, v: str | None = None) -> int:
        """Edge count, or 1/0 for whether ``u -> v`` exists."""
        if u is None:
            return sum(len(t) for t in self._succ.values())
        return 1 if v in self._succ[u] else 0

    def size(self, weight: str | None = None) -> Any:
        """Edge count, or the sum of the ``weight`` attribute (missing counts 1)."""
        if weight is None:
            return self.number_of_edges()
        return sum(d.get(weight, 1) for nbrs in self._succ.values() for d in nbrs.values())

    def is_directed(self) -> bool:
        """Always True."""
        return True

    def is_multigraph(self) -> bool:
        """Always False."""
        return False

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

    def __str__(self) -> str:
        return f"{type(self).__name__} with {len(self._node)} nodes and {self.number_of_edges()} edges"


__all__ = [
    "AdjacencyView",
    "AtlasView",
    "DiDegreeView",
    "DiGraph",
    "EdgeView",
    "InDegreeView",
    "InEdgeView",
    "NodeView",
    "OutDegreeView",
    "OutEdgeView",
]

"""Live, read-only views of a :class:`graflow.core.digraph.DiGraph`, with networkx's semantics.

Each view mirrors the networkx view of the same name (``networkx.classes.reportviews`` and ``coreviews``):
iteration order, call signatures (``view(nbunch, data=..., default=...)``), mapping and set behaviour, ``str`` and
``repr``. A view holds the graph's dictionaries, never a copy, so it reflects later changes. Where networkx raises
``NetworkXError`` (a missing node in ``nbunch``, slicing) these raise ``KeyError`` or ``TypeError``, because
networkx is not imported.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from typing import Any, ClassVar

NodeAttrs = dict[str, Any]
Adjacency = dict[str, dict[str, dict[str, Any]]]
Edge = tuple[str, str]


def nbunch_iter(adj: Mapping[str, Any], nbunch: Any = None) -> Iterator[str]:
    """The nodes of ``nbunch`` that are in the graph, as networkx's ``Graph.nbunch_iter`` yields them.

    Args:
        adj: The graph's node-keyed dictionary.
        nbunch: None (every node), a single node, or an iterable of nodes (missing ones are skipped).

    Raises:
        KeyError: ``nbunch`` is neither a node nor an iterable of hashable nodes.
    """
    if nbunch is None:
        return iter(adj)
    try:
        if nbunch in adj:
            return iter([nbunch])
    except TypeError:
        pass
    return _bunch(adj, nbunch)


def _bunch(adj: Mapping[str, Any], nbunch: Any) -> Iterator[str]:
    try:
        for n in nbunch:
            if n in adj:
                yield n
    except TypeError as err:
        raise KeyError(f"nbunch {nbunch!r} is not a node or a sequence of nodes in the graph") from err


def _no_slicing(view: object, key: object) -> None:
    if isinstance(key, slice):
        raise TypeError(f"{type(view).__name__} does not support slicing, try list(view)[{key.start}:{key.stop}]")


class NodeView(Mapping[str, NodeAttrs], AbstractSet[str]):
    """The nodes: iterate ids, ``id in view``, ``view[id]`` for attributes, ``items()``, ``view(data=True)``."""

    __slots__ = ("_nodes",)

    def __init__(self, nodes: dict[str, NodeAttrs]) -> None:
        self._nodes = nodes

    def __iter__(self) -> Iterator[str]:
        return iter(self._nodes)

    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, node: object) -> bool:
        return node in self._nodes

    def __getitem__(self, node: str) -> NodeAttrs:
        _no_slicing(self, node)
        return self._nodes[node]

    def get(self, node: str, default: Any = None) -> Any:
        """Attributes of ``node`` or ``default``."""
        return self._nodes.get(node, default)

    @classmethod
    def _from_iterable(cls, it: Iterable[Any]) -> set[Any]:
        return set(it)

    def __call__(self, data: Any = False, default: Any = None) -> Any:
        """``self`` without data, else a :class:`NodeDataView` (``data=True`` or an attribute name)."""
        return self if data is False else NodeDataView(self._nodes, data, default)

    def data(self, data: Any = True, default: Any = None) -> Any:
        """``(node, attributes)`` pairs, or ``(node, attributes.get(data, default))`` for an attribute name."""
        return self if data is False else NodeDataView(self._nodes, data, default)

    def __str__(self) -> str:
        return str(list(self))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({tuple(self)})"


class NodeDataView(AbstractSet[Any]):
    """Nodes with their data: ``(node, attrs)`` or ``(node, attrs.get(name, default))`` pairs."""

    __slots__ = ("_data", "_default", "_nodes")

    def __init__(self, nodes: dict[str, NodeAttrs], data: Any = False, default: Any = None) -> None:
        self._nodes = nodes
        self._data = data
        self._default = default

    @classmethod
    def _from_iterable(cls, it: Iterable[Any]) -> set[Any]:
        return set(it)

    def __len__(self) -> int:
        return len(self._nodes)

    def __iter__(self) -> Iterator[Any]:
        data, default = self._data, self._default
        if data is False:
            return iter(self._nodes)
        if data is True:
            return iter(self._nodes.items())
        return ((n, d.get(data, default)) for n, d in self._nodes.items())

    def __contains__(self, item: object) -> bool:
        try:
            if item in self._nodes:
                return True
        except TypeError:
            pass
        pair: Any = item
        try:
            n, d = pair
        except (TypeError, ValueError):
            return False
        return bool(n in self._nodes and self[n] == d)

    def __getitem__(self, node: str) -> Any:
        _no_slicing(self, node)
        attrs = self._nodes[node]
        data = self._data
        if data is False or data is True:
            return attrs
        return attrs.get(data, self._default)

    def __str__(self) -> str:
        return str(list(self))

    def __repr__(self) -> str:
        name = type(self).__name__
        if self._data is False:
            return f"{name}({tuple(self)})"
        if self._data is True:
            return f"{name}({dict(self)})"
        return f"{name}({dict(self)}, data={self._data!r})"


class OutEdgeDataView:
    """Edges, optionally restricted to ``nbunch``, as ``(u, v)``, ``(u, v, attrs)`` or ``(u, v, value)``."""

    __slots__ = ("_adj", "_data", "_default", "_nbunch")

    def __init__(self, adj: Adjacency, nbunch: Any = None, data: Any = False, *, default: Any = None) -> None:
        self._adj = adj
        self._nbunch = None if nbunch is None else dict.fromkeys(nbunch_iter(adj, nbunch))
        self._data = data
        self._default = default

    def _pairs(self) -> Iterable[tuple[str, dict[str, dict[str, Any]]]]:
        adj = self._adj
        return adj.items() if self._nbunch is None else [(n, adj[n]) for n in self._nbunch]

    def _report(self, u: str, v: str, attrs: dict[str, Any]) -> tuple[Any, ...]:
        data = self._data
        if data is False:
            return (u, v)
        if data is True:
            return (u, v, attrs)
        return (u, v, attrs.get(data, self._default))

    def __len__(self) -> int:
        return sum(len(nbrs) for _, nbrs in self._pairs())

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return (self._report(n, nbr, d) for n, nbrs in self._pairs() for nbr, d in nbrs.items())

    def __contains__(self, edge: Any) -> bool:
        u, v = edge[:2]
        if self._nbunch is not None and u not in self._nbunch:
            return False
        try:
            attrs = self._adj[u][v]
        except KeyError:
            return False
        return bool(edge == self._report(u, v, attrs))

    def __str__(self) -> str:
        return str(list(self))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list(self)})"


class InEdgeDataView(OutEdgeDataView):
    """Incoming edges of ``nbunch`` (reads the predecessor dictionary), reported as ``(u, v, ...)``."""

    __slots__ = ()

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return (self._report(nbr, n, d) for n, nbrs in self._pairs() for nbr, d in nbrs.items())

    def __contains__(self, edge: Any) -> bool:
        u, v = edge[:2]
        if self._nbunch is not None and v not in self._nbunch:
            return False
        try:
            attrs = self._adj[v][u]
        except KeyError:
            return False
        return bool(edge == self._report(u, v, attrs))


class OutEdgeView(AbstractSet[Edge], Mapping[Edge, dict[str, Any]]):
    """The edges: iterate ``(u, v)``, ``(u, v) in view``, ``view[u, v]`` for attributes, ``view(nbunch, data)``."""

    __slots__ = ("_adj",)
    dataview: ClassVar[type[OutEdgeDataView]] = OutEdgeDataView

    def __init__(self, adj: Adjacency) -> None:
        self._adj = adj

    @classmethod
    def _from_iterable(cls, it: Iterable[Any]) -> set[Any]:
        return set(it)

    def __len__(self) -> int:
        return sum(len(nbrs) for nbrs in self._adj.values())

    def __iter__(self) -> Iterator[Edge]:
        for n, nbrs in self._adj.items():
            for nbr in nbrs:
                yield (n, nbr)

    def __contains__(self, edge: object) -> bool:
        pair: Any = edge
        try:
            u, v = pair
            return v in self._adj[u]
        except KeyError:
            return False

    def __getitem__(self, edge: Edge) -> dict[str, Any]:
        _no_slicing(self, edge)
        u, v = edge
        try:
            return self._adj[u][v]
        except KeyError:
            raise KeyError(f"The edge {edge} is not in the graph.") from None

    def __call__(self, nbunch: Any = None, data: Any = False, *, default: Any = None) -> Any:
        """``self``, or a data view restricted to ``nbunch`` and reporting ``data`` (True or an attribute name)."""
        if nbunch is None and data is False:
            return self
        return self.dataview(self._adj, nbunch, data, default=default)

    def data(self, data: Any = True, default: Any = None, nbunch: Any = None) -> Any:
        """Edges with their attributes (``data=True``) or one attribute (``data="name"``)."""
        if nbunch is None and data is False:
            return self
        return self.dataview(self._adj, nbunch, data, default=default)

    def __str__(self) -> str:
        return str(list(self))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list(self)})"


class InEdgeView(OutEdgeView):
    """Incoming edges, read from the predecessor dictionary: ``g.in_edges(node)``."""

    __slots__ = ()
    dataview = InEdgeDataView

    def __iter__(self) -> Iterator[Edge]:
        for n, nbrs in self._adj.items():
            for nbr in nbrs:
                yield (nbr, n)

    def __contains__(self, edge: object) -> bool:
        pair: Any = edge
        try:
            u, v = pair
            return u in self._adj[v]
        except KeyError:
            return False

    def __getitem__(self, edge: Edge) -> dict[str, Any]:
        _no_slicing(self, edge)
        u, v = edge
        return self._adj[v][u]


EdgeView = OutEdgeView


class DiDegreeView:
    """Degrees: ``view(node)`` or ``view[node]`` is an int; iterating (or ``view(nbunch)``) gives ``(node, degree)``.

    ``weight`` names an edge attribute to sum instead of counting edges (missing attributes count 1).
    """

    __slots__ = ("_nodes", "_pred", "_succ", "_weight")

    def __init__(self, succ: Adjacency, pred: Adjacency, nbunch: Any = None, weight: str | None = None) -> None:
        self._succ = succ
        self._pred = pred
        self._nodes: dict[str, Any] | list[str] = succ if nbunch is None else list(nbunch_iter(succ, nbunch))
        self._weight = weight

    def __call__(self, nbunch: Any = None, weight: str | None = None) -> Any:
        if nbunch is None:
            return self if weight == self._weight else type(self)(self._succ, self._pred, None, weight)
        try:
            if nbunch in self._succ:
                if weight == self._weight:
                    return self[nbunch]
                return type(self)(self._succ, self._pred, None, weight)[nbunch]
        except TypeError:
            pass
        return type(self)(self._succ, self._pred, nbunch, weight)

    def _count(self, nbrs: dict[str, dict[str, Any]]) -> Any:
        weight = self._weight
        return len(nbrs) if weight is None else sum(d.get(weight, 1) for d in nbrs.values())

    def __getitem__(self, node: str) -> Any:
        return self._count(self._succ[node]) + self._count(self._pred[node])

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        for n in self._nodes:
            yield (n, self[n])

    def __len__(self) -> int:
        return len(self._nodes)

    def __str__(self) -> str:
        return str(list(self))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict(self)})"


class InDegreeView(DiDegreeView):
    """Number (or weight) of incoming edges."""

    __slots__ = ()

    def __getitem__(self, node: str) -> Any:
        return self._count(self._pred[node])


class OutDegreeView(DiDegreeView):
    """Number (or weight) of outgoing edges."""

    __slots__ = ()

    def __getitem__(self, node: str) -> Any:
        return self._count(self._succ[node])


class AtlasView(Mapping[str, Any]):
    """A read-only view of one node's neighbours: ``view[nbr]`` is the edge's attribute dict."""

    __slots__ = ("_atlas",)

    def __init__(self, atlas: Mapping[str, Any]) -> None:
        self._atlas = atlas

    def __len__(self) -> int:
        return len(self._atlas)

    def __iter__(self) -> Iterator[str]:
        return iter(self._atlas)

    def __getitem__(self, key: str) -> Any:
        return self._atlas[key]

    def copy(self) -> dict[str, Any]:
        """A plain dict with copies of the attribute dicts."""
        return {n: self[n].copy() for n in self._atlas}

    def __str__(self) -> str:
        return str(self._atlas)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._atlas!r})"


class AdjacencyView(AtlasView):
    """A read-only view of the adjacency: ``view[node][nbr]`` is the edge's attribute dict."""

    __slots__ = ()

    def __getitem__(self, key: str) -> AtlasView:
        return AtlasView(self._atlas[key])


__all__ = [
    "AdjacencyView",
    "AtlasView",
    "DiDegreeView",
    "EdgeView",
    "InDegreeView",
    "InEdgeDataView",
    "InEdgeView",
    "NodeDataView",
    "NodeView",
    "OutDegreeView",
    "OutEdgeDataView",
    "OutEdgeView",
    "nbunch_iter",
]

"""Property tests: the built-in DiGraph reads exactly like ``networkx.DiGraph`` after any sequence of edits.

Random sequences of node/edge additions and removals and attribute writes are applied to both graphs; then every
read API (nodes, edges, in_edges, degrees, adjacency, successors, counts, str/repr) is compared, in iteration order,
since networkx iterates in insertion order. Where networkx raises ``NetworkXError`` the built-in graph raises
``KeyError``; both must raise on the same inputs.
"""

from __future__ import annotations

import pickle
from typing import Any

import networkx as nx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graflow.core.digraph import DiGraph

#: A small universe makes collisions (re-adding, removing what exists, self-loops) frequent.
NODES = ["a", "b", "c", "d", "e", "f"]
MISSING = "zz"
ATTR_KEYS = ["w", "x", "task"]

names = st.sampled_from(NODES)
attrs = st.dictionaries(st.sampled_from(ATTR_KEYS), st.integers(-3, 3), max_size=2)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("add_node"), names, attrs),
        st.tuples(st.just("remove_node"), names),
        st.tuples(st.just("add_edge"), names, names, attrs),
        st.tuples(st.just("remove_edge"), names, names),
        st.tuples(st.just("set_node_attr"), names, st.sampled_from(ATTR_KEYS), st.integers(-3, 3)),
        st.tuples(st.just("set_edge_attr"), names, names, st.integers(-3, 3)),
        st.tuples(st.just("add_nodes_from"), st.lists(st.one_of(names, st.tuples(names, attrs)), max_size=3), attrs),
        st.tuples(
            st.just("add_edges_from"),
            st.lists(st.one_of(st.tuples(names, names), st.tuples(names, names, attrs)), max_size=3),
            attrs,
        ),
    ),
    max_size=40,
)
#: nbunch arguments: a node, a missing node, a list (with a missing one and a duplicate), a set, a generator.
nbunches = st.one_of(
    names,
    st.just(MISSING),
    st.lists(st.sampled_from([*NODES, MISSING]), max_size=4),
    st.sets(names, max_size=3),
)
PARITY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def apply(graph: Any, op: tuple[Any, ...]) -> str:
    """Apply ``op`` to ``graph``; returns "ok" or the name of the exception class family it raised."""
    kind, *args = op
    try:
        if kind == "set_node_attr":
            node, key, value = args
            graph.nodes[node][key] = value
        elif kind == "set_edge_attr":
            u, v, value = args
            graph.edges[u, v]["w"] = value
        elif kind in {"add_node", "add_edge", "add_nodes_from", "add_edges_from"}:
            *positional, keywords = args
            getattr(graph, kind)(*positional, **keywords)
        else:
            getattr(graph, kind)(*args)
    except (KeyError, nx.NetworkXError):
        return "missing"
    return "ok"


def build(ops: list[tuple[Any, ...]]) -> tuple[DiGraph, nx.DiGraph]:
    ours, theirs = DiGraph(), nx.DiGraph()
    for op in ops:
        assert apply(ours, op) == apply(theirs, op), op
    return ours, theirs


def plain(value: Any) -> Any:
    """Views as lists (they compare by identity or as sets), everything else as it is."""
    return value if isinstance(value, (int, str, dict, list, tuple)) else list(value)


def _raises(call: Any) -> bool:
    try:
        call()
    except Exception:
        return True
    return False


def same(ours: Any, theirs: Any) -> None:
    """Both calls give equal values, or both raise (KeyError on our side where networkx raises NetworkXError)."""
    try:
        expected = plain(theirs())
    except (KeyError, nx.NetworkXError):
        with pytest.raises(KeyError):
            plain(ours())
        return
    assert plain(ours()) == expected


def assert_nodes_match(ours: DiGraph, theirs: nx.DiGraph) -> None:
    on, tn = ours.nodes, theirs.nodes
    assert list(on) == list(tn)
    assert list(ours) == list(theirs) and len(ours) == len(theirs) == len(on)
    assert list(ours.nodes()) == list(theirs.nodes())
    assert list(on.keys()) == list(tn.keys())
    assert list(on.values()) == list(tn.values())
    assert list(on.items()) == list(tn.items())
    assert list(on(data=True)) == list(tn(data=True)) == list(on.data())
    for key in ATTR_KEYS:
        assert list(on(data=key)) == list(tn(data=key))
        assert list(on(data=key, default=-9)) == list(tn(data=key, default=-9))
        assert list(on.data(key, default=0)) == list(tn.data(key, default=0))
        assert repr(on.data(key)) == repr(tn.data(key))
    for node in [*NODES, MISSING]:
        assert (node in on) == (node in tn) == (node in ours) == ours.has_node(node) == theirs.has_node(node)
        assert on.get(node) == tn.get(node)
        same(lambda n=node: on[n], lambda n=node: tn[n])
        same(lambda n=node: ours.nodes(data=True)[n], lambda n=node: theirs.nodes(data=True)[n])
        same(lambda n=node: ours.nodes(data="w", default=5)[n], lambda n=node: theirs.nodes(data="w", default=5)[n])
        if node in tn:
            pair = (node, dict(tn[node]))
            assert (pair in on(data=True)) == (pair in tn(data=True))
            assert ((node, {"no": 1}) in on(data=True)) == ((node, {"no": 1}) in tn(data=True))
    assert ours.has_node([]) is theirs.has_node([]) is False
    assert on == tn and on == dict(tn) and (on == list(tn)) == (tn == list(tn))
    assert on & {"a", "b", MISSING} == tn & {"a", "b", MISSING}
    assert on | {MISSING} == tn | {MISSING}
    assert on - {"a"} == tn - {"a"}
    assert on(data="w") - {("a", 1)} == tn(data="w") - {("a", 1)}
    assert (str(on), repr(on)) == (str(tn), repr(tn))
    assert (str(on(data=True)), repr(on(data=True))) == (str(tn(data=True)), repr(tn(data=True)))
    assert ours.number_of_nodes() == theirs.number_of_nodes() == ours.order() == theirs.order()


def assert_edges_match(ours: DiGraph, theirs: nx.DiGraph, nbunch: Any) -> None:
    for view in ("edges", "out_edges", "in_edges"):
        oe, te = getattr(ours, view), getattr(theirs, view)
        assert list(oe) == list(te) and len(oe) == len(te)
        assert list(oe()) == list(te())
        assert list(oe(data=True)) == list(te(data=True)) == list(oe.data())
        assert list(oe(data="w", default=0)) == list(te(data="w", default=0))
        assert list(oe.data("w", nbunch=nbunch)) == list(te.data("w", nbunch=nbunch))
        assert list(oe(nbunch)) == list(te(nbunch)) and len(oe(nbunch)) == len(te(nbunch))
        assert list(oe(nbunch, data=True)) == list(te(nbunch, data=True))
        assert (str(oe), repr(oe)) == (str(te), repr(te))
        assert repr(oe(nbunch, data="w")) == repr(te(nbunch, data="w"))
        assert oe == te and oe & {("a", "b")} == te & {("a", "b")}
        for u in [*NODES, MISSING]:
            assert list(oe(u)) == list(te(u))
            for v in NODES:
                assert ((u, v) in oe) == ((u, v) in te)
                assert ((u, v) in oe(nbunch)) == ((u, v) in te(nbunch))
                same(lambda e=(u, v), view=oe: view[e], lambda e=(u, v), view=te: view[e])
                if (u, v) in te:
                    data = te[u, v]
                    assert ((u, v, data) in oe(data=True)) == ((u, v, data) in te(data=True))
                    assert ((u, v, data.get("w")) in oe(data="w")) == ((u, v, data.get("w")) in te(data="w"))
                    assert ((u, v, data) in oe(nbunch, data=True)) == ((u, v, data) in te(nbunch, data=True))
    for odd in [(1, 2, 3), "ab", ("a",), ([], "b")]:
        raised = pytest.raises(Exception) if _raises(lambda e=odd: e in theirs.edges) else None
        if raised is None:
            assert (odd in ours.edges) == (odd in theirs.edges)
        else:
            with raised:
                _ = odd in ours.edges
    assert ours.number_of_edges() == theirs.number_of_edges() == ours.size() == theirs.size()
    assert ours.size(weight="w") == theirs.size(weight="w")
    for u in [*NODES, MISSING]:
        for v in [*NODES, MISSING]:
            assert ours.has_edge(u, v) == theirs.has_edge(u, v)
            assert ours.has_successor(u, v) == theirs.has_successor(u, v)
            assert ours.has_predecessor(u, v) == theirs.has_predecessor(u, v)
            same(lambda a=u, b=v: ours.number_of_edges(a, b), lambda a=u, b=v: theirs.number_of_edges(a, b))


def assert_neighbours_match(ours: DiGraph, theirs: nx.DiGraph) -> None:
    for node in [*NODES, MISSING]:
        for name in ("successors", "predecessors", "neighbors"):
            same(lambda n=node, f=name: list(getattr(ours, f)(n)), lambda n=node, f=name: list(getattr(theirs, f)(n)))
        same(lambda n=node: list(ours[n]), lambda n=node: list(theirs[n]))
        same(lambda n=node: dict(ours[n]), lambda n=node: dict(theirs[n]))
    for name in ("adj", "succ", "pred"):
        ov, tv = getattr(ours, name), getattr(theirs, name)
        assert list(ov) == list(tv) and len(ov) == len(tv)
        assert {n: dict(nbrs) for n, nbrs in ov.items()} == {n: dict(nbrs) for n, nbrs in tv.items()}
        assert [list(nbrs) for nbrs in ov.values()] == [list(nbrs) for nbrs in tv.values()]
        assert (str(ov), repr(ov)) == (str(tv), repr(tv))
        assert ov.copy() == tv.copy()
        for node in tv:
            assert (str(ov[node]), repr(ov[node])) == (str(tv[node]), repr(tv[node]))
            assert ov[node].copy() == tv[node].copy()


def assert_degrees_match(ours: DiGraph, theirs: nx.DiGraph, nbunch: Any) -> None:
    for name in ("in_degree", "out_degree", "degree"):
        od, td = getattr(ours, name), getattr(theirs, name)
        assert list(od) == list(td) and len(od) == len(td)
        assert dict(od()) == dict(td()) and list(od()) == list(td())
        assert list(od(weight="w")) == list(td(weight="w"))
        assert plain(od(nbunch)) == plain(td(nbunch))
        assert (str(od), repr(od)) == (str(td), repr(td))
        assert repr(od(nbunch, weight="w")) == repr(td(nbunch, weight="w"))
        assert repr(od(weight="w")) == repr(td(weight="w"))
        for node in [*NODES, MISSING]:
            same(lambda n=node, view=od: view(n), lambda n=node, view=td: view(n))
            same(lambda n=node, view=od: view[n], lambda n=node, view=td: view[n])
            same(lambda n=node, view=od: view(n, weight="w"), lambda n=node, view=td: view(n, weight="w"))


def assert_same_graph(ours: DiGraph, theirs: nx.DiGraph, nbunch: Any = None) -> None:
    assert_nodes_match(ours, theirs)
    assert_edges_match(ours, theirs, nbunch)
    assert_neighbours_match(ours, theirs)
    assert_degrees_match(ours, theirs, nbunch)
    assert str(ours) == str(theirs)
    assert ours.is_directed() is theirs.is_directed() is True
    assert ours.is_multigraph() is theirs.is_multigraph() is False


@PARITY
@given(operations, nbunches)
def test_every_read_api_matches_networkx_after_random_edits(ops: list[tuple[Any, ...]], nbunch: Any) -> None:
    # given the same random edits applied to both graphs
    ours, theirs = build(ops)
    # then every read API reports the same values in the same order
    assert_same_graph(ours, theirs, nbunch)


#: Views taken from a graph, by how to take them; each is read again after later edits.
VIEWS = {
    "nodes": lambda g: g.nodes,
    "nodes(data=True)": lambda g: g.nodes(data=True),
    "nodes(data=w)": lambda g: g.nodes(data="w", default=0),
    "edges": lambda g: g.edges,
    "edges(data=True)": lambda g: g.edges(data=True),
    "edges(nbunch, data=w)": lambda g: g.edges(NODES[:3], data="w"),
    "in_edges": lambda g: g.in_edges,
    "in_edges(node)": lambda g: g.in_edges("a"),
    "in_degree": lambda g: g.in_degree,
    "out_degree(nbunch)": lambda g: g.out_degree(NODES[1:4]),
    "degree": lambda g: g.degree,
    "adj": lambda g: {n: list(nbrs) for n, nbrs in g.adj.items()},
    "pred": lambda g: {n: list(nbrs) for n, nbrs in g.pred.items()},
}


@PARITY
@given(operations, operations)
def test_views_taken_earlier_stay_live_through_later_edits(first: list[Any], later: list[Any]) -> None:
    # given views taken after some edits, on both graphs
    ours, theirs = build(first)
    views = {name: (take(ours), take(theirs)) for name, take in VIEWS.items() if name not in {"adj", "pred"}}
    adjacency = (ours.adj, ours.pred)
    # when more edits follow
    for op in later:
        assert apply(ours, op) == apply(theirs, op), op
    # then each old view reads as the old networkx view does (live; an nbunch is fixed when the view is made)
    for our_view, their_view in views.values():
        same(lambda v=our_view: list(v), lambda v=their_view: list(v))
        same(lambda v=our_view: len(v), lambda v=their_view: len(v))
    assert {n: list(a) for n, a in adjacency[0].items()} == VIEWS["adj"](theirs)
    assert {n: list(a) for n, a in adjacency[1].items()} == VIEWS["pred"](theirs)


@PARITY
@given(operations, names, st.sampled_from(["new", "a2", "zz"]))
def test_relabel_matches_networkx_relabel_nodes(ops: list[tuple[Any, ...]], old: str, new: str) -> None:
    # given the same graph on both sides, with views taken before the rename
    ours, theirs = build(ops)
    if old not in theirs:
        with pytest.raises(KeyError):
            ours.relabel(old, new)
        return
    before, nodes, succ = list(ours.nodes), ours.nodes, ours.succ
    # when a node is renamed
    ours.relabel(old, new)
    nx.relabel_nodes(theirs, {old: new}, copy=False)
    # then nodes, attributes and edges match; node order is kept (networkx moves the node last), and the renamed
    # node moves to the end of its neighbours' adjacency as in networkx
    assert list(nodes) == list(ours.nodes) == [new if n == old else n for n in before]
    assert set(ours.nodes) == set(theirs.nodes)
    assert dict(ours.nodes.items()) == dict(theirs.nodes.items())
    assert set(ours.edges(data="w")) == set(theirs.edges(data="w"))
    for node in theirs:
        assert list(ours.successors(node)) == list(theirs.successors(node))
        if node != new or not theirs.has_edge(new, new):  # networkx re-adds a self-loop first among predecessors
            assert list(ours.predecessors(node)) == list(theirs.predecessors(node))
        assert dict(succ[node]) == dict(theirs.succ[node])
    assert dict(ours.in_degree) == dict(theirs.in_degree) and dict(ours.out_degree) == dict(theirs.out_degree)


@PARITY
@given(operations)
def test_copy_pickle_and_to_networkx_keep_every_read_api(ops: list[tuple[Any, ...]]) -> None:
    ours, theirs = build(ops)
    assert_same_graph(ours.copy(), theirs.copy())
    assert_same_graph(pickle.loads(pickle.dumps(ours)), theirs)
    converted = ours.to_networkx()
    assert list(converted.nodes(data=True)) == list(theirs.nodes(data=True))
    assert list(converted.edges(data=True)) == list(theirs.edges(data=True))


def test_views_pickle_and_keep_reading() -> None:
    graph = DiGraph()
    graph.add_edge("a", "b", w=2)
    for view in (graph.nodes, graph.nodes(data="w"), graph.edges, graph.edges("a", data=True), graph.in_degree):
        assert list(pickle.loads(pickle.dumps(view))) == list(view)


def test_slicing_a_view_raises_type_error() -> None:
    graph = DiGraph()
    graph.add_edge("a", "b")
    with pytest.raises(TypeError, match="slicing"):
        graph.nodes[0:1]  # type: ignore[index]
    with pytest.raises(TypeError, match="slicing"):
        graph.edges[0:1]  # type: ignore[index]


def test_an_nbunch_that_is_neither_a_node_nor_iterable_raises_key_error() -> None:
    graph = DiGraph()
    graph.add_edge("a", "b")
    with pytest.raises(KeyError):
        list(graph.edges(5))
    with pytest.raises(KeyError):
        graph.in_degree(5)

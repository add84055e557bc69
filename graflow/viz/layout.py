"""A layered (Sugiyama-style) layout for directed graphs, in pure Python.

Steps, each linear or ``n log n`` in the size of the graph plus the dummy nodes of long edges:

1. break cycles: a depth-first search reverses its back edges, so cycles still get a top-to-bottom picture;
2. layer: longest path from the sources, then each source is pulled down to just above its highest successor;
3. split every edge that spans several layers into a chain of one-column dummy nodes;
4. order each layer by the barycentre of its neighbours (sweeps down and up, the order with the fewest crossings wins);
5. place: in each layer the boxes keep their order and a minimum gap, and sit as close as possible (least squares) to
   the mean centre of their neighbours in the layer above or below. That is an isotonic regression, solved exactly by
   pooling adjacent violators.

Everything is deterministic: ties are broken by node id, never by hashing.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import overload

BOX_GAP = 3  # columns between two neighbours in a layer
ORDERING_SWEEPS = 12  # crossing-reduction sweeps (down and up) for graphs of up to ORDERING_FULL_LIMIT nodes
ORDERING_FULL_LIMIT = 2_000  # above this (dummies included) one down sweep only, to stay fast on huge graphs


@dataclass
class Layout:
    """Where everything goes. Node ids ``0..n-1`` are the caller's nodes; higher ids are dummy nodes.

    Attributes:
        layer: Layer (row band) of each node, dummies included.
        left: Leftmost column of each node.
        width: Width in columns of each node (1 for dummies).
        paths: One chain of node ids per drawn edge, from the upper end to the lower end (dummies in between).
        n_real: Number of the caller's nodes.
        n_layers: Number of layers.
    """

    layer: list[int]
    left: list[int]
    width: list[int]
    paths: list[list[int]]
    n_real: int
    n_layers: int

    def center(self, node: int) -> int:
        """Column of the middle of ``node``."""
        return self.left[node] + (self.width[node] - 1) // 2


@overload
def layered_layout(widths: Sequence[int], edges: Sequence[tuple[int, int]], max_dummies: None = None) -> Layout: ...


@overload
def layered_layout(widths: Sequence[int], edges: Sequence[tuple[int, int]], max_dummies: int) -> Layout | None: ...


def layered_layout(
    widths: Sequence[int], edges: Sequence[tuple[int, int]], max_dummies: int | None = None
) -> Layout | None:
    """Lay out nodes ``0..len(widths)-1`` joined by ``edges`` in layers, top to bottom.

    Args:
        widths: Width in columns of each node.
        edges: Directed edges ``(u, v)``. Self-loops are ignored; duplicates and two-way pairs become one line.
        max_dummies: Give up (return None) when long edges would need more dummy nodes than this. Dense graphs with
            long paths need a number of dummies that grows with nodes times layers; the caller then draws differently.

    Returns:
        The layout, in which every non-loop edge has a path; or None when over ``max_dummies``.
    """
    n = len(widths)
    dag = _acyclic_edges(n, edges)
    layer = _layers(n, dag)
    if max_dummies is not None and sum(layer[v] - layer[u] - 1 for u, v in dag) > max_dummies:
        return None
    width = list(widths)
    paths: list[list[int]] = []
    for u, v in dag:
        path = [u]
        for lay in range(layer[u] + 1, layer[v]):
            layer.append(lay)
            width.append(1)
            path.append(len(layer) - 1)
        path.append(v)
        paths.append(path)
    total = len(layer)
    up: list[list[int]] = [[] for _ in range(total)]
    down: list[list[int]] = [[] for _ in range(total)]
    for path in paths:
        for a, b in itertools.pairwise(path):
            down[a].append(b)
            up[b].append(a)
    n_layers = max(layer) + 1 if layer else 0
    layers: list[list[int]] = [[] for _ in range(n_layers)]
    for node in range(total):  # node id order is the initial order
        layers[layer[node]].append(node)
    _order(layers, up, down, sweeps=ORDERING_SWEEPS if total <= ORDERING_FULL_LIMIT else 1)
    left = _place(layers, width, up, down)
    return Layout(layer=layer, left=left, width=width, paths=paths, n_real=n, n_layers=n_layers)


# --------------------------------------------------------------------------------------------------------------------
# 1-2. Cycles and layers
# --------------------------------------------------------------------------------------------------------------------


def _acyclic_edges(n: int, edges: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The edges with every depth-first back edge reversed; no loops, no duplicates, order kept."""
    succ: list[list[int]] = [[] for _ in range(n)]
    indeg = [0] * n
    unique: list[tuple[int, int]] = []
    seen: set[tuple[int, int]] = set()
    for u, v in edges:
        if u == v or (u, v) in seen:
            continue
        seen.add((u, v))
        unique.append((u, v))
        succ[u].append(v)
        indeg[v] += 1
    # Start from the sources so that a graph with a loop hanging off a chain keeps the chain's direction.
    roots = [v for v in range(n) if indeg[v] == 0] + list(range(n))
    state = [0] * n  # 0 new, 1 on the stack, 2 done
    back: set[tuple[int, int]] = set()
    for root in roots:
        if state[root]:
            continue
        state[root] = 1
        stack: list[tuple[int, int]] = [(root, 0)]
        while stack:
            node, i = stack[-1]
            if i < len(succ[node]):
                stack[-1] = (node, i + 1)
                nxt = succ[node][i]
                if state[nxt] == 0:
                    state[nxt] = 1
                    stack.append((nxt, 0))
                elif state[nxt] == 1:
                    back.add((node, nxt))
            else:
                state[node] = 2
                stack.pop()
    result: list[tuple[int, int]] = []
    kept: set[tuple[int, int]] = set()
    for u, v in unique:
        edge = (v, u) if (u, v) in back else (u, v)
        if edge not in kept:
            kept.add(edge)
            result.append(edge)
    return result


def _layers(n: int, dag: Sequence[tuple[int, int]]) -> list[int]:
    """Longest-path layers, with sources pulled down next to their first successor."""
    succ: list[list[int]] = [[] for _ in range(n)]
    indeg = [0] * n
    for u, v in dag:
        succ[u].append(v)
        indeg[v] += 1
    layer = [0] * n
    ready = [v for v in range(n) if indeg[v] == 0]
    sources = list(ready)
    remaining = list(indeg)
    while ready:
        node = ready.pop()
        for nxt in succ[node]:
            if layer[node] + 1 > layer[nxt]:
                layer[nxt] = layer[node] + 1
            remaining[nxt] -= 1
            if remaining[nxt] == 0:
                ready.append(nxt)
    for src in sources:
        if succ[src]:
            layer[src] = min(layer[v] for v in succ[src]) - 1
    return layer


# --------------------------------------------------------------------------------------------------------------------
# 4. Order within layers
# --------------------------------------------------------------------------------------------------------------------


def _order(layers: list[list[int]], up: list[list[int]], down: list[list[int]], sweeps: int) -> None:
    """Reorder ``layers`` in place to reduce edge crossings."""
    pos = [0] * len(up)
    for row in layers:
        for i, node in enumerate(row):
            pos[node] = i
    best = [list(row) for row in layers]
    best_crossings = -1
    for sweep in range(sweeps):
        downward = sweep % 2 == 0
        indices = range(1, len(layers)) if downward else range(len(layers) - 2, -1, -1)
        neighbours = up if downward else down
        for li in indices:
            row = layers[li]
            keys = {}
            for node in row:
                near = neighbours[node]
                keys[node] = (sum(pos[m] for m in near) / len(near) if near else float(pos[node]), pos[node])
            row.sort(key=keys.__getitem__)
            for i, node in enumerate(row):
                pos[node] = i
        if sweeps == 1:
            return
        crossings = _count_crossings(layers, down, pos)
        if best_crossings < 0 or crossings < best_crossings:
            best_crossings = crossings
            best = [list(row) for row in layers]
            if crossings == 0:
                break
    layers[:] = best


def _count_crossings(layers: list[list[int]], down: list[list[int]], pos: list[int]) -> int:
    """Number of edge crossings between consecutive layers (inversions counted with a Fenwick tree)."""
    total = 0
    for li in range(len(layers) - 1):
        pairs = sorted((pos[u], pos[v]) for u in layers[li] for v in down[u])
        size = len(layers[li + 1])
        tree = [0] * (size + 1)
        for seen, (_, target) in enumerate(pairs):
            # edges already inserted whose lower end lies strictly to the right of this one cross it
            i, not_right = target + 1, 0
            while i > 0:
                not_right += tree[i]
                i -= i & -i
            total += seen - not_right
            i = target + 1
            while i <= size:
                tree[i] += 1
                i += i & -i
    return total


# --------------------------------------------------------------------------------------------------------------------
# 5. Horizontal placement
# --------------------------------------------------------------------------------------------------------------------


def _place(layers: list[list[int]], width: list[int], up: list[list[int]], down: list[list[int]]) -> list[int]:
    """Left column of every node: packed first, then pulled towards the neighbours down, up and down again."""
    left = [0] * len(width)
    for row in layers:
        x = 0
        for node in row:
            left[node] = x
            x += width[node] + BOX_GAP
    order = list(range(1, len(layers))), list(range(len(layers) - 2, -1, -1))
    for indices, neighbours in ((order[0], up), (order[1], down), (order[0], up)):
        for li in indices:
            _align_row(layers[li], width, left, neighbours)
    lowest = min(left) if left else 0
    return [x - lowest for x in left]


def _align_row(row: list[int], width: list[int], left: list[int], neighbours: list[list[int]]) -> None:
    """Move the nodes of one row as close as possible to their wished positions, keeping order and gaps.

    Positions are worked out in half columns (``2 * left + width - 1`` is twice a node's middle) to keep the
    arithmetic exact until the final rounding.
    """
    if len(row) == 1:  # the common case of chains, kept cheap
        node = row[0]
        near = neighbours[node]
        if near:
            wish2 = sum(2 * left[m] + width[m] - 1 for m in near) / len(near)
            left[node] = math.floor((wish2 - width[node] + 1) / 2 + 0.5)
        return
    offsets: list[int] = []  # minimum distance of each node's left edge from the row's first left edge
    targets: list[float] = []
    offset = 0
    for node in row:
        near = neighbours[node]
        if near:
            wish = (sum(2 * left[m] + width[m] - 1 for m in near) / len(near) - width[node] + 1) / 2
        else:
            wish = left[node]
        offsets.append(offset)
        targets.append(wish - offset)
        offset += width[node] + BOX_GAP
    for node, value, off in zip(row, _isotonic(targets), offsets, strict=True):
        left[node] = math.floor(value + 0.5) + off


def _isotonic(values: list[float]) -> list[float]:
    """The non-decreasing sequence closest to ``values`` in least squares (pool adjacent violators)."""
    sums: list[float] = []
    counts: list[int] = []
    for value in values:
        sums.append(value)
        counts.append(1)
        while len(sums) > 1 and sums[-2] / counts[-2] > sums[-1] / counts[-1]:
            s, c = sums.pop(), counts.pop()
            sums[-1] += s
            counts[-1] += c
    result: list[float] = []
    for s, c in zip(sums, counts, strict=True):
        result.extend([s / c] * c)
    return result

"""ASCII art of a task graph, with no optional dependency (D25).

Boxes look like ``+------+ / | name | / +------+``; parallel groups become a start box ``ParallelGroup_N`` and a join
box ``↣ ParallelGroup_N`` drawn with double lines, with the members between them; edges are lines of ``*``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import networkx as nx

from graflow.viz.groups import expand_groups
from graflow.viz.layout import Layout, layered_layout

ROW_GAP = 3  # text lines between two layers, where the edges run
BOX_HEIGHT = 3
EDGE_CHAR = "*"
# A layered picture of a dense graph with long paths needs a number of bends (and a canvas) that grows with nodes
# times layers; such a picture is unreadable anyway, so past these budgets the graph is drawn as a listing.
MIN_BEND_BUDGET = 20_000
BEND_BUDGET_PER_ITEM = 4  # bends allowed per node plus edge
MAX_CANVAS_CELLS = 20_000_000
LISTING_ARROW = "  *--> "
SINGLE = ("+", "+", "+", "+", "-", "|")  # corners top-left, top-right, bottom-left, bottom-right; horizontal; vertical
DOUBLE = ("╔", "╗", "╚", "╝", "═", "║")


def draw_ascii(graph: nx.DiGraph) -> str:
    """Draw a task graph as ASCII art.

    Args:
        graph: A networkx DiGraph whose nodes may carry their task object as attribute ``task``; a node whose task
            has ``is_parallel_group is True`` is drawn as a start box, its members, and a join box.

    Returns:
        The picture, lines joined by ``"\\n"`` with no trailing spaces. A graph without edges is a vertical stack of
        boxes (ending with a newline, as upstream); an empty graph is ``"Empty graph"``.
    """
    if graph.number_of_nodes() == 0:
        return "Empty graph"
    flat = expand_groups(graph)
    if not flat.edges:
        return _stack(flat.labels)
    layout = layered_layout(
        [len(label) + 4 for label in flat.labels],
        flat.edges,
        max_dummies=max(MIN_BEND_BUDGET, BEND_BUDGET_PER_ITEM * (len(flat.labels) + len(flat.edges))),
    )
    if layout is None or _canvas_size(layout) > MAX_CANVAS_CELLS:
        return _listing(flat.labels, flat.double, flat.edges)
    return _render(layout, flat.labels, flat.double)


def _canvas_size(layout: Layout) -> int:
    width = max(left + w for left, w in zip(layout.left, layout.width, strict=True))
    return width * (layout.n_layers * (BOX_HEIGHT + ROW_GAP))


def _listing(labels: Sequence[str], double: Sequence[bool], edges: Sequence[tuple[int, int]]) -> str:
    """Every box in turn, each followed by the names of its successors: the fallback for very large graphs."""
    successors: list[list[int]] = [[] for _ in labels]
    for u, v in edges:
        if v not in successors[u]:
            successors[u].append(v)
    lines: list[str] = []
    for node, label in enumerate(labels):
        tl, tr, bl, br, horizontal, vertical = DOUBLE if double[node] else SINGLE
        inner = len(label) + 2
        lines += [tl + horizontal * inner + tr, f"{vertical} {label} {vertical}", bl + horizontal * inner + br]
        if successors[node]:
            lines.append(LISTING_ARROW + ", ".join(labels[s] for s in successors[node]))
    return "\n".join(lines)


def _stack(labels: Sequence[str]) -> str:
    """Boxes of one width stacked on top of each other, sharing their borders (upstream's no-edge format)."""
    inner = max(len(label) for label in labels) + 2
    border = "+" + "-" * inner + "+\n"
    rows = []
    for label in labels:
        pad = inner - len(label)
        rows.append("|" + " " * (pad // 2) + label + " " * (pad - pad // 2) + "|")
    return border + f"\n{border}".join(rows) + f"\n{border}"


def _render(layout: Layout, labels: Sequence[str], double: Sequence[bool]) -> str:
    band = BOX_HEIGHT + ROW_GAP
    height = layout.n_layers * band - ROW_GAP
    width = max(left + w for left, w in zip(layout.left, layout.width, strict=True))
    canvas = [[" "] * width for _ in range(height)]
    # Edges first, so that boxes drawn afterwards cover their ends.
    for path in layout.paths:
        for a, b in itertools.pairwise(path):
            x0, x1 = _ends(layout, a, b)
            _segment(canvas, x0, layout.layer[a] * band + BOX_HEIGHT, x1, layout.layer[b] * band - 1)
        for dummy in path[1:-1]:
            top, x = layout.layer[dummy] * band, layout.center(dummy)
            for y in range(top, top + BOX_HEIGHT):
                canvas[y][x] = EDGE_CHAR
    for node in range(layout.n_real):
        _box(canvas, layout.left[node], layout.layer[node] * band, labels[node], DOUBLE if double[node] else SINGLE)
    return "\n".join("".join(row).rstrip() for row in canvas)


def _ends(layout: Layout, a: int, b: int) -> tuple[int, int]:
    """Columns where the edge from ``a`` down to ``b`` leaves and arrives.

    Centre to centre, except that the line drops straight down when one box lies under the other's centre: a chain
    of boxes of different widths then reads as a straight line, and a group's members hang straight from its start.
    """
    x0, x1 = layout.center(a), layout.center(b)
    if _inside(layout, b, x0):
        return x0, x0
    if _inside(layout, a, x1):
        return x1, x1
    return x0, x1


def _inside(layout: Layout, node: int, x: int) -> bool:
    left, width = layout.left[node], layout.width[node]
    if width < 3:
        return left <= x < left + width
    return left < x < left + width - 1


def _box(canvas: list[list[str]], x: int, y: int, label: str, style: tuple[str, ...]) -> None:
    tl, tr, bl, br, horizontal, vertical = style
    inner = len(label) + 2
    canvas[y][x : x + inner + 2] = [tl, *([horizontal] * inner), tr]
    canvas[y + 1][x : x + inner + 2] = [vertical, *f" {label} ", vertical]
    canvas[y + 2][x : x + inner + 2] = [bl, *([horizontal] * inner), br]


def _segment(canvas: list[list[str]], x0: int, y0: int, x1: int, y1: int) -> None:
    """A line of ``*`` from ``(x0, y0)`` down to ``(x1, y1)`` (``y1 >= y0``), one run of columns per text line.

    Column ``k`` steps from the start lies on line ``round(k * dy / dx)``, so each line gets one contiguous run and
    the cost is one slice assignment per line, however wide the edge.
    """
    dy = y1 - y0
    dx = abs(x1 - x0)
    step = 1 if x1 >= x0 else -1
    if dy == 0:
        canvas[y0][min(x0, x1) : max(x0, x1) + 1] = [EDGE_CHAR] * (dx + 1)
        return
    if dx <= dy:
        for r in range(dy + 1):
            canvas[y0 + r][x0 + step * ((2 * r * dx + dy) // (2 * dy))] = EDGE_CHAR
        return
    start = 0
    for r in range(dy + 1):
        # first k with k * dy / dx >= r + 1/2, i.e. the first column of the next line
        end = dx + 1 if r == dy else -(-((2 * r + 1) * dx) // (2 * dy))
        a, b = x0 + step * start, x0 + step * (end - 1)
        lo, hi = min(a, b), max(a, b)
        canvas[y0 + r][lo : hi + 1] = [EDGE_CHAR] * (hi - lo + 1)
        start = end

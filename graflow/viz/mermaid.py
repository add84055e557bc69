"""Mermaid flowchart text of a task graph (upstream's format, with the node ids of D25)."""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Mapping
from typing import Any

import networkx as nx

from graflow.viz.groups import container_view

EMPTY_MERMAID = "graph TD;\n    EmptyGraph[Empty Graph];\n"
FRONT_MATTER = "---\nconfig:\n  flowchart:\n    curve: linear\n---\n"
CLASS_DEFS = (
    "    classDef first fill:#e1f5fe,stroke:#01579b,stroke-width:2px;\n"
    "    classDef last fill:#fff3e0,stroke:#e65100,stroke-width:2px;\n"
    "    classDef parallelGroup fill:#f3e5f5,stroke:#4a148c,stroke-width:3px;\n"
    "    classDef default fill:#f9f9f9,stroke:#333,stroke-width:1px;\n"
)
# Words Mermaid reads as syntax; a node called like this gets a numbered id ("end" -> "end_1").
RESERVED_IDS = frozenset(
    {
        "graph", "subgraph", "direction", "click", "class", "classDef", "style", "linkStyle", "fill", "stroke",
        "color", "end", "start", "TD", "TB", "BT", "RL", "LR", "flowchart",
    }
)  # fmt: skip
_UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9_-]")
# Labels made only of these characters are written bare, as upstream does; any other label is quoted so that
# brackets, pipes or quotes in a task name cannot break the diagram.
_PLAIN_LABEL = re.compile(r"[\w .,:!?+=/'-]*")


class MermaidIds:
    """Mermaid node ids for node labels: the label with every character outside ``[A-Za-z0-9_-]`` replaced by ``_``.

    D25: no ``_1`` suffix is added, except to keep ids unique (``"a b"`` and ``"a_b"`` in one graph) and to avoid
    Mermaid keywords. A label that already is a valid id keeps it; the others take the first free ``<id>_<n>``.
    """

    def __init__(self, labels: Iterable[str]) -> None:
        self._ids: dict[str, str] = {}
        self._used: set[str] = set()
        ordered = list(dict.fromkeys(labels))
        for label in ordered:  # exact ids first, so that "a_b" keeps its own name whatever comes before it
            if _sanitize(label) == label and label not in RESERVED_IDS:
                self._claim(label, label)
        for label in ordered:
            self.id(label)

    def id(self, label: str) -> str:
        """The id of ``label``, assigning a fresh one on first use."""
        found = self._ids.get(label)
        if found is not None:
            return found
        base = _sanitize(label)
        candidate = base
        counter = 0
        while candidate in self._used or candidate in RESERVED_IDS:
            counter += 1
            candidate = f"{base}_{counter}"
        self._claim(label, candidate)
        return candidate

    def _claim(self, label: str, node_id: str) -> None:
        self._ids[label] = node_id
        self._used.add(node_id)


def _sanitize(label: str) -> str:
    return _UNSAFE_ID_CHARS.sub("_", label) or "_"


def mermaid_label(label: str) -> str:
    """A node label as Mermaid text: bare when harmless, else in double quotes with ``"`` written ``#quot;``."""
    if _PLAIN_LABEL.fullmatch(label):
        return label
    return '"' + label.replace('"', "#quot;") + '"'


def _wrap(label: str, n_words: int) -> str:
    words = label.split()
    if n_words <= 0 or len(words) <= n_words:
        return label
    return "<br>".join(" ".join(words[i : i + n_words]) for i in range(0, len(words), n_words))


def draw_mermaid(
    graph: nx.DiGraph,
    title: str = "Graph",
    *,
    with_styles: bool = True,
    node_colors: Mapping[Any, str] | None = None,
    wrap_label_n_words: int = 9,
) -> str:
    """Draw a task graph as a Mermaid flowchart.

    Parallel groups become ``subgraph`` blocks holding their members (and the tasks chained after a member inside
    its branch); edges to and from the group attach to the block.

    Args:
        graph: A networkx DiGraph whose nodes may carry their task object as attribute ``task``.
        title: Written as a ``%%`` comment unless it is the default ``"Graph"``.
        with_styles: Add the front matter and the ``classDef`` lines.
        node_colors: Fill colour per node (``{node: "#ffcc00"}``); needs ``with_styles``.
        wrap_label_n_words: Edge labels (edge attribute ``label``) longer than this many words are wrapped with
            ``<br>``.

    Returns:
        The Mermaid text, every line ending with a newline. An empty graph gives
        ``"graph TD;\\n    EmptyGraph[Empty Graph];\\n"``.
    """
    if graph.number_of_nodes() == 0:
        return EMPTY_MERMAID
    display, boxes = container_view(graph)
    ids = MermaidIds(str(node) for node in display.nodes())
    group_ids = {box.group_id for box in boxes}
    in_boxes = {task for box in boxes for task in box.tasks}
    out: list[str] = [FRONT_MATTER] if with_styles else []
    out.append("graph TD;\n")
    if title != "Graph":
        out.append(f"    %% {title}\n")

    for box in boxes:
        gid = ids.id(box.label)
        out.append(f'    subgraph {gid}[" {box.label.replace(chr(34), "#quot;")} "]\n')
        out.append("        direction TB\n")
        for task in box.tasks:
            if task in display:
                out.append(f"        {ids.id(str(task))}[{mermaid_label(str(task))}];\n")
        out.append("    end\n")
        out.append(f"    class {gid} parallelGroup;\n")

    first, last = _first_and_last(display)
    for node in display.nodes():
        if node in in_boxes or node in group_ids:
            continue
        node_id, label = ids.id(str(node)), mermaid_label(str(node))
        if node == first:
            out.append(f"    {node_id}([{label}]):::first;\n")
        elif node == last:
            out.append(f"    {node_id}([{label}]):::last;\n")
        else:
            out.append(f"    {node_id}[{label}];\n")

    # container_view already dropped the edges into a container (a group's links to its members among them), so
    # every remaining edge is drawn; an edge between two groups joins the two blocks.
    for u, v, data in display.edges(data=True):
        edge_label = data.get("label")
        arrow = f" -- {_wrap(str(edge_label), wrap_label_n_words)} --> " if edge_label else " --> "
        out.append(f"    {ids.id(str(u))}{arrow}{ids.id(str(v))};\n")

    if with_styles:
        out.append(CLASS_DEFS)
        for node, color in (node_colors or {}).items():
            node_id = ids.id(str(node))
            out.append(f"    classDef {node_id}_style fill:{color};\n")
            out.append(f"    class {node_id} {node_id}_style;\n")
    return "".join(out)


def _first_and_last(display: nx.DiGraph) -> tuple[Hashable | None, Hashable | None]:
    """Upstream's picks: the first node without predecessors and the last node without successors."""
    first = next((n for n in display.nodes() if display.in_degree(n) == 0), None)
    last = None
    for node in display.nodes():
        if display.out_degree(node) == 0:
            last = node
    return first, last

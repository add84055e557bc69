"""Pictures of task graphs: ASCII art and Mermaid text with the core install, DOT/PNG with the ``viz`` extra.

Nothing here imports matplotlib or pygraphviz until a function that needs it is called (D25).
"""

from __future__ import annotations

from graflow.viz.ascii import draw_ascii
from graflow.viz.dot import create_agraph, draw_dot, draw_png
from graflow.viz.info import (
    build_graph,
    cycles_line,
    dependency_lines,
    show_graph_info,
    simple_cycles,
    visualize_dependencies,
)
from graflow.viz.matplotlib_draw import draw_task_graph
from graflow.viz.mermaid import draw_mermaid
from graflow.viz.mermaid_png import MermaidRenderError, draw_mermaid_png

__all__ = [
    "MermaidRenderError",
    "build_graph",
    "create_agraph",
    "cycles_line",
    "dependency_lines",
    "draw_ascii",
    "draw_dot",
    "draw_mermaid",
    "draw_mermaid_png",
    "draw_png",
    "draw_task_graph",
    "show_graph_info",
    "simple_cycles",
    "visualize_dependencies",
]

"""Graph drawing helpers at their upstream import path; the code lives in :mod:`graflow.viz`.

Unlike upstream this module imports neither matplotlib nor grandalf: ASCII and Mermaid output need only the core
install (D25).
"""

from __future__ import annotations

from graflow.viz import (
    build_graph,
    create_agraph,
    draw_ascii,
    draw_dot,
    draw_mermaid,
    draw_mermaid_png,
    draw_png,
    draw_task_graph,
    show_graph_info,
    visualize_dependencies,
)

__all__ = [
    "build_graph",
    "create_agraph",
    "draw_ascii",
    "draw_dot",
    "draw_mermaid",
    "draw_mermaid_png",
    "draw_png",
    "draw_task_graph",
    "show_graph_info",
    "visualize_dependencies",
]

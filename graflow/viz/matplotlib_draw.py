"""Drawing a task graph with matplotlib (extra ``viz``); matplotlib is imported only when a drawing is asked for."""

from __future__ import annotations

import networkx as nx

from graflow.viz.info import MATPLOTLIB_HINT, layered_positions


def draw_task_graph(graph: nx.DiGraph, title: str = "Task Graph", output_path: str | None = None) -> None:
    """Draw the graph with matplotlib, in the same layered layout as the ASCII art.

    Args:
        graph: The graph to draw.
        title: Figure title.
        output_path: Save the figure there (format from the suffix) instead of opening a window.

    Raises:
        ImportError: matplotlib is not installed (it is part of the ``viz`` extra).
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(MATPLOTLIB_HINT) from exc

    positions = layered_positions(graph)
    fig, ax = plt.subplots(figsize=(max(4.0, len(graph) ** 0.5 * 2.5), max(3.0, len(graph) ** 0.5 * 2.0)))
    try:
        nx.draw(
            graph,
            positions,
            ax=ax,
            with_labels=True,
            node_color="lightblue",
            node_size=2000,
            edge_color="black",
            arrows=True,
        )
        ax.set_title(title)
        if output_path is not None:
            fig.savefig(output_path)
        else:
            plt.show()
    finally:
        plt.close(fig)


__all__ = ["draw_task_graph"]

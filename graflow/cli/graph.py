"""``graflow graph``: draw a workflow's task graph as ASCII art, Mermaid, Graphviz DOT or PNG (graflow.viz)."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Any

import click

from graflow.cli._loading import WorkflowLoadError, load_workflow

#: Exit codes: drawn, the workflow could not be loaded or the file written, usage error.
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
FORMATS = ("ascii", "mermaid", "dot", "png")
#: The format an output file's suffix implies when --format is not given.
SUFFIX_FORMATS = {".txt": "ascii", ".mmd": "mermaid", ".mermaid": "mermaid", ".dot": "dot", ".gv": "dot", ".png": "png"}
PYGRAPHVIZ_MISSING = (
    "--format {fmt} needs pygraphviz and Graphviz: install the viz extra and pygraphviz "
    "(pip install 'graflow[viz]' pygraphviz; pygraphviz builds against the Graphviz headers, e.g. "
    "apt-get install graphviz libgraphviz-dev)"
)

HELP = """Draw a workflow's task graph.

ASCII art and Mermaid need only the core install; DOT and PNG need pygraphviz (see --format). Parallel groups are
drawn as boxes holding their members. Without -o the drawing goes to standard output (PNG only when that is not a
terminal); with -o and no --format, the file's suffix picks it (.txt .mmd .dot .gv .png).

\b
Examples:
  graflow graph etl.py
  graflow graph etl.py:nightly --format mermaid -o nightly.mmd
  graflow graph pipelines.sales:build -o sales.png
"""


@click.command("graph", help=HELP, short_help="draw a workflow's task graph (ascii, mermaid, dot, png)")
@click.argument("spec", metavar="FILE[:WORKFLOW]")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
              help="ascii (default), mermaid, dot or png (dot and png need pygraphviz)")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="write the drawing to this file instead of standard output")
@click.pass_context
def graph(ctx: click.Context, spec: str, fmt: str | None, output: Path | None) -> None:
    fmt = fmt or _format_for(output)
    if fmt == "png" and output is None and sys.stdout.isatty():
        _fail(ctx, "PNG is binary: write it to a file with -o PATH, or redirect standard output", EXIT_USAGE)
    try:
        with contextlib.redirect_stdout(sys.stderr):  # what the workflow prints while loading is not the drawing
            workflow = load_workflow(spec)
    except WorkflowLoadError as exc:
        _fail(ctx, exc.problem, EXIT_FAILED if exc.__cause__ is not None else EXIT_USAGE)
    try:
        drawing = _draw(workflow, fmt)
    except ImportError:
        if fmt not in ("dot", "png"):
            raise
        _fail(ctx, PYGRAPHVIZ_MISSING.format(fmt=fmt), EXIT_USAGE)
    _write(ctx, drawing, output)


def _format_for(output: Path | None) -> str:
    if output is None:
        return "ascii"
    return SUFFIX_FORMATS.get(output.suffix.lower(), "ascii")


def _draw(workflow: Any, fmt: str) -> str | bytes:
    """The drawing of ``workflow`` in ``fmt``. Raises ImportError when ``fmt`` needs pygraphviz and it is absent."""
    from graflow import viz

    nx_graph = workflow.graph.nx_graph()
    if fmt == "mermaid":
        return viz.draw_mermaid(nx_graph, title=workflow.name)
    if fmt == "dot":
        return viz.draw_dot(nx_graph)
    if fmt == "png":
        data = viz.draw_png(nx_graph)
        return data or b""
    return viz.draw_ascii(nx_graph)


def _write(ctx: click.Context, drawing: str | bytes, output: Path | None) -> None:
    if isinstance(drawing, str) and not drawing.endswith("\n"):
        drawing += "\n"
    if output is None:
        if isinstance(drawing, bytes):
            sys.stdout.buffer.write(drawing)
            sys.stdout.buffer.flush()
        else:
            click.echo(drawing, nl=False)
        ctx.exit(EXIT_OK)
    try:
        if isinstance(drawing, bytes):
            output.write_bytes(drawing)
        else:
            output.write_text(drawing, encoding="utf-8")
    except OSError as exc:
        _fail(ctx, f"cannot write {output}: {exc.strerror or exc}", EXIT_FAILED)
    click.echo(f"wrote {output}", err=True)
    ctx.exit(EXIT_OK)


def _fail(ctx: click.Context, problem: str, code: int) -> Any:
    click.echo(f"graflow graph: {problem}", err=True)
    ctx.exit(code)


commands: list[click.Command] = [graph]

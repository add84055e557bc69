"""PNG images of the Mermaid text: a local ``mmdc`` by default, the mermaid.ink service only when asked (D25)."""

from __future__ import annotations

import base64
import random
import re
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import networkx as nx

from graflow.exceptions import GraflowError
from graflow.viz.mermaid import draw_mermaid

MMDC_BINARY = "mmdc"  # the command of @mermaid-js/mermaid-cli
MMDC_TIMEOUT_SECONDS = 120.0
MERMAID_INK_URL = "https://mermaid.ink/img/"
MERMAID_INK_TIMEOUT_SECONDS = 10.0
_HEX_COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3}){1,2}$")


class MermaidRenderError(GraflowError, ValueError):
    """A Mermaid diagram could not be turned into an image.

    It is also a ``ValueError``, which is what upstream raised when the remote service failed.
    """


def draw_mermaid_png(
    graph: nx.DiGraph,
    output_path: str | None = None,
    *,
    title: str = "Graph",
    with_styles: bool = True,
    node_colors: Mapping[Any, str] | None = None,
    wrap_label_n_words: int = 9,
    background_color: str | None = "white",
    max_retries: int = 1,
    retry_delay: float = 1.0,
    remote: bool = False,
) -> bytes:
    """Render :func:`~graflow.viz.mermaid.draw_mermaid` output as a PNG image.

    The diagram never leaves the machine unless ``remote=True``: by default the local Mermaid CLI (``mmdc``, from
    ``npm install -g @mermaid-js/mermaid-cli``) draws it.

    Args:
        graph: The task graph.
        output_path: Also write the PNG there.
        title, with_styles, node_colors, wrap_label_n_words: As for ``draw_mermaid``.
        background_color: Background colour (a name or ``#hex``); None leaves the renderer's default.
        max_retries: Remote only: retries after a server error or a network failure.
        retry_delay: Remote only: base delay in seconds of the exponential backoff between retries.
        remote: Send the diagram to the mermaid.ink web service, as upstream always did.

    Returns:
        The PNG bytes.

    Raises:
        MermaidRenderError: no local ``mmdc`` (and ``remote`` is False), ``mmdc`` failed, or the service failed.
    """
    text = draw_mermaid(
        graph, title=title, with_styles=with_styles, node_colors=node_colors, wrap_label_n_words=wrap_label_n_words
    )
    if remote:
        image = _render_remote(text, background_color, max_retries, retry_delay)
    else:
        image = _render_local(text, background_color)
    if output_path is not None:
        Path(output_path).write_bytes(image)
    return image


def _render_local(text: str, background_color: str | None) -> bytes:
    binary = shutil.which(MMDC_BINARY)
    if binary is None:
        raise MermaidRenderError(
            f"No local Mermaid renderer: `{MMDC_BINARY}` is not on PATH. Install it with "
            "`npm install -g @mermaid-js/mermaid-cli`, or call draw_mermaid_png(..., remote=True) to send the "
            "diagram to https://mermaid.ink, or use draw_png() (needs pygraphviz)."
        )
    with tempfile.TemporaryDirectory(prefix="graflow-mermaid-") as tmp:
        source, target = Path(tmp, "graph.mmd"), Path(tmp, "graph.png")
        source.write_text(text, encoding="utf-8")
        command = [binary, "--input", str(source), "--output", str(target)]
        if background_color is not None:
            command += ["--backgroundColor", background_color]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=MMDC_TIMEOUT_SECONDS, check=False)
        except subprocess.TimeoutExpired as exc:
            raise MermaidRenderError(f"`{MMDC_BINARY}` did not finish within {MMDC_TIMEOUT_SECONDS:g} s") from exc
        if done.returncode != 0 or not target.is_file():
            detail = (done.stderr or done.stdout).strip()
            raise MermaidRenderError(f"`{MMDC_BINARY}` failed with exit code {done.returncode}: {detail}")
        return target.read_bytes()


def _render_remote(text: str, background_color: str | None, max_retries: int, retry_delay: float) -> bytes:
    encoded = base64.b64encode(text.encode("utf-8")).decode("ascii")
    if background_color is not None and not _HEX_COLOR.match(background_color):
        background_color = f"!{background_color}"  # mermaid.ink's marker for a named colour
    url = f"{MERMAID_INK_URL}{encoded}?type=png&bgColor={background_color}"
    hint = (
        "Check the internet connection, retry with higher settings "
        "(`draw_mermaid_png(..., remote=True, max_retries=5, retry_delay=2.0)`), or render locally."
    )
    last_problem = ""
    for attempt in range(max_retries + 1):
        try:
            with urllib.request.urlopen(url, timeout=MERMAID_INK_TIMEOUT_SECONDS) as response:  # noqa: S310
                return bytes(response.read())
        except urllib.error.HTTPError as exc:
            if not 500 <= exc.code < 600:
                raise MermaidRenderError(f"{MERMAID_INK_URL} answered with status {exc.code}. {hint}") from exc
            last_problem = f"status {exc.code}"
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            last_problem = str(exc)
        if attempt < max_retries:
            # exponential backoff with jitter, so that many clients do not retry in step
            time.sleep(retry_delay * (2**attempt) * (0.5 + 0.5 * random.random()))  # noqa: S311
    raise MermaidRenderError(
        f"Could not render through {MERMAID_INK_URL} after {max_retries} retries ({last_problem}). {hint}"
    )

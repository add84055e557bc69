"""draw_mermaid (spec §14 with D25 ids) and draw_mermaid_png (local by default, remote only when asked)."""

from __future__ import annotations

import base64
import http.server
import os
import stat
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import networkx as nx
import pytest

from graflow.viz import mermaid_png
from graflow.viz.mermaid import draw_mermaid
from graflow.viz.mermaid_png import MermaidRenderError, draw_mermaid_png

STYLES = (
    "    classDef first fill:#e1f5fe,stroke:#01579b,stroke-width:2px;\n"
    "    classDef last fill:#fff3e0,stroke:#e65100,stroke-width:2px;\n"
    "    classDef parallelGroup fill:#f3e5f5,stroke:#4a148c,stroke-width:3px;\n"
    "    classDef default fill:#f9f9f9,stroke:#333,stroke-width:1px;\n"
)
FRONT = "---\nconfig:\n  flowchart:\n    curve: linear\n---\n"


class Step:
    def __init__(self, task_id: str) -> None:
        self.task_id = task_id


class Group:
    is_parallel_group = True

    def __init__(self, task_id: str, members: list[Any]) -> None:
        self.task_id = task_id
        self.tasks = members


def a_then_b_or_c_then_d() -> nx.DiGraph:
    graph = nx.DiGraph()
    for name in "abcd":
        graph.add_node(name, task=Step(name))
    graph.add_node("ParallelGroup_1", task=Group("ParallelGroup_1", [Step("b"), Step("c")]))
    graph.add_edge("a", "ParallelGroup_1")
    graph.add_edge("ParallelGroup_1", "d")
    return graph


EXPECTED_GROUP = (
    FRONT + "graph TD;\n"
    '    subgraph ParallelGroup_1[" ParallelGroup_1 "]\n'
    "        direction TB\n"
    "        b[b];\n"
    "        c[c];\n"
    "    end\n"
    "    class ParallelGroup_1 parallelGroup;\n"
    "    a([a]):::first;\n"
    "    d([d]):::last;\n"
    "    a --> ParallelGroup_1;\n"
    "    ParallelGroup_1 --> d;\n" + STYLES
)


# ---------------------------------------------------------------------------------------------------------- the text


def test_empty_graph() -> None:
    assert draw_mermaid(nx.DiGraph()) == "graph TD;\n    EmptyGraph[Empty Graph];\n"


def test_chain_marks_first_and_last_and_uses_labels_as_ids_without_suffix() -> None:
    graph = nx.DiGraph([("load", "transform"), ("transform", "save")])

    assert draw_mermaid(graph) == (
        FRONT + "graph TD;\n"
        "    load([load]):::first;\n"
        "    transform[transform];\n"
        "    save([save]):::last;\n"
        "    load --> transform;\n"
        "    transform --> save;\n" + STYLES
    )


def test_diamond_without_styles_and_with_a_title() -> None:
    graph = nx.DiGraph([("s", "p"), ("s", "q"), ("p", "m"), ("q", "m")])

    assert draw_mermaid(graph, title="ETL", with_styles=False) == (
        "graph TD;\n"
        "    %% ETL\n"
        "    s([s]):::first;\n"
        "    p[p];\n"
        "    q[q];\n"
        "    m([m]):::last;\n"
        "    s --> p;\n"
        "    s --> q;\n"
        "    p --> m;\n"
        "    q --> m;\n"
    )


def test_parallel_group_is_a_subgraph_and_edges_attach_to_it() -> None:
    assert draw_mermaid(a_then_b_or_c_then_d()) == EXPECTED_GROUP


def test_real_workflow_gives_the_same_text() -> None:
    from graflow import task, workflow

    with workflow("viz_mermaid") as wf:

        @task
        def a() -> None: ...

        @task
        def b() -> None: ...

        @task
        def c() -> None: ...

        @task
        def d() -> None: ...

        a >> (b | c) >> d

        assert draw_mermaid(wf.graph.nx_graph()) == EXPECTED_GROUP


def test_task_chained_after_a_member_sits_in_the_container() -> None:
    # given x >> (a | (b >> c)) >> y
    graph = nx.DiGraph()
    for name in "abc":
        graph.add_node(name, task=Step(name))
    graph.add_edge("b", "c")
    graph.add_node("PG", task=Group("PG", [Step("a"), Step("b")]))
    graph.add_edge("x", "PG")
    graph.add_edge("PG", "y")

    assert draw_mermaid(graph, with_styles=False) == (
        "graph TD;\n"
        '    subgraph PG[" PG "]\n'
        "        direction TB\n"
        "        a[a];\n"
        "        b[b];\n"
        "        c[c];\n"
        "    end\n"
        "    class PG parallelGroup;\n"
        "    x[x];\n"  # upstream picks the first in-degree-0 node in node order: member a, which is in the box
        "    y([y]):::last;\n"
        "    b --> c;\n"
        "    PG --> y;\n"
        "    x --> PG;\n"
    )


def test_edge_between_two_groups_joins_the_two_blocks() -> None:
    graph = nx.DiGraph()
    for name in "abcd":
        graph.add_node(name, task=Step(name))
    graph.add_node("P1", task=Group("P1", [Step("a"), Step("b")]))
    graph.add_node("P2", task=Group("P2", [Step("c"), Step("d")]))
    graph.add_edge("P1", "P2")

    text = draw_mermaid(graph, with_styles=False)

    assert "    P1 --> P2;\n" in text
    assert text.count("subgraph") == 2


def test_group_to_member_edges_are_not_drawn() -> None:
    graph = a_then_b_or_c_then_d()
    graph.add_edge("ParallelGroup_1", "b")

    assert draw_mermaid(graph) == EXPECTED_GROUP


# ------------------------------------------------------------------------------------------------------ ids and labels


def test_ids_are_sanitized_labels_and_stay_unique_and_clear_of_keywords() -> None:
    # given labels that sanitize to the same id, and Mermaid keywords
    graph = nx.DiGraph([("a b", "a_b"), ("a_b", "a.b"), ("a.b", "end"), ("end", "graph")])

    assert draw_mermaid(graph, with_styles=False) == (
        "graph TD;\n"
        "    a_b_1([a b]):::first;\n"
        "    a_b[a_b];\n"  # the label that already is a valid id keeps it
        "    a_b_2[a.b];\n"
        "    end_1[end];\n"
        "    graph_1([graph]):::last;\n"
        "    a_b_1 --> a_b;\n"
        "    a_b --> a_b_2;\n"
        "    a_b_2 --> end_1;\n"
        "    end_1 --> graph_1;\n"
    )


def test_label_with_brackets_or_quotes_is_quoted() -> None:
    graph = nx.DiGraph([("fetch(url)", 'say "hi"')])

    text = draw_mermaid(graph, with_styles=False)

    assert '    fetch_url_(["fetch(url)"]):::first;\n' in text
    assert '    say__hi_(["say #quot;hi#quot;"]):::last;\n' in text


def test_hyphens_and_digits_survive_in_ids() -> None:
    text = draw_mermaid(nx.DiGraph([("step-1", "step-2")]), with_styles=False)

    assert "    step-1 --> step-2;\n" in text


def test_node_colors_add_a_class_per_node() -> None:
    graph = nx.DiGraph([("my task", "b")])

    text = draw_mermaid(graph, node_colors={"my task": "#ff0000", "b": "green"})

    assert text.endswith(
        STYLES
        + "    classDef my_task_style fill:#ff0000;\n"
        + "    class my_task my_task_style;\n"
        + "    classDef b_style fill:green;\n"
        + "    class b b_style;\n"
    )


def test_node_colors_are_ignored_without_styles() -> None:
    text = draw_mermaid(nx.DiGraph([("a", "b")]), with_styles=False, node_colors={"a": "red"})

    assert "classDef" not in text
    assert not text.startswith("---")


def test_long_edge_labels_are_wrapped() -> None:
    graph = nx.DiGraph()
    graph.add_edge("a", "b", label="one two three four five")

    assert "    a -- one two<br>three four<br>five --> b;\n" in draw_mermaid(graph, wrap_label_n_words=2)
    assert "    a -- one two three four five --> b;\n" in draw_mermaid(graph)


# -------------------------------------------------------------------------------------------------------- PNG output


def test_png_without_a_local_renderer_fails_clearly_and_calls_no_service(monkeypatch: pytest.MonkeyPatch) -> None:
    # given no mmdc on PATH and a network that must not be used
    monkeypatch.setenv("PATH", "")

    def no_network(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the remote service was called")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)

    with pytest.raises(MermaidRenderError, match="mmdc") as caught:
        draw_mermaid_png(nx.DiGraph([("a", "b")]))
    assert "remote=True" in str(caught.value)
    assert isinstance(caught.value, ValueError)


def fake_mmdc(directory: Path, body: str) -> None:
    script = directory / "mmdc"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


def test_png_through_the_local_mermaid_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # given an mmdc that copies its input after a PNG signature and records its arguments
    fake_mmdc(
        tmp_path,
        'echo "$@" > "$(dirname "$0")/args"\n'
        'while [ $# -gt 0 ]; do case "$1" in --input) in="$2";; --output) out="$2";; esac; shift; done\n'
        'printf \'\\211PNG\' > "$out"; cat "$in" >> "$out"\n',
    )
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")
    target = tmp_path / "out.png"

    image = draw_mermaid_png(nx.DiGraph([("a", "b")]), str(target), title="T", background_color="transparent")

    assert image.startswith(b"\x89PNG")
    assert image[4:].decode() == draw_mermaid(nx.DiGraph([("a", "b")]), title="T")
    assert target.read_bytes() == image
    assert "--backgroundColor transparent" in (tmp_path / "args").read_text()


def test_failing_local_renderer_reports_its_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_mmdc(tmp_path, "echo 'Error: bad diagram' >&2\nexit 3\n")
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(MermaidRenderError, match="exit code 3: Error: bad diagram"):
        draw_mermaid_png(nx.DiGraph([("a", "b")]))


class InkStub(http.server.BaseHTTPRequestHandler):
    """A loopback stand-in for the mermaid.ink service: answers with the statuses queued in ``replies``."""

    replies: list[int] = []
    paths: list[str] = []

    def do_GET(self) -> None:
        InkStub.paths.append(self.path)
        status = InkStub.replies.pop(0) if InkStub.replies else 200
        self.send_response(status)
        self.end_headers()
        if status == 200:
            self.wfile.write(b"\x89PNG-from-stub")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def ink(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[InkStub]]:
    server = http.server.HTTPServer(("127.0.0.1", 0), InkStub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    InkStub.replies, InkStub.paths = [], []
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(mermaid_png, "MERMAID_INK_URL", f"http://127.0.0.1:{server.server_port}/img/")
    try:
        yield InkStub
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_remote_rendering_sends_the_diagram_in_base64_and_retries_server_errors(ink: type[InkStub]) -> None:
    # given a service that fails once with a server error
    ink.replies = [503]

    image = draw_mermaid_png(nx.DiGraph([("a", "b")]), remote=True, retry_delay=0.0)

    assert image == b"\x89PNG-from-stub"
    assert len(ink.paths) == 2
    url = urllib.parse.urlparse(ink.paths[-1])
    sent = base64.b64decode(url.path.removeprefix("/img/")).decode()
    assert sent == draw_mermaid(nx.DiGraph([("a", "b")]))
    assert urllib.parse.parse_qs(url.query) == {"type": ["png"], "bgColor": ["!white"]}


def test_remote_rendering_gives_up_at_once_on_a_client_error(ink: type[InkStub]) -> None:
    ink.replies = [400]

    with pytest.raises(MermaidRenderError, match="status 400"):
        draw_mermaid_png(nx.DiGraph([("a", "b")]), remote=True, max_retries=3, retry_delay=0.0)
    assert len(ink.paths) == 1


def test_remote_rendering_stops_after_the_allowed_retries(ink: type[InkStub]) -> None:
    ink.replies = [500, 500, 500]

    with pytest.raises(MermaidRenderError, match="after 2 retries"):
        draw_mermaid_png(nx.DiGraph([("a", "b")]), remote=True, max_retries=2, retry_delay=0.0)
    assert len(ink.paths) == 3

"""Text output of a workflow graph: Mermaid, dependencies, graph info (D25)."""

from graflow import task, workflow

with workflow("render") as wf:

    @task
    def fetch():
        return 1

    @task
    def clean():
        return 2

    @task
    def enrich():
        return 3

    @task
    def store():
        return 4

    fetch >> (clean | enrich).set_group_name("prepare") >> store

print("--- dependencies ---")
wf.visualize_dependencies()

print("--- mermaid ---")
try:
    from graflow.utils.graph import draw_mermaid
except ImportError as e:
    print("graflow.utils.graph needs", e.name)
else:
    print(draw_mermaid(wf.graph.nx_graph(), title="Render demo"))

print("--- mermaid of a plain chain ---")
with workflow("chain") as wf2:

    @task("step one")
    def one():
        return 1

    @task
    def two():
        return 2

    one >> two
try:
    from graflow.utils.graph import draw_mermaid
except ImportError as e:
    print("graflow.utils.graph needs", e.name)
else:
    print(draw_mermaid(wf2.graph.nx_graph(), with_styles=False))

print("--- graph info ---")
try:
    from graflow.utils.graph import show_graph_info
except ImportError as e:
    print("graflow.utils.graph needs", e.name)
else:
    show_graph_info(wf2.graph.nx_graph())

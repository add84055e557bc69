"""The graph's read API is networkx's: node views, edges, degrees and neighbours, as 0.2 programs walk them."""

from graflow import task, workflow

with workflow("graph_api") as wf:

    @task
    def extract():
        return [3, 1, 2]

    @task
    def clean(extract):
        return sorted(extract)

    @task
    def stats(clean):
        return sum(clean)

    @task
    def plot(clean):
        return f"plot of {len(clean)}"

    @task
    def report(stats, plot):
        return f"{stats} / {plot}"

    extract >> clean >> (stats | plot) >> report
    graph = wf.graph

    print("--- node views ---")
    print("keys:", sorted(graph.nodes.keys()))
    print("len / in:", len(graph.nodes), "clean" in graph.nodes, "missing" in graph.nodes)
    print("items:", sorted(name for name, data in graph.nodes.items() if "task" in data))
    print("values carry tasks:", all("task" in data for data in graph.nodes.values()))
    print("data=True:", sorted(name for name, data in graph.nodes(data=True)))
    print("attribute dict:", type(graph.nodes["clean"]["task"]).__name__, graph.nodes["clean"]["task"].task_id)
    print("underlying graph:", sorted(graph._graph.nodes()))

    print("--- edges and neighbours ---")
    print("edges:", sorted(graph.edges))
    print("successors:", sorted(graph.successors("clean")))
    print("predecessors:", sorted(graph.predecessors("clean")))
    print("has_node / has_edge:", graph._graph.has_node("plot"), graph._graph.has_edge("extract", "clean"),
          graph._graph.has_edge("clean", "extract"))
    print("number_of_nodes:", graph._graph.number_of_nodes())
    print("neighbors:", sorted(graph._graph.neighbors("extract")))

    print("--- degrees ---")
    print("in_degree:", sorted(dict(graph._graph.in_degree()).items()))
    print("out_degree of clean:", graph._graph.out_degree("clean"))

    print("--- as networkx ---")
    nx_graph = graph.nx_graph()
    print("type:", type(nx_graph).__name__, "nodes:", nx_graph.number_of_nodes(), "edges:", nx_graph.number_of_edges())
    print("walk:", [name for name in sorted(graph.nodes.keys()) if graph._graph.in_degree(name) == 0])

    print("--- running ---")
    print("result:", wf.execute("extract"))

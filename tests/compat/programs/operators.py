"""The composition operators: >>, <<, |, chain, parallel, and the graphs they build."""

from graflow import chain, parallel, task, workflow
from graflow.core.task import ParallelGroup, SequentialTask
from graflow.exceptions import GraphCompilationError

order: list[str] = []


def make(name):
    @task(name)
    def _t():
        order.append(name)
        return name.upper()

    return _t


def show(wf):
    print("nodes:", sorted(wf.graph.nodes))
    print("edges:", sorted(wf.graph.edges))


print("--- rshift ---")
with workflow("rshift") as wf:
    a, b, c = make("a"), make("b"), make("c")
    seq = a >> b >> c
    print(type(seq).__name__, repr(seq), seq.task_id, len(seq), [t.task_id for t in seq], seq[1].task_id)
    show(wf)
    order.clear()
    print("result:", wf.execute("a"), order)

print("--- lshift ---")
with workflow("lshift") as wf:
    a, b, c = make("a"), make("b"), make("c")
    c << b << a
    show(wf)
    order.clear()
    print("result:", wf.execute("a"), order)

print("--- sequence on the right ---")
with workflow("right") as wf:
    x, a, b = make("x"), make("a"), make("b")
    x >> (a >> b)
    show(wf)

print("--- chain ---")
with workflow("chain") as wf:
    a, b, c = make("a"), make("b"), make("c")
    seq = chain(a, b, c)
    print(isinstance(seq, SequentialTask), repr(seq))
    show(wf)
    single = chain(a)
    print("single:", type(single).__name__, single.task_id)
    order.clear()
    print("result:", wf.execute("a"), order)

print("--- parallel ---")
with workflow("parallel") as wf:
    a, b, c = make("a"), make("b"), make("c")
    group = parallel(a, b, c)
    print(isinstance(group, ParallelGroup), group.task_id, [t.task_id for t in group.tasks])
    show(wf)
    try:
        parallel(a)
    except ValueError as e:
        print("parallel(a):", type(e).__name__)

print("--- pipe ---")
with workflow("pipe") as wf:
    a, b, c = make("a"), make("b"), make("c")
    g1 = a | b
    g2 = g1 | c
    print(g1 is g2, g2.task_id, [t.task_id for t in g2.tasks])
    show(wf)

print("--- group between tasks ---")
with workflow("between") as wf:
    a, b, c, d = make("a"), make("b"), make("c"), make("d")
    a >> (b | c) >> d
    show(wf)
    order.clear()
    result = wf.execute("a")
    print("result:", result)
    print("first:", order[0], "middle:", sorted(order[1:3]), "last:", order[3])

print("--- named group ---")
with workflow("named") as wf:
    a, b, c, d = make("a"), make("b"), make("c"), make("d")
    group = (b | c).set_group_name("fanout")
    print("group id:", group.task_id)
    a >> group >> d
    show(wf)
    order.clear()
    wf.execute("a")
    print("ran:", order[0], sorted(order[1:3]), order[3])

print("--- branch sequence inside a group ---")
with workflow("branch_seq") as wf:
    a, b, c, d = make("a"), make("b"), make("c"), make("d")
    g = a | (b >> c)
    print("members:", [t.task_id for t in g.tasks])
    g >> d
    show(wf)
    order.clear()
    wf.execute(g.task_id)
    print("c after b:", order.index("c") > order.index("b"), "d last:", order[-1])

print("--- start node detection ---")
with workflow("two_starts") as wf:
    make("p")
    make("q")
    try:
        wf.execute()
    except GraphCompilationError as e:
        print("GraphCompilationError:", e)
with workflow("pure_loop") as wf:
    agent, tool = make("agent"), make("tool")
    agent >> tool >> agent
    try:
        wf.execute()
    except GraphCompilationError as e:
        print("GraphCompilationError:", e)
with workflow("single_start") as wf:
    a, b = make("a"), make("b")
    a >> b
    order.clear()
    print("auto start result:", wf.execute(), order)

print("--- start detection with a group (D4) ---")
with workflow("group_start") as wf:
    a, b, c, d = make("a"), make("b"), make("c"), make("d")
    a >> (b | c) >> d
    try:
        order.clear()
        wf.execute()
        print("auto-detected start ran:", order[0], "then", sorted(order[1:3]), "then", order[3])
    except GraphCompilationError as e:
        print("GraphCompilationError:", e)

print("--- nested pipe x | (y | z) (D5) ---")
with workflow("nested_pipe") as wf:
    x, y, z = make("x"), make("y"), make("z")
    g = x | (y | z)
    print("members:", [t.task_id for t in g.tasks])
    print("edges:", sorted(wf.graph.edges))
    order.clear()
    wf.execute(g.task_id)
    print("ran:", sorted(order))

print("--- trailing group result (D17) ---")
with workflow("trailing") as wf:
    a, b, c = make("a"), make("b"), make("c")
    a >> (b | c)
    print("result:", wf.execute("a"))

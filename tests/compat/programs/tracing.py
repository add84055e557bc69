"""Tracers: the console tracer's lines and a custom tracer's hooks (D18)."""

import contextlib
import io
import re

from graflow import task, workflow
from graflow.trace import ConsoleTracer, NoopTracer, Tracer


def normalize(text):
    """Drop what changes between runs: timestamps, durations, hex ids."""
    text = re.sub(r"\[\d\d:\d\d:\d\d\.\d{3}\] ", "", text)
    text = re.sub(r"\(\d+(\.\d+)?ms\)", "(<n>ms)", text)
    text = re.sub(r"[0-9a-f]{32}", "<trace_id>", text)
    text = re.sub(r"workflow_[0-9a-f]{8}", "workflow_<8hex>", text)
    return text


def build(tracer):
    wf = workflow("traced_pipeline", tracer=tracer)
    with wf:

        @task
        def extract():
            return [1, 2]

        @task(inject_context=True)
        def transform(ctx):
            if ctx.get_channel().get("fail"):
                raise ValueError("bad row")
            return "ok"

        extract >> transform
    return wf


print("--- console tracer ---")
buffer = io.StringIO()
with contextlib.redirect_stdout(buffer):
    build(ConsoleTracer(enable_colors=False, show_metadata=False)).execute("extract")
print(normalize(buffer.getvalue()).rstrip())

print("--- console tracer on failure ---")
buffer = io.StringIO()
with contextlib.redirect_stdout(buffer):
    try:
        build(ConsoleTracer(enable_colors=False, show_metadata=False)).execute("extract", initial_channel={"fail": 1})
    except Exception as e:
        print("raised", type(e).__name__)
print(normalize(buffer.getvalue()).rstrip())


class Recorder(Tracer):
    """Collects the engine events it is told about."""

    def __init__(self):
        super().__init__()
        self.events = []

    # Output hooks a tracer subclass provides (this one only records engine events).
    def _output_trace_start(self, name, trace_id, metadata):
        pass

    def _output_trace_end(self, name, output, metadata):
        pass

    def _output_span_start(self, name, parent_name, metadata):
        pass

    def _output_span_end(self, name, output, metadata):
        pass

    def _output_event(self, name, parent_span, metadata):
        pass

    def _output_attach_to_trace(self, trace_id, parent_span_id):
        pass

    def clone(self, trace_id):
        return self

    def on_workflow_start(self, workflow_name, context):
        self.events.append(f"workflow_start {workflow_name}")
        super().on_workflow_start(workflow_name, context)

    def on_workflow_end(self, workflow_name, context, result=None):
        self.events.append(f"workflow_end {workflow_name}")
        super().on_workflow_end(workflow_name, context, result)

    def on_task_start(self, task, context):
        self.events.append(f"task_start {task.task_id}")
        super().on_task_start(task, context)

    def on_task_end(self, task, context, result=None, error=None):
        self.events.append(f"task_end {task.task_id} error={type(error).__name__ if error else None}")
        super().on_task_end(task, context, result, error)

    def on_dynamic_task_added(self, task_id, parent_task_id=None, is_iteration=False, metadata=None):
        self.events.append(f"dynamic {re.sub(r'_[0-9a-f]{8}$', '', task_id)} parent={parent_task_id} "
                           f"iteration={is_iteration}")
        super().on_dynamic_task_added(task_id, parent_task_id, is_iteration, metadata)

    def on_parallel_group_start(self, group_id, member_ids, context):
        self.events.append(f"group_start {group_id} {sorted(member_ids)}")

    def on_parallel_group_end(self, group_id, member_ids, context, results=None):
        self.events.append(f"group_end {group_id}")


print("--- custom tracer: task events ---")
recorder = Recorder()
build(recorder).execute("extract")
print("\n".join(normalize(e) for e in recorder.events))
print(normalize(f"execution order: {recorder.get_execution_order()}"))

print("--- custom tracer: dynamic tasks ---")
recorder = Recorder()
with workflow("dynamic", tracer=recorder) as wf:

    @task(inject_context=True, max_cycles=2)
    def grow(ctx, data=None):
        if ctx.can_iterate():
            ctx.next_iteration()

wf.execute("grow")
print("\n".join(e for e in recorder.events if e.startswith("dynamic")))

print("--- custom tracer: workflow name (D18) ---")
print("\n".join(normalize(e) for e in recorder.events if e.startswith("workflow")))

print("--- custom tracer: parallel group hooks (D18) ---")
recorder = Recorder()
with workflow("groups", tracer=recorder) as wf:

    @task
    def left():
        return "l"

    @task
    def right():
        return "r"

    (left | right).set_group_name("both")
wf.execute("both")
print("\n".join(sorted(e for e in recorder.events if e.startswith("group"))))

print("--- noop tracer runtime graph ---")
noop = NoopTracer()
build(noop).execute("extract")
graph = noop.get_runtime_graph()
print(normalize(f"runtime graph nodes: {sorted(graph.nodes) if graph is not None else None}"))

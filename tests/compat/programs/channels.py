"""The channel: plain keys, list and counter operations, results, initial_channel, typed channels."""

from typing import TypedDict

from graflow import task, workflow
from graflow.channels.memory_channel import MemoryChannel
from graflow.channels.typed import TypedChannel
from graflow.core.context import TaskExecutionContext

print("--- memory channel operations ---")
ch = MemoryChannel("demo")
ch.set("a", 1)
print("get:", ch.get("a"), ch.get("missing"), ch.get("missing", "dflt"))
print("exists:", ch.exists("a"), ch.exists("missing"))
print("append:", ch.append("log", "x"), ch.append("log", "y"), ch.get("log"))
print("prepend:", ch.prepend("log", "w"), ch.get("log"))
print("atomic_add:", ch.atomic_add("n"), ch.atomic_add("n", 5), ch.atomic_add("f", 0.5))
print("keys:", ch.keys())
print("delete:", ch.delete("a"), ch.delete("a"), ch.exists("a"))
with ch.lock("n"):
    ch.set("n", ch.get("n") + 1)
print("after lock:", ch.get("n"))
ch.set("text", "abc")
try:
    ch.append("text", "d")
except TypeError:
    print("append to a non-list: TypeError")
try:
    ch.atomic_add("text")
except TypeError:
    print("atomic_add to a non-number: TypeError")
ch.clear()
print("after clear:", ch.keys())

print("--- tasks share the channel ---")
with workflow("share") as wf:

    @task(inject_context=True)
    def producer(ctx: TaskExecutionContext):
        channel = ctx.get_channel()
        channel.set("greeting", "hello")
        channel.append("events", "produced")
        channel.atomic_add("count", 2)
        return "produced"

    @task(inject_context=True)
    def consumer(ctx: TaskExecutionContext):
        channel = ctx.get_channel()
        channel.append("events", "consumed")
        return f"{channel.get('greeting')} x{channel.get('count')} {channel.get('events')}"

    producer >> consumer
    result, ctx = wf.execute("producer", ret_context=True)
    print("result:", result)
    print("get_result:", ctx.get_result("producer"), ctx.get_result("consumer"))
    print("result key:", ctx.get_channel().get("producer.__result__"))
    print("keys:", sorted(ctx.get_channel().keys()))

print("--- initial_channel ---")
with workflow("initial") as wf:

    @task(inject_context=True)
    def read_config(ctx):
        channel = ctx.get_channel()
        return f"{channel.get('env')}/{channel.get('retries')}"

    print("result:", wf.execute("read_config", initial_channel={"env": "prod", "retries": 3}))
    print("next run starts clean:", wf.execute("read_config"))


class Progress(TypedDict):
    task: str
    percent: int


print("--- typed channel ---")
with workflow("typed") as wf:

    @task(inject_context=True)
    def report(ctx):
        typed = ctx.get_typed_channel(Progress)
        print("  is TypedChannel:", isinstance(typed, TypedChannel))
        typed.set("progress", {"task": "report", "percent": 50})
        try:
            typed.set("bad", {"task": "report", "percent": "half"})
        except TypeError as e:
            print("  wrong type:", e)
        try:
            typed.set("bad", {"task": "report"})
        except TypeError as e:
            print("  missing key:", e)
        try:
            typed.send("bad", {"task": "report", "percent": 1, "extra": True})
        except TypeError as e:
            print("  extra key:", e)
        ctx.get_channel().set("raw", {"task": 1})
        print("  invalid stored value reads as:", typed.get("raw"))
        print("  missing key reads as:", typed.receive("nothing"))
        return typed.get("progress")

    print("result:", wf.execute("report"))
    try:
        TypedChannel(MemoryChannel("x"), dict)
    except ValueError:
        print("non-TypedDict: ValueError")

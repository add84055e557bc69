"""Automatic keyword resolution: parameters filled from results and channel keys (D11, D12)."""

from graflow import task, workflow
from graflow.exceptions import GraflowRuntimeError

print("--- parameter named after an upstream task ---")
with workflow("by_result") as wf:

    @task
    def numbers():
        return [1, 2, 3]

    @task
    def total(numbers: list) -> int:
        return sum(numbers)

    numbers >> total
    print("result:", wf.execute("numbers"))

print("--- plain channel keys and defaults ---")
with workflow("by_key") as wf:

    @task
    def greet(name: str, punctuation: str = "!") -> str:
        return f"hello {name}{punctuation}"

    print("from initial_channel:", wf.execute("greet", initial_channel={"name": "ada"}))
    print("channel beats default:", wf.execute("greet", initial_channel={"name": "ada", "punctuation": "?"}))

print("--- result beats plain key ---")
with workflow("priority") as wf:

    @task
    def value():
        return "from result"

    @task
    def show(value: str) -> str:
        return value

    value >> show
    print("result:", wf.execute("value", initial_channel={"value": "from key"}))

print("--- resolution can be turned off ---")
with workflow("off") as wf:

    @task(resolve_keyword_args=False)
    def uses_default(name: str = "default") -> str:
        return name

    print("result:", wf.execute("uses_default", initial_channel={"name": "channel"}))

print("--- bound keywords beat the channel ---")
with workflow("bound") as wf:

    @task
    def echo(word: str) -> str:
        return word

    bound = echo(task_id="echo_bound", word="bound")
    print("result:", wf.execute("echo_bound", initial_channel={"word": "channel"}))

print("--- missing argument ---")
with workflow("missing") as wf:

    @task
    def needs(thing: str) -> str:
        return thing

    try:
        wf.execute("needs")
    except GraflowRuntimeError as e:
        print("GraflowRuntimeError caused by:", type(e.cause).__name__)

print("--- keys of a returned mapping (D11) ---")
with workflow("mapping") as wf:

    @task
    def fetch():
        return {"users": 1200, "region": "eu"}

    @task
    def validate(users: int) -> str:
        return f"{users} users ok"

    fetch >> validate
    try:
        print("result:", wf.execute("fetch"))
    except GraflowRuntimeError as e:
        print("GraflowRuntimeError caused by:", type(e.cause).__name__)

print("--- execute keyword arguments seed the channel (D12) ---")
with workflow("seed") as wf:

    @task
    def check(record: dict) -> str:
        return f"record {record['id']} checked"

    try:
        print("result:", wf.execute("check", record={"id": 7}))
    except TypeError:
        print("execute(record=...): TypeError")

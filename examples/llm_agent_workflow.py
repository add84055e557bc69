"""A workflow whose tasks call a model: an agent with a tool researches, the run's client drafts and reviews.

The tasks do not build their model objects: they ask the run for them.

- ``research`` receives the agent registered as ``researcher`` (``@task(inject_llm_agent="researcher")``). The
  workflow registers a *factory* for it, called with the run's context when the run starts: a pydantic-ai agent
  (wrapped as ``PydanticLLMAgent``) on the run's model that may call the ``lookup_fact`` tool. A factory is also
  what lets the same workflow run on Redis workers, which rebuild the agent instead of receiving a live one.
- ``draft`` and ``review`` receive the run's ``LLMClient`` (``@task(inject_llm_client=True)``): ``draft`` asks for a
  short paragraph, ``review`` streams a one-line review.

Each call's tokens and latency are printed as they happen; a ``MetricsHook`` counts the run's tokens per model.

Which model answers is chosen as in ``llm_simple_client.py``: ``GRAFLOW_LLM_API_BASE`` (or ``OPENAI_API_BASE``),
``--live``, or by default a scripted local server, so the example runs offline. The run's client and the agent
find the endpoint in ``GRAFLOW_LLM_MODEL``, ``GRAFLOW_LLM_API_BASE`` and ``GRAFLOW_LLM_API_KEY``.

Run it with ``python examples/llm_agent_workflow.py`` (needs ``pip install 'graflow[llm,agents]'``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

if "--live" not in sys.argv:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from graflow import task, workflow
from graflow.core.context import ExecutionContext
from graflow.core.workflow import WorkflowContext
from graflow.llm import LLMAgent, LLMClient, events, make_message
from graflow.llm.agents.pydantic_agent import PydanticLLMAgent, create_pydantic_ai_agent
from graflow.llm.settings import is_installed
from graflow.observability.metrics import InMemoryMetricsCollector, MetricsHook
from graflow.testing.fake_llm import FakeLLMServer, tool_call

TOPIC = "Graflow"
FACTS = {"graflow": "Graflow runs Python functions as tasks of a graph, locally or on Redis workers."}

#: What the offline server answers, in request order: the agent's tool call and answer, the draft, the review.
OFFLINE_REPLIES = [
    tool_call("lookup_fact", {"topic": "graflow"}),
    "Graflow turns Python functions into tasks of a graph that runs locally or on Redis workers.",
    "Graflow lets you write a workflow as plain Python functions joined by >> and |.",
    "Clear and accurate.",
]


@contextmanager
def endpoint() -> Iterator[None]:
    """Point the run's default client (and the agent) at the model of this run (see the module docstring)."""
    base = os.environ.get("GRAFLOW_LLM_API_BASE") or os.environ.get("OPENAI_API_BASE")
    if "--live" in sys.argv:
        os.environ.setdefault("GRAFLOW_LLM_MODEL", "gpt-5-mini")
        yield
    elif base:
        os.environ["GRAFLOW_LLM_API_BASE"] = base
        os.environ.setdefault("GRAFLOW_LLM_API_KEY", os.environ.get("OPENAI_API_KEY") or "test")
        os.environ.setdefault("GRAFLOW_LLM_MODEL", "openai/test-model")
        yield
    else:
        print("(no GRAFLOW_LLM_API_BASE set: answering from a local scripted server)")
        with FakeLLMServer(OFFLINE_REPLIES) as server:
            os.environ.update(GRAFLOW_LLM_API_BASE=server.base_url, GRAFLOW_LLM_API_KEY="test",
                              GRAFLOW_LLM_MODEL="openai/test-model")
            yield


def make_researcher(ctx: ExecutionContext) -> PydanticLLMAgent:
    """The ``researcher`` agent of one run, on the run's model, with its tool."""
    researcher = create_pydantic_ai_agent(
        ctx.llm_client.model, name="researcher", instructions="Research the topic; use lookup_fact for facts.")

    @researcher.tool_plain
    def lookup_fact(topic: str) -> str:
        """A known fact about ``topic``."""
        return FACTS.get(topic.lower(), "no fact known")

    return PydanticLLMAgent(researcher, enable_tracing=False)


def build(metrics: InMemoryMetricsCollector) -> WorkflowContext:
    with workflow("llm_article", hooks=[MetricsHook(metrics)]) as wf:
        wf.register_llm_agent("researcher", make_researcher)

        @task(inject_llm_agent="researcher")
        def research(llm_agent: LLMAgent) -> str:
            result = llm_agent.run(f"What is {TOPIC}?")
            print(f"research used {result['metadata']['usage']['total_tokens']} tokens in "
                  f"{len(result['steps'])} steps")
            return str(result["output"])

        @task(inject_llm_client=True)
        def draft(llm_client: LLMClient, research: str) -> str:
            return llm_client.completion_text(
                [make_message("system", "Write one short paragraph."), make_message("user", research)],
                generation_name="draft")

        @task(inject_llm_client=True)
        def review(llm_client: LLMClient, draft: str) -> str:
            return "".join(llm_client.stream_text([make_message("user", f"Review in one line: {draft}")]))

        research >> draft >> review
    return wf


def main() -> None:
    if not is_installed("pydantic_ai"):
        print("This example needs pydantic-ai: pip install 'graflow[llm,agents]'")
        return
    calls: list[events.LLMCallEvent] = []

    def report(event: events.LLMCallEvent) -> None:
        calls.append(event)
        print(f"  [{event.operation}] {event.model}: {event.total_tokens} tokens, {event.requests} request(s)")

    metrics = InMemoryMetricsCollector()
    with events.listening(report), endpoint():
        wf = build(metrics)
        review, ctx = wf.execute("research", ret_context=True)
        print("draft: ", ctx.get_result("draft"))
        print("review:", review)
    print(f"{len(calls)} LLM calls, {sum(e.total_tokens or 0 for e in calls)} tokens in total")
    for (model, kind), tokens in sorted(metrics.llm_tokens.items()):
        print(f"metrics: {model} {kind} tokens = {tokens}")


if __name__ == "__main__":
    main()

"""A workflow whose tasks call a model: an agent with a tool researches, a client drafts, a stream reviews.

``research`` runs a pydantic-ai agent (wrapped as ``PydanticLLMAgent``) that may call the ``lookup_fact`` tool;
``draft`` asks an ``LLMClient`` for a short paragraph built from the research; ``review`` streams a one-line review.
Each call's tokens and latency are printed as they happen, and the totals at the end.

Which model answers is chosen as in ``llm_simple_client.py``: ``GRAFLOW_LLM_API_BASE`` (or ``OPENAI_API_BASE``),
``--live``, or by default a scripted local server, so the example runs offline.

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
from graflow.core.workflow import WorkflowContext
from graflow.llm import LLMClient, events, make_message
from graflow.llm.agents.pydantic_agent import PydanticLLMAgent, create_pydantic_ai_agent
from graflow.llm.settings import is_installed
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
def endpoint() -> Iterator[tuple[str, dict[str, str]]]:
    """``(model, connection options)`` for this run (see the module docstring)."""
    base = os.environ.get("GRAFLOW_LLM_API_BASE") or os.environ.get("OPENAI_API_BASE")
    if "--live" in sys.argv:
        yield os.environ.get("GRAFLOW_LLM_MODEL", "gpt-5-mini"), {}
    elif base:
        key = os.environ.get("GRAFLOW_LLM_API_KEY") or os.environ.get("OPENAI_API_KEY") or "test"
        yield os.environ.get("GRAFLOW_LLM_MODEL", "openai/test-model"), {"api_base": base, "api_key": key}
    else:
        print("(no GRAFLOW_LLM_API_BASE set: answering from a local scripted server)")
        with FakeLLMServer(OFFLINE_REPLIES) as server:
            yield "openai/test-model", {"api_base": server.base_url, "api_key": "test"}


def build(model: str, options: dict[str, str]) -> WorkflowContext:
    client = LLMClient(model, enable_tracing=False, **options)
    researcher = create_pydantic_ai_agent(
        model, name="researcher", instructions="Research the topic; use lookup_fact for facts.",
        base_url=options.get("api_base"), api_key=options.get("api_key"))

    @researcher.tool_plain
    def lookup_fact(topic: str) -> str:
        """A known fact about ``topic``."""
        return FACTS.get(topic.lower(), "no fact known")

    agent = PydanticLLMAgent(researcher, enable_tracing=False)

    with workflow("llm_article") as wf:

        @task
        def research() -> str:
            result = agent.run(f"What is {TOPIC}?")
            print(f"research used {result['metadata']['usage']['total_tokens']} tokens in "
                  f"{len(result['steps'])} steps")
            return str(result["output"])

        @task
        def draft(research: str) -> str:
            return client.completion_text(
                [make_message("system", "Write one short paragraph."), make_message("user", research)],
                generation_name="draft")

        @task
        def review(draft: str) -> str:
            return "".join(client.stream_text([make_message("user", f"Review in one line: {draft}")]))

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

    with events.listening(report), endpoint() as (model, options):
        wf = build(model, options)
        review, ctx = wf.execute("research", ret_context=True)
        print("draft: ", ctx.get_result("draft"))
        print("review:", review)
    print(f"{len(calls)} LLM calls, {sum(e.total_tokens or 0 for e in calls)} tokens in total")


if __name__ == "__main__":
    main()

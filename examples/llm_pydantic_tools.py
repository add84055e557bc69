"""A pydantic-ai agent with tools, run by a workflow task: it looks a fact up, converts it, then answers.

The agent is a ``pydantic_ai.Agent`` with two plain tools, ``lookup_peak`` (the height of a mountain, from a small
table) and ``convert_units`` (metres, feet, kilometres and miles), wrapped as Graflow's ``PydanticLLMAgent``. The
workflow registers a factory for it (``wf.register_llm_agent("guide", make_guide)``) and the ``ask`` task
receives it with ``@task(inject_llm_agent="guide")``.

The example prints the agent's tools (``agent.tools``), then the tool calls the run made, taken from the result's
``metadata["new_messages"]`` (pydantic-ai's messages of this run), the run's ``steps``, the answer and its usage.

Which model answers is chosen as in ``llm_agent_workflow.py``: ``GRAFLOW_LLM_API_BASE`` (or ``OPENAI_API_BASE``),
``--live`` (the provider of ``GRAFLOW_LLM_MODEL``, default ``gpt-5-mini``), or by default a local scripted server
that asks for both tools in turn and then answers, so the example runs offline.

Run it with ``python examples/llm_pydantic_tools.py`` (needs ``pip install 'graflow[llm,agents]'``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

if "--live" not in sys.argv:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from graflow import task, workflow
from graflow.core.context import ExecutionContext
from graflow.core.workflow import WorkflowContext
from graflow.llm import LLMAgent
from graflow.llm.agents.pydantic_agent import PydanticLLMAgent, create_pydantic_ai_agent
from graflow.llm.settings import is_installed
from graflow.testing.fake_llm import FakeLLMServer, FakeReply, tool_call

QUESTION = "How high is Mont Blanc in feet?"

PEAKS_M = {"mont blanc": 4806, "matterhorn": 4478, "mount fuji": 3776, "denali": 6190}
METRES_PER_UNIT = {"m": 1.0, "km": 1000.0, "ft": 0.3048, "mi": 1609.344}

#: What the offline server answers, in request order: two tool calls, then the final answer.
OFFLINE_REPLIES: list[FakeReply | str] = [
    tool_call("lookup_peak", {"name": "Mont Blanc"}),
    tool_call("convert_units", {"value": 4806, "from_unit": "m", "to_unit": "ft"}),
    "Mont Blanc is 4806 m high, which is about 15768 ft.",
]


def lookup_peak(name: str) -> str:
    """The height of a mountain in metres.

    Args:
        name: The mountain's name, e.g. "Mont Blanc".
    """
    height = PEAKS_M.get(name.strip().lower())
    return f"{name}: {height} m" if height is not None else f"{name}: unknown peak"


def convert_units(value: float, from_unit: str, to_unit: str) -> str:
    """Convert a length between units.

    Args:
        value: The length to convert.
        from_unit: Its unit: m, km, ft or mi.
        to_unit: The unit wanted: m, km, ft or mi.
    """
    if from_unit not in METRES_PER_UNIT or to_unit not in METRES_PER_UNIT:
        return f"unknown unit; use one of {', '.join(METRES_PER_UNIT)}"
    converted = value * METRES_PER_UNIT[from_unit] / METRES_PER_UNIT[to_unit]
    return f"{value:g} {from_unit} = {converted:.1f} {to_unit}"


@contextmanager
def endpoint() -> Iterator[None]:
    """Point the agent at the model of this run (see the module docstring)."""
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


def make_guide(ctx: ExecutionContext) -> PydanticLLMAgent:
    """The ``guide`` agent of one run: the run's model and the two tools."""
    guide = create_pydantic_ai_agent(
        ctx.llm_client.model, name="guide",
        instructions="Answer questions about mountains. Look heights up with lookup_peak and convert them with "
                     "convert_units; never guess a number.")
    guide.tool_plain(lookup_peak)
    guide.tool_plain(convert_units)
    return PydanticLLMAgent(guide, enable_tracing=False)


def tool_calls(new_messages: list[Any]) -> list[tuple[str, str, str]]:
    """``(tool, arguments, result)`` of every tool call in a run's pydantic-ai messages, in call order."""
    calls: dict[str, list[str]] = {}
    for message in new_messages:
        for part in message.parts:
            if part.part_kind == "tool-call":
                calls[part.tool_call_id] = [part.tool_name, part.args_as_json_str(), ""]
            elif part.part_kind == "tool-return" and part.tool_call_id in calls:
                calls[part.tool_call_id][2] = str(part.content)
    return [(name, args, result) for name, args, result in calls.values()]


def build() -> WorkflowContext:
    with workflow("mountain_guide") as wf:
        wf.register_llm_agent("guide", make_guide)

        @task(inject_llm_agent="guide")
        def ask(llm_agent: LLMAgent) -> str:
            print(f"agent {llm_agent.name!r} on {llm_agent.metadata['model']} has tools:")
            for tool in llm_agent.tools:
                print(f"  {tool.name}: {tool.description}")

            result = llm_agent.run(QUESTION)
            print(f"question: {QUESTION}")
            for name, args, value in tool_calls(result["metadata"]["new_messages"]):
                print(f"tool call: {name}({args}) -> {value}")
            print("steps:")
            for step in result["steps"]:
                final = " (final)" if step["is_final"] else ""
                print(f"  {step['type']}{final}: {' | '.join(str(part) for part in step['content'])}")
            usage = result["metadata"]["usage"]
            print(f"usage: {usage['requests']} requests, {usage['total_tokens']} tokens")
            return str(result["output"])

        @task
        def report(ask: str) -> str:
            return f"answer: {ask}"

        ask >> report
    return wf


def main() -> None:
    if not is_installed("pydantic_ai"):
        print("This example needs pydantic-ai: pip install 'graflow[llm,agents]'")
        return
    with endpoint():
        print(build().execute("ask"))


if __name__ == "__main__":
    main()

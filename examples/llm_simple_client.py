"""LLMClient in a few calls: text, streaming, a tool call round trip, async, and per-call token reports.

Which model answers:

- ``GRAFLOW_LLM_API_BASE`` (or ``OPENAI_API_BASE``) set: that OpenAI-compatible endpoint, with model
  ``GRAFLOW_LLM_MODEL`` (default ``openai/test-model``) and key ``GRAFLOW_LLM_API_KEY`` / ``OPENAI_API_KEY``;
- ``--live``: the provider of ``GRAFLOW_LLM_MODEL`` (default ``gpt-5-mini``) with its usual API key variable;
- otherwise: a scripted local server (``graflow.testing.fake_llm``), so the example runs offline.

Run it with ``python examples/llm_simple_client.py`` (needs ``pip install 'graflow[llm]'``).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

# Offline runs use the price list LiteLLM ships instead of downloading it at import.
if "--live" not in sys.argv:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from graflow.llm import LLMClient, events, extract_text, make_message
from graflow.testing.fake_llm import FakeLLMServer, tool_call

TIME_TOOL = {"type": "function", "function": {
    "name": "local_time", "description": "The local time in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}

#: What the offline server answers, one entry per request below.
OFFLINE_REPLIES = [
    "Graflow runs Python tasks as a graph.",
    "Tasks, edges and parallel groups.",
    tool_call("local_time", {"city": "Tokyo"}),
    "It is 09:00 in Tokyo.",
    "Async calls work the same way.",
]


def local_time(city: str) -> str:
    """The tool the model may call (a fixed answer keeps the example deterministic)."""
    return f"09:00 in {city}"


@contextmanager
def llm_client() -> Iterator[LLMClient]:
    """The client this example talks to (see the module docstring)."""
    base = os.environ.get("GRAFLOW_LLM_API_BASE") or os.environ.get("OPENAI_API_BASE")
    if "--live" in sys.argv:
        yield LLMClient(os.environ.get("GRAFLOW_LLM_MODEL", "gpt-5-mini"))
    elif base:
        key = os.environ.get("GRAFLOW_LLM_API_KEY") or os.environ.get("OPENAI_API_KEY") or "test"
        yield LLMClient(os.environ.get("GRAFLOW_LLM_MODEL", "openai/test-model"), api_base=base, api_key=key)
    else:
        print("(no GRAFLOW_LLM_API_BASE set: answering from a local scripted server)")
        with FakeLLMServer(OFFLINE_REPLIES) as server:
            yield LLMClient("openai/test-model", api_base=server.base_url, api_key="test")


def ask_with_tools(client: LLMClient, question: str) -> str:
    """One tool round trip: the model asks for ``local_time``, we run it and send the result back."""
    messages: list[dict[str, object]] = [make_message("user", question)]
    response = client.completion(messages, tools=[TIME_TOOL], generation_name="time-question")
    message = response.choices[0].message
    if not message.tool_calls:
        return extract_text(response)
    messages.append(message.model_dump(exclude_none=True))
    for call in message.tool_calls:
        result = local_time(**json.loads(call.function.arguments or "{}"))
        print(f"tool call: {call.function.name}({call.function.arguments}) -> {result}")
        messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
    return client.completion_text(messages, tools=[TIME_TOOL])


def main() -> None:
    def report(event: events.LLMCallEvent) -> None:
        print(f"  [{event.operation}] {event.model}: {event.total_tokens} tokens in {event.duration * 1000:.0f} ms")

    with events.listening(report), llm_client() as client:
        print("answer:", client.completion_text([make_message("user", "What does Graflow do? One sentence.")]))
        print("stream:", "|".join(client.stream_text([make_message("user", "Name its building blocks.")])))
        print("tools:", ask_with_tools(client, "What time is it in Tokyo?"))
        print("async:", asyncio.run(client.acompletion_text([make_message("user", "Does async work?")])))


if __name__ == "__main__":
    main()

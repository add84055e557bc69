"""PydanticLLMAgent: results, history, usage and tools with pydantic-ai's TestModel and against the fake server."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("pydantic_ai")

from pydantic import BaseModel
from pydantic_ai import Agent
from pydantic_ai.models.test import TestModel

from graflow.llm import events
from graflow.llm.agents import LLMAgent, PydanticLLMAgent, create_pydantic_ai_agent
from graflow.llm.agents.pydantic_agent import create_pydantic_ai_agent_with_litellm
from graflow.llm.errors import LLMAgentTypeError
from graflow.testing.fake_llm import FakeLLMServer, tool_call


class Forecast(BaseModel):
    city: str
    celsius: int


def add(x: int, y: int) -> int:
    """Add two numbers."""
    return x + y


def _weather_agent(server: FakeLLMServer, **options: object) -> Agent[None, str]:
    agent = create_pydantic_ai_agent("openai/test-model", base_url=server.base_url, api_key="test",
                                     instructions="You report the weather.", name="weather", **options)

    @agent.tool_plain
    def get_weather(city: str) -> str:
        """Weather of a city."""
        return f"21C and sunny in {city}"

    return agent


def test_run_returns_output_typed_steps_with_one_final_and_usage() -> None:
    agent = PydanticLLMAgent(Agent(TestModel(custom_output_text="done"), tools=[add]), enable_tracing=False)
    result = agent.run("add things")
    assert isinstance(agent, LLMAgent) and result["output"] == "done"
    steps = result["steps"]
    assert [s["type"] for s in steps] == ["request", "response", "request", "response"]
    assert [s["is_final"] for s in steps] == [False, False, False, True]
    assert steps[0]["content"] == ["add things"] and steps[1]["content"][0].startswith("add(")
    usage = result["metadata"]["usage"]
    assert usage["requests"] == 2 and usage["input_tokens"] > 0 and usage["output_tokens"] > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert result["metadata"]["framework"] == "pydantic-ai"


def test_tools_lists_the_agents_tools_in_registration_order() -> None:
    inner = Agent(TestModel(), tools=[add])

    @inner.tool_plain
    def shout(text: str) -> str:
        return text.upper()

    agent = PydanticLLMAgent(inner, name="calc", enable_tracing=False)
    assert [tool.name for tool in agent.tools] == ["add", "shout"]
    assert agent.tools[0].function is add
    assert agent.metadata["tools_count"] == 2 and agent.metadata["model"] == "test" and agent.name == "calc"


def test_name_defaults_to_the_pydantic_agents_name_then_pydantic_agent() -> None:
    assert PydanticLLMAgent(Agent(TestModel(), name="inner"), enable_tracing=False).name == "inner"
    assert PydanticLLMAgent(Agent(TestModel()), enable_tracing=False).name == "pydantic-agent"


def test_messages_of_a_result_continue_the_conversation() -> None:
    agent = PydanticLLMAgent(Agent(TestModel(custom_output_text="noted")), enable_tracing=False)
    first = agent.run("my name is Ada")
    second = agent.run("what is my name?", message_history=first["metadata"]["messages"])
    assert len(second["metadata"]["messages"]) == 4 and len(second["metadata"]["new_messages"]) == 2
    assert [s["content"] for s in second["steps"]] == [["what is my name?"], ["noted"]]


def test_wrapping_something_else_is_a_type_error() -> None:
    with pytest.raises(LLMAgentTypeError) as info:
        PydanticLLMAgent(object())  # type: ignore[arg-type]
    assert isinstance(info.value, TypeError)


def test_agent_calls_a_tool_through_the_openai_provider_of_the_fake_server(
        fake_llm: FakeLLMServer, llm_events: list[events.LLMCallEvent]) -> None:
    fake_llm.script(tool_call("get_weather", {"city": "Paris"}), "It is 21C and sunny in Paris.")
    agent = PydanticLLMAgent(_weather_agent(fake_llm), enable_tracing=False)
    result = agent.run("Weather in Paris?")
    assert result["output"] == "It is 21C and sunny in Paris." and agent.name == "weather"
    first, second = fake_llm.requests
    assert first.messages[0] == {"role": "system", "content": "You report the weather."}
    assert first.tools[0]["function"]["name"] == "get_weather"
    assert second.messages[-1]["role"] == "tool" and second.messages[-1]["content"] == "21C and sunny in Paris"
    assert [s["type"] for s in result["steps"]] == ["request", "response", "request", "response"]
    (event,) = llm_events
    assert (event.operation, event.source, event.requests, event.model) == ("agent_run", "pydantic-ai", 2,
                                                                            "test-model")
    assert event.total_tokens == result["metadata"]["usage"]["total_tokens"] > 0


def test_structured_output_from_the_fake_server(fake_llm: FakeLLMServer) -> None:
    fake_llm.script(tool_call("final_result", {"city": "Oslo", "celsius": 3}))
    agent = PydanticLLMAgent(create_pydantic_ai_agent("openai:test-model", base_url=fake_llm.base_url,
                                                      api_key="test", output_type=Forecast), enable_tracing=False)
    result = agent.run("Oslo?")
    assert result["output"] == Forecast(city="Oslo", celsius=3)
    assert result["steps"][-1]["is_final"] and sum(s["is_final"] for s in result["steps"]) == 1


def test_graflow_llm_api_base_serves_agents_built_from_a_model_string(
        fake_llm: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAFLOW_LLM_API_BASE", fake_llm.base_url)
    monkeypatch.setenv("GRAFLOW_LLM_API_KEY", "test")
    fake_llm.script("from env")
    assert create_pydantic_ai_agent_with_litellm("openai/test-model").run_sync("hi").output == "from env"


def test_arun_and_run_async_stream(fake_llm: FakeLLMServer) -> None:
    fake_llm.script("awaited answer", "streamed answer here")
    agent = PydanticLLMAgent(create_pydantic_ai_agent("openai/test-model", base_url=fake_llm.base_url,
                                                      api_key="test"), enable_tracing=False)

    async def scenario() -> tuple[str, list[str]]:
        result = await agent.arun("first")
        pieces: list[str] = []
        async for stream in agent.run_async("second"):
            pieces = [text async for text in stream.stream_text(delta=True)]
        return result["output"], pieces

    output, pieces = asyncio.run(scenario())
    assert output == "awaited answer" and "".join(pieces) == "streamed answer here"
    assert fake_llm.requests[1].stream


def test_a_failed_run_is_reported_and_raised(fake_llm: FakeLLMServer,
                                             llm_events: list[events.LLMCallEvent]) -> None:
    from graflow.testing.fake_llm import error_reply

    fake_llm.script(error_reply(400, "bad"))
    agent = PydanticLLMAgent(create_pydantic_ai_agent("openai/test-model", base_url=fake_llm.base_url,
                                                      api_key="test"), enable_tracing=False)
    with pytest.raises(Exception, match="bad"):
        agent.run("x")
    assert [(e.success, e.source) for e in llm_events] == [(False, "pydantic-ai")]

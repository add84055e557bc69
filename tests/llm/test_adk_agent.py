"""AdkLLMAgent against the fake server (through ADK's LiteLLM model). Skipped when google-adk is not installed:
it is the optional extra ``graflow[adk]``, not part of ``graflow[all]``."""

from __future__ import annotations

import pytest

pytest.importorskip("google.adk")
pytest.importorskip("litellm")

from google.adk.agents import LlmAgent
from google.adk.apps import App
from google.adk.models.lite_llm import LiteLlm
from pydantic import BaseModel

from graflow.llm import events
from graflow.llm.agents import AdkLLMAgent, LLMAgent
from graflow.llm.errors import LLMAgentTypeError, LLMConfigError
from graflow.llm.serialization import agent_to_yaml, yaml_to_agent
from graflow.testing.fake_llm import FakeLLMServer, tool_call


class Answer(BaseModel):
    city: str


def get_weather(city: str) -> str:
    """Weather of a city."""
    return f"21C in {city}"


def _model(server: FakeLLMServer) -> LiteLlm:
    return LiteLlm(model="openai/test-model", api_base=server.base_url, api_key="test")


def _agent(server: FakeLLMServer, **options: object) -> LlmAgent:
    return LlmAgent(name="weather", model=_model(server), instruction="You report the weather.",
                    tools=[get_weather], **options)


def test_run_calls_the_tool_and_returns_typed_steps_usage_and_session(
        fake_llm: FakeLLMServer, llm_events: list[events.LLMCallEvent]) -> None:
    fake_llm.script(tool_call("get_weather", {"city": "Paris"}), "It is 21C in Paris.")
    agent = AdkLLMAgent(_agent(fake_llm), app_name="run-1234", enable_tracing=False)
    result = agent.run("Weather in Paris?", session_id="s1")
    assert isinstance(agent, LLMAgent) and result["output"] == "It is 21C in Paris."
    assert [s["type"] for s in result["steps"]] == ["request", "response", "request", "response"]
    assert [s["is_final"] for s in result["steps"]] == [False, False, False, True]
    assert result["steps"][1]["content"] == ['get_weather({"city": "Paris"})']
    meta = result["metadata"]
    assert meta["session_id"] == "s1" and meta["usage"]["requests"] == 2 and meta["usage"]["total_tokens"] > 0
    assert fake_llm.requests[1].messages[-1]["role"] == "tool"
    (event,) = llm_events
    assert (event.source, event.model, event.requests) == ("google-adk", "openai/test-model", 2)
    assert agent.app_name == "run_1234" and agent.tools == [get_weather] and agent.name == "weather"


def test_the_same_session_continues_the_conversation(fake_llm: FakeLLMServer) -> None:
    fake_llm.script("Hello Ada.", "Your name is Ada.")
    agent = AdkLLMAgent(_agent(fake_llm), app_name="chat", enable_tracing=False)
    first = agent.run("I am Ada")
    second = agent.run("Who am I?", session_id=first["metadata"]["session_id"])
    assert second["output"] == "Your name is Ada."
    sent = [m.get("content") for m in fake_llm.requests[1].messages if m["role"] != "system"]
    assert sent == ["I am Ada", "Hello Ada.", "Who am I?"]
    assert len(second["metadata"]["messages"]) == 4


def test_message_history_seeds_a_new_session(fake_llm: FakeLLMServer) -> None:
    fake_llm.script("first answer", "second answer")
    agent = AdkLLMAgent(_agent(fake_llm), app_name="chat", enable_tracing=False)
    first = agent.run("question one")
    other = AdkLLMAgent(_agent(fake_llm), app_name="chat", enable_tracing=False)
    other.run("question two", message_history=first["metadata"]["messages"])
    sent = [m.get("content") for m in fake_llm.requests[1].messages if m["role"] != "system"]
    assert sent == ["question one", "first answer", "question two"]


def test_output_schema_gives_a_validated_model(fake_llm: FakeLLMServer) -> None:
    fake_llm.script('{"city": "Oslo"}')
    agent = LlmAgent(name="schema", model=_model(fake_llm), output_schema=Answer)
    assert AdkLLMAgent(App(name="app", root_agent=agent), enable_tracing=False).run("x")["output"] == Answer(
        city="Oslo")


def test_arun_awaits_the_same_result(fake_llm: FakeLLMServer) -> None:
    import asyncio

    fake_llm.script("async hello")
    agent = AdkLLMAgent(_agent(fake_llm), app_name="chat")  # tracing on: a no-op without openinference
    assert asyncio.run(agent.arun("hi"))["output"] == "async hello"


def test_an_agent_without_app_name_or_a_foreign_object_is_rejected(fake_llm: FakeLLMServer) -> None:
    with pytest.raises(LLMConfigError):
        AdkLLMAgent(_agent(fake_llm), enable_tracing=False)
    with pytest.raises(LLMAgentTypeError):
        AdkLLMAgent(object(), app_name="x", enable_tracing=False)


def test_agent_yaml_round_trip_keeps_configuration_tools_and_sub_agents(fake_llm: FakeLLMServer) -> None:
    helper = LlmAgent(name="helper", model="gemini-2.5-flash", instruction="Help.")
    agent = _agent(fake_llm, sub_agents=[helper], output_key="weather_report")
    text = agent_to_yaml(agent)
    assert "get_weather" in text and "api_key" not in text
    rebuilt = yaml_to_agent(text)
    assert rebuilt.name == "weather" and rebuilt.instruction == "You report the weather."
    assert rebuilt.tools == [get_weather] and rebuilt.output_key == "weather_report"
    assert rebuilt.sub_agents[0].name == "helper" and rebuilt.sub_agents[0].model == "gemini-2.5-flash"
    assert isinstance(rebuilt.model, LiteLlm) and rebuilt.model.model == "openai/test-model"


def test_yaml_that_was_not_written_by_agent_to_yaml_is_rejected() -> None:
    with pytest.raises(LLMConfigError):
        yaml_to_agent("name: x\n")

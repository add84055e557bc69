"""LLMClient: completions, tool calls, streaming and async against the fake server; LiteLLM's mock path; pickling."""

from __future__ import annotations

import asyncio
import pickle
from typing import Any

import cloudpickle
import pytest

pytest.importorskip("litellm")

from graflow.llm import LLMClient, default_llm_client, events, extract_text, make_message
from graflow.llm import client as client_module
from graflow.llm.errors import LLMUnavailableError
from graflow.testing.fake_llm import FakeLLMServer, FakeReply, error_reply, tool_call

USER = [make_message("user", "hello model")]
WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


def test_completion_returns_the_scripted_answer_and_sends_the_messages(
        llm_client: LLMClient, fake_llm: FakeLLMServer) -> None:
    fake_llm.script("Hi there")
    response = llm_client.completion(USER)
    assert extract_text(response) == "Hi there"
    assert response.usage.total_tokens == 4
    (request,) = fake_llm.requests
    assert request.model == "test-model" and request.messages == USER and not request.stream


def test_call_parameters_override_defaults_and_model_can_change_per_call(fake_llm: FakeLLMServer) -> None:
    client = LLMClient("openai/test-model", enable_tracing=False, api_base=fake_llm.base_url, api_key="test",
                       temperature=0.1, max_tokens=50)
    client.completion_text(USER, model="openai/other-model", temperature=0.9)
    body = fake_llm.requests[0].body
    assert body["model"] == "other-model" and body["temperature"] == 0.9 and body["max_tokens"] == 50


def test_tool_calls_come_back_and_the_tool_result_goes_to_the_next_request(
        llm_client: LLMClient, fake_llm: FakeLLMServer) -> None:
    fake_llm.script(tool_call("get_weather", {"city": "Paris"}, id="call_w"), "It is sunny in Paris.")
    first = llm_client.completion(USER, tools=[WEATHER_TOOL])
    (call,) = first.choices[0].message.tool_calls
    assert call.function.name == "get_weather" and call.function.arguments == '{"city": "Paris"}'
    assert first.choices[0].finish_reason == "tool_calls" and extract_text(first) == ""

    followup = [*USER, first.choices[0].message.model_dump(exclude_none=True),
                {"role": "tool", "tool_call_id": call.id, "content": "sunny"}]
    assert llm_client.completion_text(followup, tools=[WEATHER_TOOL]) == "It is sunny in Paris."
    second = fake_llm.requests[1]
    assert second.tools[0]["function"]["name"] == "get_weather"
    assert second.messages[-1] == {"role": "tool", "tool_call_id": "call_w", "content": "sunny"}


def test_stream_text_yields_chunks_that_join_to_the_answer_and_reports_usage(
        llm_client: LLMClient, fake_llm: FakeLLMServer, llm_events: list[events.LLMCallEvent]) -> None:
    fake_llm.script(FakeReply(content="one two three", usage=(5, 3)))
    chunks = list(llm_client.stream_text(USER))
    assert len(chunks) == 3 and "".join(chunks) == "one two three"
    assert fake_llm.requests[0].stream
    (event,) = llm_events
    assert (event.operation, event.prompt_tokens, event.completion_tokens, event.total_tokens) == ("stream", 5, 3, 8)


def test_async_completion_text_and_stream(llm_client: LLMClient, fake_llm: FakeLLMServer,
                                          llm_events: list[events.LLMCallEvent]) -> None:
    fake_llm.script("async answer", "streamed async answer")

    async def scenario() -> tuple[str, list[str]]:
        text = await llm_client.acompletion_text(USER)
        chunks = [chunk async for chunk in llm_client.astream_text(USER)]
        return text, chunks

    text, chunks = asyncio.run(scenario())
    assert text == "async answer" and "".join(chunks) == "streamed async answer"
    assert [(e.operation, e.is_async) for e in llm_events] == [("completion", True), ("stream", True)]


def test_each_call_reports_model_tokens_and_latency(llm_client: LLMClient, fake_llm: FakeLLMServer,
                                                    llm_events: list[events.LLMCallEvent]) -> None:
    fake_llm.script(FakeReply(content="ok", usage=(7, 2)))
    llm_client.completion(USER, generation_name="greeting", tags=["demo"])
    (event,) = llm_events
    assert event.model == "openai/test-model" and event.success and event.source == "litellm"
    assert (event.prompt_tokens, event.completion_tokens, event.total_tokens) == (7, 2, 9)
    assert event.duration > 0 and event.generation_name == "greeting" and event.tags == ("demo",)


def test_a_failing_call_raises_the_provider_error_and_reports_it(
        llm_client: LLMClient, fake_llm: FakeLLMServer, llm_events: list[events.LLMCallEvent]) -> None:
    import litellm

    fake_llm.script(error_reply(400, "bad request"))
    with pytest.raises(litellm.BadRequestError):
        llm_client.completion(USER)
    (event,) = llm_events
    assert not event.success and event.error_type == "BadRequestError" and event.total_tokens is None


def test_litellm_mock_response_needs_no_server(llm_events: list[events.LLMCallEvent]) -> None:
    client = LLMClient("gpt-5-mini", enable_tracing=False, mock_response="mocked answer")
    assert client.completion_text(USER) == "mocked answer"
    assert "".join(client.stream_text(USER)) == "mocked answer"
    assert [e.operation for e in llm_events] == ["completion", "stream"]


def test_generation_name_and_tags_go_to_metadata_without_touching_the_callers_dict(
        monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    class StubLiteLLM:
        @staticmethod
        def completion(**kwargs: Any) -> Any:
            seen.update(kwargs)
            return {"choices": [{"message": {"content": "stub"}}]}

    monkeypatch.setattr(client_module, "_litellm", lambda: StubLiteLLM)
    metadata = {"user": "u1"}
    client = LLMClient("gpt-5-mini", enable_tracing=False, metadata=metadata)
    assert client.completion_text(USER, generation_name="summary", tags=["a", "b"]) == "stub"
    assert seen["metadata"] == {"user": "u1", "generation_name": "summary", "tags": ["a", "b"]}
    assert metadata == {"user": "u1"} and seen["stream"] is False and seen["model"] == "gpt-5-mini"


def test_graflow_llm_api_base_routes_calls_that_name_no_endpoint(
        fake_llm: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAFLOW_LLM_API_BASE", fake_llm.base_url)
    monkeypatch.setenv("GRAFLOW_LLM_API_KEY", "test")
    fake_llm.script("via env")
    assert LLMClient("openai/test-model", enable_tracing=False).completion_text(USER) == "via env"
    assert fake_llm.requests[0].headers["authorization"] == "Bearer test"


def test_default_client_uses_graflow_llm_model(monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_llm_client().model == "gpt-5-mini"
    monkeypatch.setenv("GRAFLOW_LLM_MODEL", "openai/test-model")
    client = default_llm_client(temperature=0)
    assert client.model == "openai/test-model" and client.default_params == {"temperature": 0}
    assert default_llm_client(model="").model == "openai/test-model"
    assert default_llm_client(model="gemini/gemini-2.5-flash").model == "gemini/gemini-2.5-flash"


@pytest.mark.parametrize("dumps, loads", [(pickle.dumps, pickle.loads), (cloudpickle.dumps, pickle.loads)],
                         ids=["pickle", "cloudpickle"])
def test_pickled_client_carries_only_its_configuration_and_works_after_rebuild(
        fake_llm: FakeLLMServer, dumps: Any, loads: Any) -> None:
    client = LLMClient("openai/test-model", enable_tracing=False, api_base=fake_llm.base_url, api_key="test",
                       temperature=0.2, client=object())
    assert client.__getstate__() == {"model": "openai/test-model", "enable_tracing": False, "default_params": {
        "api_base": fake_llm.base_url, "api_key": "test", "temperature": 0.2}}
    rebuilt = loads(dumps(client))
    assert type(rebuilt) is LLMClient and rebuilt is not client
    assert (rebuilt.model, rebuilt.enable_tracing) == ("openai/test-model", False)
    assert "client" not in rebuilt.default_params
    fake_llm.script("still works")
    assert rebuilt.completion_text(USER) == "still works"


def test_repr_names_parameters_but_never_their_values() -> None:
    text = repr(LLMClient("gpt-5-mini", enable_tracing=False, api_key="sk-secret"))
    assert "gpt-5-mini" in text and "api_key" in text and "sk-secret" not in text


def test_client_without_litellm_raises_an_error_that_is_also_a_runtime_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module.settings, "is_installed", lambda module: False)
    with pytest.raises(LLMUnavailableError, match=r"graflow\[llm\]") as info:
        LLMClient("gpt-5-mini")
    assert isinstance(info.value, RuntimeError)


@pytest.mark.parametrize("response, expected", [
    ({"choices": [{"message": {"content": "from dict"}}]}, "from dict"),
    ({"choices": []}, ""),
    ({"choices": [{"message": {"content": None}}]}, ""),
    (object(), ""),
    (None, ""),
])
def test_extract_text_reads_the_first_choice_or_returns_empty(response: Any, expected: str) -> None:
    assert extract_text(response) == expected


def test_make_message_builds_a_chat_message() -> None:
    assert make_message("system", "Be brief.") == {"role": "system", "content": "Be brief."}


def test_a_pickled_client_is_rebuilt_in_another_process() -> None:
    import subprocess
    import sys

    blob = pickle.dumps(LLMClient("openai/test-model", enable_tracing=False, temperature=0.3))
    code = ("import pickle, sys; c = pickle.loads(sys.stdin.buffer.read()); "
            "print(type(c).__name__, c.model, c.default_params, c.enable_tracing)")
    out = subprocess.run([sys.executable, "-c", code], input=blob, capture_output=True, check=True, timeout=60)
    assert out.stdout.decode().strip() == "LLMClient openai/test-model {'temperature': 0.3} False"

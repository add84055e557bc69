"""The fake OpenAI-compatible server speaks the protocol clients expect, and records what they sent."""

from __future__ import annotations

import http.client
import json
from typing import Any

import pytest

from graflow.testing.fake_llm import FakeLLMServer, FakeReply, error_reply, tool_call


def _post(server: FakeLLMServer, body: dict[str, Any], path: str = "/v1/chat/completions") -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _chat(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "test-model", "messages": [{"role": "user", "content": text}], **extra}


def test_scripted_text_reply_is_returned_with_usage(fake_llm: FakeLLMServer) -> None:
    fake_llm.script("Hello there")
    status, raw = _post(fake_llm, _chat("say hi please"))
    body = json.loads(raw)
    assert status == 200
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "Hello there"}
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"] == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}


def test_empty_script_echoes_the_last_user_message(fake_llm: FakeLLMServer) -> None:
    _, raw = _post(fake_llm, _chat("ping"))
    assert json.loads(raw)["choices"][0]["message"]["content"] == "echo: ping"


def test_tool_call_reply_carries_encoded_arguments(fake_llm: FakeLLMServer) -> None:
    fake_llm.script(tool_call("lookup", {"city": "Paris"}, id="call_1"))
    _, raw = _post(fake_llm, _chat("weather?"))
    choice = json.loads(raw)["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["tool_calls"] == [
        {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"city": "Paris"}'}}]


def test_streamed_reply_is_server_sent_events_ending_with_done(fake_llm: FakeLLMServer) -> None:
    fake_llm.script(FakeReply(content="one two three", usage=(4, 3)))
    status, raw = _post(fake_llm, _chat("count", stream=True, stream_options={"include_usage": True}))
    frames = [line.removeprefix("data: ") for line in raw.decode().split("\n\n") if line]
    assert status == 200 and frames[-1] == "[DONE]"
    chunks = [json.loads(frame) for frame in frames[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "one two three"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 7
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "stop"


def test_error_reply_answers_with_status_and_openai_error_body(fake_llm: FakeLLMServer) -> None:
    fake_llm.script(error_reply(429, "slow down"))
    status, raw = _post(fake_llm, _chat("x"))
    assert status == 429 and json.loads(raw)["error"]["message"] == "slow down"


def test_requests_are_recorded_in_order_and_callable_replies_see_them(fake_llm: FakeLLMServer) -> None:
    fake_llm.script(lambda request: f"{len(request.messages)} message(s) for {request.model}")
    _post(fake_llm, _chat("first"))
    _post(fake_llm, _chat("second", tools=[{"type": "function", "function": {"name": "f"}}]))
    first, second = fake_llm.wait_for_requests(2)
    assert first.last_user_text() == "first" and second.last_user_text() == "second"
    assert second.tools[0]["function"]["name"] == "f" and not second.stream
    assert fake_llm.pending_replies == 0


def test_unknown_paths_answer_404_and_models_are_listed(fake_llm: FakeLLMServer) -> None:
    assert _post(fake_llm, {}, path="/v1/embeddings")[0] == 404
    conn = http.client.HTTPConnection("127.0.0.1", fake_llm.port, timeout=10)
    conn.request("GET", "/v1/models")
    assert json.loads(conn.getresponse().read())["data"][0]["id"] == "test-model"
    conn.close()


def test_wait_for_requests_times_out_when_nothing_arrives(fake_llm: FakeLLMServer) -> None:
    with pytest.raises(TimeoutError):
        fake_llm.wait_for_requests(1, timeout=0.05)


def test_stop_is_idempotent_and_port_needs_a_started_server() -> None:
    server = FakeLLMServer().start()
    assert server.base_url.startswith("http://127.0.0.1:") and server.base_url.endswith("/v1")
    server.stop()
    server.stop()
    with pytest.raises(RuntimeError):
        _ = server.port

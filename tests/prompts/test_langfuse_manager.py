"""LangfusePromptManager against the langfuse SDK talking to a local server (no network), and its argument mapping."""

from __future__ import annotations

import pickle
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("langfuse")

from graflow.prompts import (
    ChatPrompt,
    PromptConfigurationError,
    PromptFetchError,
    PromptNotFoundError,
    PromptRequestError,
    PromptTypeError,
    TextPrompt,
)
from graflow.prompts.langfuse_manager import LangfusePromptManager
from tests.prompts.langfuse_server import SECRET_KEY, FakeLangfuse, LangfuseServer


@pytest.fixture(autouse=True)
def langfuse_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY", "LANGFUSE_HOST", "LANGFUSE_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANGFUSE_TRACING_ENABLED", "false")  # prompts only: no span exporter


@pytest.fixture
def server() -> Iterator[FakeLangfuse]:
    running = LangfuseServer()
    state = running.start()
    state.add("greeting", 1, "Hello {{ name }}", ["staging"], {"temperature": 0.1})
    state.add("greeting", 2, "Hi {{ name }}!", ["production", "latest"], {"model": "small"})
    state.add("support/reply", 4, [
        {"role": "system", "content": "You help with {{ product }}."},
        {"type": "placeholder", "name": "history"},
        {"role": "user", "content": "{{ question }}"},
    ], ["production"])
    yield state
    running.stop()


def public_key() -> str:
    # The SDK keeps one set of resources (HTTP client, prompt cache) per public key: a fresh key per manager
    # keeps tests independent.
    return f"pk-lf-{uuid.uuid4().hex}"


def manager_for(server: FakeLangfuse, **options: Any) -> LangfusePromptManager:
    options.setdefault("max_retries", 0)
    return LangfusePromptManager(public_key=public_key(), secret_key=SECRET_KEY, host=server.url, **options)


def test_without_label_or_version_the_production_label_is_fetched(server: FakeLangfuse) -> None:
    prompt = manager_for(server).get_prompt("greeting")

    assert isinstance(prompt, TextPrompt)
    assert (prompt.name, prompt.version, prompt.label) == ("greeting", 2, "production")
    assert prompt.metadata == {"model": "small"}
    assert prompt.render(name="Ada") == "Hi Ada!"
    assert server.requests == [{"path": "/api/public/v2/prompts/greeting", "query": {}}]


def test_a_label_is_sent_to_langfuse(server: FakeLangfuse) -> None:
    prompt = manager_for(server).get_prompt("greeting", label="staging")

    assert (prompt.version, prompt.label, prompt.content) == (1, "staging", "Hello {{ name }}")
    assert server.requests[-1]["query"] == {"label": "staging"}


def test_a_version_is_sent_to_langfuse_and_the_label_is_its_first_one(server: FakeLangfuse) -> None:
    prompt = manager_for(server).get_prompt("greeting", version=2)

    assert (prompt.version, prompt.label) == (2, "production")
    assert server.requests[-1]["query"] == {"version": "2"}


def test_version_and_label_together_are_refused_before_any_request(server: FakeLangfuse) -> None:
    manager = manager_for(server)

    with pytest.raises(ValueError, match="Cannot specify both 'version' and 'label'") as caught:
        manager.get_prompt("greeting", version=1, label="production")

    assert isinstance(caught.value, PromptRequestError)
    assert server.requests == []


def test_chat_prompts_in_folders_come_back_as_chat_prompts(server: FakeLangfuse) -> None:
    manager = manager_for(server)

    prompt = manager.get_chat_prompt("support/reply")

    assert isinstance(prompt, ChatPrompt)
    assert (prompt.name, prompt.version) == ("support/reply", 4)
    assert prompt.content[0] == {"role": "system", "content": "You help with {{ product }}."}
    assert prompt.content[1] == {"type": "placeholder", "name": "history"}
    assert prompt.render(product="Graflow", question="How?", history=[{"role": "user", "content": "hi"}]) == [
        {"role": "system", "content": "You help with Graflow."},
        {"role": "user", "content": "hi"},
        {"role": "user", "content": "How?"},
    ]
    assert server.requests[-1]["path"] == "/api/public/v2/prompts/support%2Freply"
    with pytest.raises(PromptTypeError):
        manager.get_text_prompt("support/reply")


def test_an_unknown_prompt_is_prompt_not_found(server: FakeLangfuse) -> None:
    manager = manager_for(server)

    with pytest.raises(PromptNotFoundError) as caught:
        manager.get_prompt("nope")
    assert str(caught.value) == "Prompt not found: 'nope'"
    assert getattr(caught.value.cause, "status_code", None) == 404

    with pytest.raises(PromptNotFoundError, match=r"Prompt not found: 'greeting' \(label 'dev'\)"):
        manager.get_prompt("greeting", label="dev")


def test_error_answers_are_fetch_errors_with_the_sdk_error_as_cause(server: FakeLangfuse) -> None:
    server.fail_with = 403

    with pytest.raises(PromptFetchError) as caught:
        manager_for(server).get_prompt("greeting")

    assert str(caught.value) == "Could not fetch prompt 'greeting' from Langfuse: HTTP 403: Internal error"
    assert getattr(caught.value.cause, "status_code", None) == 403


def test_wrong_credentials_are_fetch_errors(server: FakeLangfuse) -> None:
    manager = LangfusePromptManager(public_key=public_key(), secret_key="wrong", host=server.url, max_retries=0)

    with pytest.raises(PromptFetchError, match="HTTP 401: Invalid credentials"):
        manager.get_prompt("greeting")


def test_an_unreachable_server_is_a_fetch_error() -> None:
    with socket.socket() as probe:  # a port nothing listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    manager = LangfusePromptManager(public_key=public_key(), secret_key=SECRET_KEY, host=f"http://127.0.0.1:{port}",
                                    max_retries=0, fetch_timeout_seconds=2)

    with pytest.raises(PromptFetchError, match="Could not fetch prompt 'greeting' from Langfuse: Connect"):
        manager.get_prompt("greeting")


def test_the_sdk_cache_serves_repeated_lookups(server: FakeLangfuse) -> None:
    manager = manager_for(server)

    for _ in range(3):
        assert manager.get_prompt("greeting").version == 2

    assert len(server.requests) == 1


def test_cache_ttl_minus_one_fetches_every_time(server: FakeLangfuse) -> None:
    manager = manager_for(server)

    manager.get_prompt("greeting", cache_ttl_seconds=-1)
    manager.get_prompt("greeting", cache_ttl_seconds=-1)

    assert len(server.requests) == 2


def test_keys_and_host_come_from_the_environment(server: FakeLangfuse, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", public_key())
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("LANGFUSE_HOST", server.url)

    assert LangfusePromptManager(max_retries=0).get_prompt("greeting").version == 2


def test_an_explicit_host_wins_over_the_environment(server: FakeLangfuse, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANGFUSE_BASE_URL", "http://127.0.0.1:9")  # nothing listens there

    assert manager_for(server).get_prompt("greeting").version == 2


def test_missing_keys_are_a_configuration_error() -> None:
    with pytest.raises(PromptConfigurationError, match="LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY"):
        LangfusePromptManager(public_key="pk-only")


def test_pickling_drops_the_secret_and_the_client(server: FakeLangfuse, monkeypatch: pytest.MonkeyPatch) -> None:
    manager = manager_for(server)

    data = pickle.dumps(manager)

    assert SECRET_KEY.encode() not in data
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", SECRET_KEY)
    copy = pickle.loads(data)
    assert (copy.public_key, copy.host, copy.max_retries) == (manager.public_key, server.url, 0)
    assert copy.get_prompt("greeting").version == 2


# -- argument mapping, with a stand-in client -------------------------------------------------------------------------
class RecordingClient:
    """Stands in for ``langfuse.Langfuse``: records get_prompt calls and returns a text prompt."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def get_prompt(self, name: str, **kwargs: Any) -> Any:
        self.calls.append({"name": name, **kwargs})
        return type("Fetched", (), {"name": name, "prompt": "x", "version": 7, "labels": ["a", "b"], "config": None})


@pytest.mark.parametrize(("graflow_ttl", "sdk_ttl"), [(None, None), (30, 30), (0, 6 * 60 * 60), (-1, 0)])
def test_cache_ttl_follows_graflows_convention(graflow_ttl: int | None, sdk_ttl: int | None) -> None:
    client = RecordingClient()

    LangfusePromptManager(client=client).get_prompt("p", cache_ttl_seconds=graflow_ttl)

    assert client.calls[0]["cache_ttl_seconds"] == sdk_ttl


def test_fetch_timeout_and_max_retries_are_passed_on_every_call() -> None:
    client = RecordingClient()
    manager = LangfusePromptManager(fetch_timeout_seconds=3, max_retries=1, client=client)

    prompt = manager.get_prompt("p", version=7)

    assert client.calls == [{"name": "p", "version": 7, "label": None, "cache_ttl_seconds": None,
                             "max_retries": 1, "fetch_timeout_seconds": 3}]
    assert (prompt.label, prompt.metadata) == ("a", {})


def test_an_empty_name_is_refused() -> None:
    with pytest.raises(PromptRequestError):
        LangfusePromptManager(client=RecordingClient()).get_prompt("")

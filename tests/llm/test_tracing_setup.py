"""Langfuse set-up for LiteLLM and pydantic-ai instrumentation are switched on only when asked and configured."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from graflow.llm import tracing

litellm = pytest.importorskip("litellm")


@pytest.fixture
def fresh_tracing(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(tracing, "_enabled", False)
    monkeypatch.setattr(tracing, "_warned_missing_keys", False)
    before = list(litellm.callbacks)
    yield
    litellm.callbacks[:] = before  # never leave a callback that would export spans to a real server


def test_without_langfuse_keys_nothing_changes_and_it_is_said_once(
        fresh_tracing: None, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="graflow.llm.tracing")
    assert tracing.setup_langfuse_for_litellm() is False
    assert tracing.setup_langfuse_for_litellm() is False
    assert tracing.LANGFUSE_CALLBACK not in litellm.callbacks
    levels = [r.levelno for r in caplog.records if "LANGFUSE_PUBLIC_KEY" in r.getMessage()]
    assert levels == [logging.INFO, logging.DEBUG]


def test_with_langfuse_keys_the_callback_is_added_once(fresh_tracing: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", "pk-test")
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", "sk-test")
    assert tracing.setup_langfuse_for_litellm() and tracing.setup_langfuse_for_litellm()
    assert litellm.callbacks.count(tracing.LANGFUSE_CALLBACK) == 1 and tracing.langfuse_enabled()


def test_client_sets_up_tracing_only_when_enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    from graflow.llm import client as client_module

    calls: list[str] = []
    monkeypatch.setattr(client_module, "setup_langfuse_for_litellm", lambda: calls.append("setup"))
    client_module.LLMClient("gpt-5-mini", enable_tracing=False)
    assert calls == []
    client_module.LLMClient("gpt-5-mini")
    assert calls == ["setup"]


def test_pydantic_agent_instruments_pydantic_ai_when_tracing_is_enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("pydantic_ai")
    from pydantic_ai import Agent
    from pydantic_ai.models.test import TestModel

    from graflow.llm.agents import pydantic_agent

    calls: list[str] = []
    monkeypatch.setattr(pydantic_agent, "setup_pydantic_ai_tracing", lambda: calls.append("setup") or True)
    pydantic_agent.PydanticLLMAgent(Agent(TestModel()), enable_tracing=False)
    pydantic_agent.PydanticLLMAgent(Agent(TestModel()))
    assert calls == ["setup"]

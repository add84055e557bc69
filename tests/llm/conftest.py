"""Fixtures of the LLM tests: a local OpenAI-compatible server, a client pointed at it, and recorded call events.

No test here reaches the internet: model calls go to :class:`~graflow.testing.fake_llm.FakeLLMServer` on the
loopback interface, to LiteLLM's ``mock_response``, or to pydantic-ai's ``TestModel``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# LiteLLM downloads its model price list when it is imported unless told to use the copy it ships.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from graflow.llm import events
from graflow.testing.fake_llm import FakeLLMServer

#: Warnings the vendor libraries raise about their own code (LiteLLM's and pydantic-ai's use of pydantic).
VENDOR_WARNINGS = (
    "ignore:.*`ReadOnly` qualifier:UserWarning",
    "ignore:Accessing the 'model_:DeprecationWarning",
)

#: Environment variables that would route calls elsewhere; cleared for every test.
ROUTING_ENV = ("GRAFLOW_LLM_API_BASE", "GRAFLOW_LLM_API_KEY", "GRAFLOW_LLM_MODEL", "OPENAI_API_BASE",
               "OPENAI_BASE_URL", "LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Silence the vendor warnings for the tests of this folder only."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            for spec in VENDOR_WARNINGS:
                item.add_marker(pytest.mark.filterwarnings(spec))


@pytest.fixture(autouse=True)
def _isolated_llm_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ROUTING_ENV:
        monkeypatch.delenv(name, raising=False)
    yield
    events.clear_listeners()


@pytest.fixture
def fake_llm() -> Iterator[FakeLLMServer]:
    """A started fake server; stopped after the test."""
    with FakeLLMServer() as server:
        yield server


@pytest.fixture
def llm_client(fake_llm: FakeLLMServer):  # type: ignore[no-untyped-def]
    """An LLMClient on ``openai/test-model`` served by ``fake_llm``."""
    pytest.importorskip("litellm")
    from graflow.llm import LLMClient

    return LLMClient("openai/test-model", enable_tracing=False, api_base=fake_llm.base_url, api_key="test")


@pytest.fixture
def llm_events() -> Iterator[list[events.LLMCallEvent]]:
    """The LLM call events emitted during the test, in order."""
    recorded: list[events.LLMCallEvent] = []
    with events.listening(recorded.append):
        yield recorded

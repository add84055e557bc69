"""The LLMAgent interface, the package's 0.2 import paths, and what importing it costs."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

import pytest

import graflow.llm
from graflow.llm.agents import AgentResult, LLMAgent
from graflow.llm.agents.adk_agent import sanitize_app_name
from graflow.llm.errors import LLMError, LLMUnavailableError
from graflow.llm.settings import is_installed


class EchoAgent(LLMAgent):
    """The smallest custom agent: implements run() and name only."""

    def run(self, input_text: str, **kwargs: Any) -> AgentResult:
        return {"output": input_text.upper(), "steps": [], "metadata": {"kwargs": kwargs}}

    @property
    def name(self) -> str:
        return "echo"


def test_a_custom_agent_needs_only_run_and_name() -> None:
    agent = EchoAgent()
    assert agent.run("hi")["output"] == "HI" and agent.tools == [] and agent.metadata == {}
    assert asyncio.run(agent.arun("async", user="u"))["metadata"] == {"kwargs": {"user": "u"}}


def test_run_async_is_not_supported_by_default() -> None:
    async def consume() -> None:
        async for _ in EchoAgent().run_async("x"):
            pass

    with pytest.raises(NotImplementedError):
        asyncio.run(consume())


def test_llm_agent_is_abstract() -> None:
    with pytest.raises(TypeError):
        LLMAgent()  # type: ignore[abstract]


def test_0_2_import_paths_resolve() -> None:
    from graflow.llm import LLMAgent as ExportedAgent
    from graflow.llm import LLMClient, extract_text, make_message, setup_langfuse_for_litellm  # noqa: F401
    from graflow.llm.agents.base import LLMAgent as BaseAgent
    from graflow.llm.agents.types import AgentResult, AgentStep  # noqa: F401
    from graflow.llm.client import setup_langfuse_for_litellm as from_client

    assert ExportedAgent is BaseAgent and from_client is graflow.llm.setup_langfuse_for_litellm


def test_optional_exports_follow_installed_packages() -> None:
    exported = set(graflow.llm.__all__)
    assert {"LLMClient", "LLMAgent", "extract_text", "make_message", "setup_langfuse_for_litellm"} <= exported
    assert ("PydanticLLMAgent" in exported) == is_installed("pydantic_ai")
    assert ("AdkLLMAgent" in exported) == is_installed("google.adk")
    if not is_installed("google.adk"):
        with pytest.raises(ImportError):
            from graflow.llm import AdkLLMAgent  # noqa: F401
    with pytest.raises(AttributeError):
        _ = graflow.llm.NoSuchThing  # type: ignore[attr-defined]


def test_importing_graflow_llm_imports_no_vendor_package() -> None:
    code = ("import sys, graflow.llm, graflow.llm.metrics, graflow.llm.agents.pydantic_agent, "
            "graflow.llm.agents.adk_agent, graflow.llm.serialization; "
            "print(sorted(m for m in ('litellm', 'pydantic_ai', 'google.adk', 'prometheus_client') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("raw, expected", [("run-42", "run_42"), ("7days", "app_7days"), ("", "app_"),
                                           ("ok_name", "ok_name"), ("日本", "__")])
def test_sanitize_app_name_makes_an_identifier(raw: str, expected: str) -> None:
    assert sanitize_app_name(raw) == expected


def test_missing_dependency_error_names_the_extra_and_keeps_0_2_base_classes() -> None:
    error = LLMUnavailableError("google-adk", "adk", "AdkLLMAgent")
    assert "pip install 'graflow[adk]'" in str(error)
    assert isinstance(error, LLMError) and isinstance(error, RuntimeError) and isinstance(error, ImportError)


@pytest.mark.skipif(is_installed("google.adk"), reason="google-adk is installed")
def test_adk_agent_without_google_adk_says_how_to_install_it() -> None:
    from graflow.llm.agents.adk_agent import AdkLLMAgent

    with pytest.raises(LLMUnavailableError, match=r"graflow\[adk\]"):
        AdkLLMAgent(object(), app_name="x")

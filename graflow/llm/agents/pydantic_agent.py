"""Pydantic AI agents as Graflow agents (extra ``agents``: ``pip install 'graflow[agents]'``).

:class:`PydanticLLMAgent` wraps a ``pydantic_ai.Agent``; :func:`create_pydantic_ai_agent` builds one from a model
string. pydantic-ai is imported when one of them is first used, so this module imports without it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic

from typing_extensions import TypeVar

from graflow import config
from graflow.llm import settings
from graflow.llm.agents.base import LLMAgent
from graflow.llm.agents.results import (
    REQUEST,
    RESPONSE,
    mark_last_final,
    render_arguments,
    report_run,
    step,
    usage_dict,
)
from graflow.llm.agents.types import AgentResult, AgentStep
from graflow.llm.errors import LLMAgentTypeError, LLMUnavailableError

if TYPE_CHECKING:
    from pydantic_ai import Agent

logger = logging.getLogger(__name__)

OutputT = TypeVar("OutputT", default=str, covariant=True)

FRAMEWORK = "pydantic-ai"
DEFAULT_NAME = "pydantic-agent"
OLLAMA_DEFAULT_BASE_URL = "http://localhost:11434/v1"

_instrumented = False


def _pydantic_ai(feature: str) -> Any:
    try:
        import pydantic_ai
    except ImportError as exc:
        raise LLMUnavailableError("pydantic-ai-slim", "agents", feature) from exc
    return pydantic_ai


def setup_pydantic_ai_tracing() -> bool:
    """Instrument every pydantic-ai agent with OpenTelemetry (``Agent.instrument_all()``), once per process.

    Agent, model and tool spans then nest under the current OpenTelemetry span, e.g. the task span of Graflow's
    ``LangFuseTracer``. Without an OpenTelemetry SDK configured the spans go nowhere and cost little.

    Returns:
        Whether instrumentation is on.
    """
    global _instrumented
    if _instrumented:
        return True
    try:
        _pydantic_ai("pydantic-ai tracing").Agent.instrument_all()
    except Exception as exc:  # noqa: BLE001 - tracing is optional; the agent works without it
        logger.warning("pydantic-ai instrumentation is off: %s", exc)
        return False
    _instrumented = True
    return True


def _openai_compatible(model_name: str, base_url: str, api_key: str | None) -> Any:
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    provider = OpenAIProvider(base_url=base_url, api_key=api_key or settings.api_key() or "not-set")
    return OpenAIChatModel(model_name, provider=provider)


def _resolve_model(model: Any, base_url: str | None, api_key: str | None) -> Any:
    """A pydantic-ai model for ``model``: a Model instance is used as it is; strings are resolved (see
    :func:`create_pydantic_ai_agent`)."""
    if not isinstance(model, str):
        return model
    from pydantic_ai.models import infer_model

    if model.startswith("ollama/"):
        from pydantic_ai.providers.ollama import OllamaProvider

        url = base_url or settings.api_base() or config.env("OLLAMA_BASE_URL") or OLLAMA_DEFAULT_BASE_URL
        provider = OllamaProvider(base_url=url)
        return infer_model("ollama:" + model.removeprefix("ollama/"), provider_factory=lambda _name: provider)
    if model.startswith("litellm:"):
        return infer_model(model)
    endpoint = base_url or settings.api_base()
    if endpoint:
        # An explicit OpenAI-compatible endpoint: the provider prefix only says which model family is served.
        name = model.split(":", 1)[1] if ":" in model else model.split("/", 1)[-1]
        return _openai_compatible(name, endpoint, api_key)
    if ":" not in model:
        # LiteLLM's forms: ``provider/model``, and a bare name for an OpenAI model.
        model = model.replace("/", ":", 1) if "/" in model else f"openai:{model}"
    return infer_model(model)


def create_pydantic_ai_agent(
    model: Any,
    *,
    output_type: Any = None,
    instructions: str | None = None,
    system_prompt: str | Sequence[str] | None = None,
    name: str | None = None,
    instrument: bool | None = None,
    **kwargs: Any,
) -> Agent[Any, Any]:
    """Build a ``pydantic_ai.Agent`` from a model string (a convenience: any Agent can be wrapped).

    Model strings:

    - ``provider:model`` (pydantic-ai's own form), ``provider/model`` (LiteLLM's form, converted) and a bare
      name, taken as an OpenAI model as LiteLLM does;
    - ``ollama/<model>``: the Ollama provider at ``base_url``, ``OLLAMA_BASE_URL`` or ``localhost:11434``;
    - ``litellm:<litellm model>``: routed through LiteLLM;
    - with ``base_url=`` (or ``GRAFLOW_LLM_API_BASE``), any ``[provider/]model`` is served by that OpenAI-compatible
      endpoint, with ``api_key=`` (or ``GRAFLOW_LLM_API_KEY``) as key.

    Args:
        model: A model string or a pydantic-ai ``Model``.
        output_type: Structured output type (a pydantic model, ...); plain text when None.
        instructions: Instructions sent with every request (not kept in the message history).
        system_prompt: System prompt (kept in the message history).
        name: The agent's name.
        instrument: pydantic-ai's ``instrument`` option.
        **kwargs: Other ``Agent`` options (``tools``, ``toolsets``, ``model_settings``, ``retries`` ...), plus
            ``base_url`` and ``api_key`` described above.
    """
    pydantic_ai = _pydantic_ai("create_pydantic_ai_agent")
    llm_model = _resolve_model(model, kwargs.pop("base_url", None), kwargs.pop("api_key", None))
    options: dict[str, Any] = dict(kwargs)
    for key, value in (("output_type", output_type), ("instructions", instructions),
                       ("system_prompt", system_prompt), ("name", name), ("instrument", instrument)):
        if value is not None:
            options[key] = value
    agent: Agent[Any, Any] = pydantic_ai.Agent(llm_model, **options)
    return agent


#: Graflow 0.2's name of :func:`create_pydantic_ai_agent`.
create_pydantic_ai_agent_with_litellm = create_pydantic_ai_agent


def _collect_tools(toolset: Any, found: list[Any], seen: set[int]) -> None:
    if id(toolset) in seen:
        return
    seen.add(id(toolset))
    tools = getattr(toolset, "tools", None)
    if isinstance(tools, Mapping):
        found.extend(tools.values())
    for child in getattr(toolset, "toolsets", None) or ():
        _collect_tools(child, found, seen)
    wrapped = getattr(toolset, "wrapped", None)
    if wrapped is not None:
        _collect_tools(wrapped, found, seen)


def _model_name(agent: Any) -> str:
    model = getattr(agent, "model", None)
    if model is None:
        return "unknown"
    return model if isinstance(model, str) else str(getattr(model, "model_name", None) or type(model).__name__)


def _render_part(part: Any) -> str:
    kind = getattr(part, "part_kind", None)
    content = getattr(part, "content", None)
    if kind in ("text", "user-prompt", "system-prompt"):
        return content if isinstance(content, str) else str(content)
    if kind == "tool-call":
        return f"{getattr(part, 'tool_name', '?')}({render_arguments(getattr(part, 'args', None))})"
    if kind == "tool-return":
        return f"{getattr(part, 'tool_name', '?')} -> {render_arguments(content)}"
    if kind == "thinking":
        return f"thinking: {content}"
    if kind == "retry-prompt":
        return f"retry: {render_arguments(content)}"
    return f"[{kind or type(part).__name__}]"


def _run_usage(run_result: Any) -> Any:
    usage = getattr(run_result, "usage", None)
    # pydantic-ai made ``usage`` a property; older releases have a method.
    return usage() if callable(usage) and not hasattr(usage, "input_tokens") else usage


class PydanticLLMAgent(LLMAgent, Generic[OutputT]):
    """A ``pydantic_ai.Agent`` as a Graflow agent.

    Args:
        agent: The pydantic-ai agent (its tools, output type and model stay as they are).
        name: The agent's name (default: the pydantic-ai agent's name, else ``pydantic-agent``).
        enable_tracing: Instrument pydantic-ai with OpenTelemetry (:func:`setup_pydantic_ai_tracing`).

    Raises:
        LLMUnavailableError: pydantic-ai is not installed.
        LLMAgentTypeError: ``agent`` is not a ``pydantic_ai.Agent``.

    Each run returns ``metadata["messages"]``, the whole conversation, to pass as ``message_history`` of the next
    turn, and ``metadata["usage"]`` with its token counts; ``steps`` are the messages of this run only.
    """

    def __init__(self, agent: Agent[Any, OutputT], name: str | None = None, enable_tracing: bool = True) -> None:
        pydantic_ai = _pydantic_ai("PydanticLLMAgent")
        if not isinstance(agent, pydantic_ai.Agent):
            raise LLMAgentTypeError("a pydantic_ai.Agent", agent)
        self._agent: Agent[Any, OutputT] = agent
        self._name = name or getattr(agent, "name", None) or DEFAULT_NAME
        self.enable_tracing = enable_tracing
        if enable_tracing:
            setup_pydantic_ai_tracing()

    @property
    def agent(self) -> Agent[Any, OutputT]:
        """The wrapped pydantic-ai agent."""
        return self._agent

    @property
    def name(self) -> str:
        """The agent's name."""
        return self._name

    @property
    def tools(self) -> list[Any]:
        """The agent's function tools (``pydantic_ai.Tool`` objects; ``.name``, ``.function``), in registration order.

        Tools of toolsets that list them only while running (MCP servers ...) are not included.
        """
        found: list[Any] = []
        seen: set[int] = set()
        for toolset in getattr(self._agent, "toolsets", None) or ():
            _collect_tools(toolset, found, seen)
        return found

    @property
    def metadata(self) -> dict[str, Any]:
        """Name, model, output type, tool count and framework."""
        return {"name": self.name, "model": _model_name(self._agent),
                "output_type": getattr(self._agent, "output_type", None), "tools_count": len(self.tools),
                "framework": FRAMEWORK}

    def run(self, input_text: str, message_history: Sequence[Any] | None = None, **kwargs: Any) -> AgentResult:
        """Run to the final answer (pydantic-ai's ``run_sync``).

        Args:
            input_text: The user's prompt.
            message_history: ``metadata["messages"]`` of a previous result, to continue that conversation.
            **kwargs: Passed to ``Agent.run_sync`` (``deps``, ``model_settings``, ``usage_limits`` ...).
        """
        started = time.perf_counter()
        try:
            run_result = self._agent.run_sync(input_text, message_history=_history(message_history), **kwargs)
        except Exception as exc:
            report_run(model=_model_name(self._agent), started=started, source=FRAMEWORK, agent_name=self.name,
                       is_async=False, error=exc)
            raise
        return self._finish(run_result, started, is_async=False)

    async def arun(self, input_text: str, message_history: Sequence[Any] | None = None,
                   **kwargs: Any) -> AgentResult:
        """Awaitable :meth:`run` (pydantic-ai's ``Agent.run``)."""
        started = time.perf_counter()
        try:
            run_result = await self._agent.run(input_text, message_history=_history(message_history), **kwargs)
        except Exception as exc:
            report_run(model=_model_name(self._agent), started=started, source=FRAMEWORK, agent_name=self.name,
                       is_async=True, error=exc)
            raise
        return self._finish(run_result, started, is_async=True)

    async def run_async(self, input_text: str, message_history: Sequence[Any] | None = None,
                        **kwargs: Any) -> AsyncIterator[Any]:
        """Stream a run: yields pydantic-ai's streamed result once (``stream_text()``, ``get_output()`` ...)."""
        async with self._agent.run_stream(input_text, message_history=_history(message_history), **kwargs) as stream:
            yield stream

    def _finish(self, run_result: Any, started: float, *, is_async: bool) -> AgentResult:
        result = self._to_result(run_result)
        report_run(model=_model_name(self._agent), started=started, source=FRAMEWORK, agent_name=self.name,
                   is_async=is_async, usage=result["metadata"].get("usage"))
        return result

    def _to_result(self, run_result: Any) -> AgentResult:
        steps: list[AgentStep] = []
        for message in run_result.new_messages():
            kind = RESPONSE if getattr(message, "kind", "") == "response" else REQUEST
            steps.append(step(kind, [_render_part(part) for part in getattr(message, "parts", ())]))
        metadata: dict[str, Any] = {
            "agent_name": self.name,
            "framework": FRAMEWORK,
            "model": _model_name(self._agent),
            "messages": run_result.all_messages(),
            "new_messages": run_result.new_messages(),
        }
        usage = _run_usage(run_result)
        if usage is not None:
            metadata["usage"] = usage_dict(getattr(usage, "requests", 0) or 0, getattr(usage, "input_tokens", 0),
                                           getattr(usage, "output_tokens", 0), getattr(usage, "total_tokens", None))
        return {"output": run_result.output, "steps": mark_last_final(steps), "metadata": metadata}


def _history(message_history: Sequence[Any] | None) -> list[Any] | None:
    return list(message_history) if message_history is not None else None


__all__ = [
    "PydanticLLMAgent",
    "create_pydantic_ai_agent",
    "create_pydantic_ai_agent_with_litellm",
    "setup_pydantic_ai_tracing",
]

"""Google ADK agents as Graflow agents (extra ``adk``: ``pip install 'graflow[adk]'``).

google-adk is a large optional dependency and is not part of ``graflow[all]``. It is imported when an
:class:`AdkLLMAgent` is built, so this module imports without it.

ADK keeps a conversation in a *session*: a run continues the session named by ``session_id`` (created on first
use). ``metadata["session_id"]`` of a result names it for the next turn; ``metadata["messages"]`` holds the
conversation as ``google.genai`` ``Content`` objects, which ``message_history=`` seeds into a new session.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from types import SimpleNamespace
from typing import Any

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
from graflow.llm.errors import AgentRunError, LLMAgentTypeError, LLMConfigError, LLMUnavailableError

logger = logging.getLogger(__name__)

FRAMEWORK = "google-adk"
DEFAULT_USER_ID = "graflow-user"

_instrumented = False


def _adk(feature: str = "AdkLLMAgent") -> SimpleNamespace:
    try:
        from google.adk.agents import BaseAgent
        from google.adk.agents.context_cache_config import ContextCacheConfig
        from google.adk.apps import App
        from google.adk.events import Event
        from google.adk.runners import Runner
        from google.adk.sessions import InMemorySessionService
        from google.genai import types
    except ImportError as exc:
        raise LLMUnavailableError("google-adk", "adk", feature) from exc
    return SimpleNamespace(BaseAgent=BaseAgent, ContextCacheConfig=ContextCacheConfig, App=App, Event=Event,
                           Runner=Runner, InMemorySessionService=InMemorySessionService, types=types)


def setup_adk_tracing() -> bool:
    """Instrument ADK with OpenInference (``openinference-instrumentation-google-adk``), once per process.

    ADK agent, model and tool spans then nest under the current OpenTelemetry span, e.g. a task span of Graflow's
    ``LangFuseTracer``. Without that package nothing changes.

    Returns:
        Whether instrumentation is on.
    """
    global _instrumented
    if _instrumented:
        return True
    try:
        instrumentation = importlib.import_module("openinference.instrumentation.google_adk")
    except ImportError:
        logger.debug("openinference-instrumentation-google-adk is not installed; ADK spans are not exported")
        return False
    try:
        instrumentation.GoogleADKInstrumentor().instrument()
    except Exception as exc:  # noqa: BLE001 - tracing is optional; the agent works without it
        logger.warning("ADK instrumentation is off: %s", exc)
        return False
    _instrumented = True
    return True


def sanitize_app_name(app_name: str) -> str:
    """An ADK app name (a Python identifier) made from ``app_name``: other characters become ``_``, and a leading
    digit (or an empty name) gets the prefix ``app_``."""
    cleaned = "".join(ch if ch.isascii() and (ch.isalnum() or ch == "_") else "_" for ch in app_name)
    return cleaned if cleaned and not cleaned[0].isdigit() else f"app_{cleaned}"


def _run_coroutine(coroutine: Any) -> Any:
    """Run ``coroutine`` to completion from synchronous code, also when this thread already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="graflow-adk") as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _model_name(agent: Any) -> str:
    model = getattr(agent, "model", None)
    if isinstance(model, str) and model:
        return model
    return str(getattr(model, "model", None) or "unknown")


def _render_part(part: Any) -> str:
    if getattr(part, "text", None):
        return str(part.text)
    call = getattr(part, "function_call", None)
    if call is not None:
        return f"{call.name}({render_arguments(call.args)})"
    response = getattr(part, "function_response", None)
    if response is not None:
        return f"{response.name} -> {render_arguments(response.response)}"
    return f"[{type(part).__name__}]"


def _text_of(content: Any) -> str:
    parts = getattr(content, "parts", None) or ()
    return "".join(part.text for part in parts if getattr(part, "text", None) and not getattr(part, "thought", None))


class AdkLLMAgent(LLMAgent):
    """A Google ADK agent (``LlmAgent`` or any ``BaseAgent``) or ``App`` as a Graflow agent.

    Args:
        adk_agent_or_app: The ADK agent, or an ADK ``App`` whose ``root_agent`` is run.
        app_name: The app name when an agent is given (required then; e.g. the run's session id). Made a valid
            identifier by :func:`sanitize_app_name`. Ignored for an ``App``.
        session_service: Where conversations live (default: an in-memory service of this wrapper).
        enable_tracing: Instrument ADK with OpenInference when available (:func:`setup_adk_tracing`).
        enable_caching: Give the App built around an agent ADK's context cache (2048 tokens minimum, 10 minutes,
            refreshed after 5 uses).
        user_id: The user of runs that name none.

    Raises:
        LLMUnavailableError: google-adk is not installed.
        LLMAgentTypeError: ``adk_agent_or_app`` is neither an ADK agent nor an App.
        LLMConfigError: an agent was given without ``app_name``.
    """

    def __init__(
        self,
        adk_agent_or_app: Any,
        app_name: str | None = None,
        session_service: Any = None,
        enable_tracing: bool = True,
        enable_caching: bool = False,
        user_id: str = DEFAULT_USER_ID,
    ) -> None:
        adk = _adk()
        self._adk = adk
        if isinstance(adk_agent_or_app, adk.App):
            self._app = adk_agent_or_app
            self._agent = adk_agent_or_app.root_agent
            self._app_name = adk_agent_or_app.name
        elif isinstance(adk_agent_or_app, adk.BaseAgent):
            if not app_name:
                raise LLMConfigError("AdkLLMAgent needs app_name when given an agent (or pass an ADK App)")
            self._agent = adk_agent_or_app
            self._app_name = sanitize_app_name(app_name)
            cache = (adk.ContextCacheConfig(min_tokens=2048, ttl_seconds=600, cache_intervals=5)
                     if enable_caching else None)
            self._app = adk.App(name=self._app_name, root_agent=adk_agent_or_app, context_cache_config=cache)
        else:
            raise LLMAgentTypeError("a google.adk agent or App", adk_agent_or_app)
        if enable_tracing:
            setup_adk_tracing()
        self._session_service = session_service if session_service is not None else adk.InMemorySessionService()
        self._runner = adk.Runner(app=self._app, session_service=self._session_service)
        self._user_id = user_id

    @property
    def name(self) -> str:
        """The ADK agent's name."""
        return str(getattr(self._agent, "name", "unknown"))

    @property
    def app_name(self) -> str:
        """The ADK app name sessions are stored under."""
        return str(self._app_name)

    @property
    def adk_agent(self) -> Any:
        """The wrapped ADK agent."""
        return self._agent

    @property
    def session_service(self) -> Any:
        """The ADK session service holding this agent's conversations."""
        return self._session_service

    @property
    def tools(self) -> list[Any]:
        """The ADK agent's tools."""
        return list(getattr(self._agent, "tools", None) or [])

    @property
    def metadata(self) -> dict[str, Any]:
        """Name, model, tool count and framework."""
        return {"name": self.name, "model": _model_name(self._agent), "tools_count": len(self.tools),
                "framework": FRAMEWORK}

    def run(self, input_text: str, user_id: str | None = None, trace_id: str | None = None,
            session_id: str | None = None, **kwargs: Any) -> AgentResult:
        """Run to the final answer.

        Args:
            input_text: The user's message.
            user_id: The session's user (default: the wrapper's ``user_id``).
            trace_id: Used as the session id when ``session_id`` is not given.
            session_id: The conversation to continue or start (default: ``trace_id``, else a new uuid).
            **kwargs: ``message_history`` (Content objects or ``{"role", "content"}`` dicts seeded into a new
                session), and options of ADK's ``Runner.run_async`` (``run_config``, ``state_delta`` ...).

        Raises:
            AgentRunError: The agent produced no final response.
        """
        result: AgentResult = _run_coroutine(self._arun(input_text, user_id, trace_id, session_id, False, kwargs))
        return result

    async def arun(self, input_text: str, user_id: str | None = None, trace_id: str | None = None,
                   session_id: str | None = None, **kwargs: Any) -> AgentResult:
        """Awaitable :meth:`run`."""
        return await self._arun(input_text, user_id, trace_id, session_id, True, kwargs)

    async def run_async(self, input_text: str, user_id: str | None = None, trace_id: str | None = None,
                        session_id: str | None = None, **kwargs: Any) -> AsyncIterator[Any]:
        """Stream ADK's events of one run (partial ones included when the run config asks for streaming)."""
        history = kwargs.pop("message_history", None)
        user, session = await self._session(user_id, trace_id, session_id, history)
        async for event in self._runner.run_async(user_id=user, session_id=session.id,
                                                  new_message=self._user_content(input_text), **kwargs):
            yield event

    async def _arun(self, input_text: str, user_id: str | None, trace_id: str | None, session_id: str | None,
                    is_async: bool, kwargs: dict[str, Any]) -> AgentResult:
        started = time.perf_counter()
        try:
            history = kwargs.pop("message_history", None)
            user, session = await self._session(user_id, trace_id, session_id, history)
            collected = [event async for event in self._runner.run_async(
                user_id=user, session_id=session.id, new_message=self._user_content(input_text), **kwargs)]
            result = self._to_result(input_text, collected, session.id)
            stored = await self._session_service.get_session(app_name=self._app_name, user_id=user,
                                                             session_id=session.id)
            if stored is not None:
                result["metadata"]["messages"] = [e.content for e in stored.events if e.content is not None]
        except Exception as exc:
            report_run(model=_model_name(self._agent), started=started, source=FRAMEWORK, agent_name=self.name,
                       is_async=is_async, error=exc)
            raise
        report_run(model=_model_name(self._agent), started=started, source=FRAMEWORK, agent_name=self.name,
                   is_async=is_async, usage=result["metadata"]["usage"])
        return result

    def _user_content(self, text: str) -> Any:
        types = self._adk.types
        return types.Content(role="user", parts=[types.Part(text=text)])

    async def _session(self, user_id: str | None, trace_id: str | None, session_id: str | None,
                       history: Sequence[Any] | None) -> tuple[str, Any]:
        user = user_id or self._user_id
        sid = session_id or trace_id or uuid.uuid4().hex
        service = self._session_service
        session = await service.get_session(app_name=self._app_name, user_id=user, session_id=sid)
        if session is None:
            session = await service.create_session(app_name=self._app_name, user_id=user, session_id=sid)
            for content in history or ():
                content = self._as_content(content)
                author = "user" if content.role == "user" else self.name
                session_event = self._adk.Event(author=author, content=content)
                await service.append_event(session, session_event)
        return user, session

    def _as_content(self, message: Any) -> Any:
        if not isinstance(message, Mapping):
            return message
        types = self._adk.types
        role = "user" if message.get("role") == "user" else "model"
        return types.Content(role=role, parts=[types.Part(text=str(message.get("content") or ""))])

    def _to_result(self, input_text: str, collected: list[Any], session_id: str) -> AgentResult:
        finals = [event for event in collected if event.is_final_response() and event.content is not None]
        if not finals:
            raise AgentRunError(self.name, "ended without a final response")
        text = _text_of(finals[-1].content)
        output: Any = text
        schema = getattr(self._agent, "output_schema", None)
        if isinstance(schema, type) and hasattr(schema, "model_validate_json"):
            output = schema.model_validate_json(text)
        steps: list[AgentStep] = [step(REQUEST, [input_text])]
        prompt = completion = total = requests = 0
        for event in collected:
            content = event.content
            if content is not None:
                kind = REQUEST if content.role == "user" else RESPONSE
                steps.append(step(kind, [_render_part(part) for part in content.parts or ()],
                                  is_partial=bool(event.partial)))
            usage = event.usage_metadata
            if usage is not None and not event.partial:
                requests += 1
                prompt += usage.prompt_token_count or 0
                completion += usage.candidates_token_count or 0
                total += usage.total_token_count or 0
        metadata: dict[str, Any] = {
            "agent_name": self.name, "framework": FRAMEWORK, "model": _model_name(self._agent),
            "session_id": session_id, "event_count": len(collected), "messages": [],
            "usage": usage_dict(requests, prompt, completion, total or None),
        }
        return {"output": output, "steps": mark_last_final(steps), "metadata": metadata}

    @classmethod
    def _from_adk_agent(cls, adk_agent: Any, app_name: str) -> AdkLLMAgent:
        return cls(adk_agent, app_name)


__all__ = ["AdkLLMAgent", "sanitize_app_name", "setup_adk_tracing"]

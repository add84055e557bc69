"""A small LLM client on LiteLLM, shared by the tasks of a run.

:class:`LLMClient` keeps a default model and default parameters and calls LiteLLM, so any provider LiteLLM knows is
one model string away (``gpt-5-mini``, ``gemini/gemini-2.5-flash``, ``ollama/llama3``, ``openai/<name>`` with an
``api_base`` for OpenAI-compatible servers). Every call reports model, token usage and latency to
:mod:`graflow.llm.events`, and through it to the tracers and metrics hook of the run that made the call.

A client holds no connection of its own: pickling it keeps only the model, the default parameters and the tracing
flag, and unpickling builds a fresh client, so a run's client travels to worker processes with the run.
"""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from graflow.llm import events, settings
from graflow.llm.errors import LLMUnavailableError
from graflow.llm.tracing import langfuse_enabled, setup_langfuse_for_litellm

if TYPE_CHECKING:
    from litellm.types.utils import ModelResponse

#: Default parameters that hold live connections; they are not pickled (the rebuilt client lets LiteLLM connect).
LIVE_PARAMS = frozenset({"client", "http_client", "aclient"})

Messages = Sequence[Mapping[str, Any]]


def _litellm() -> Any:
    try:
        import litellm
    except ImportError as exc:
        raise LLMUnavailableError("litellm", "llm", "LLMClient") from exc
    return litellm


@functools.lru_cache(maxsize=256)
def _reports_stream_usage(model: str) -> bool:
    """Whether the provider of ``model`` accepts ``stream_options`` (and then reports usage in a last chunk)."""
    litellm = _litellm()
    try:
        name, provider, _, _ = litellm.get_llm_provider(model)
        supported = litellm.get_supported_openai_params(model=name, custom_llm_provider=provider) or ()
    except Exception:  # noqa: BLE001 - an unknown model simply streams without usage
        return False
    return "stream_options" in supported


@functools.lru_cache(maxsize=256)
def _provider_of(model: str) -> str | None:
    """The LiteLLM provider serving ``model`` (``openai``, ``anthropic`` ...), or None when LiteLLM cannot tell."""
    try:
        return str(_litellm().get_llm_provider(model)[1]) or None
    except Exception:  # noqa: BLE001 - an unknown model simply has no provider in its events
        return None


def extract_text(response: Any) -> str:
    """The text of the first choice of a completion response, or ``""``.

    Accepts LiteLLM/OpenAI response objects and their plain ``dict`` form.
    """
    try:
        if isinstance(response, Mapping):
            message = response["choices"][0]["message"]
            content = message.get("content") if isinstance(message, Mapping) else None
        else:
            content = response.choices[0].message.content
    except (AttributeError, IndexError, KeyError, TypeError):
        return ""
    return content if isinstance(content, str) else ""


def make_message(role: str, content: str) -> dict[str, str]:
    """An OpenAI-style chat message: ``{"role": role, "content": content}``."""
    return {"role": role, "content": content}


class LLMClient:
    """Calls chat models through LiteLLM with a default model and default parameters.

    Args:
        model: The default model string, used when a call names none.
        enable_tracing: Switch on Langfuse tracing of LiteLLM calls (:func:`setup_langfuse_for_litellm`), which
            happens only when the Langfuse keys are configured.
        **default_params: Parameters of every call (``temperature``, ``max_tokens``, ``api_base``, ``api_key``,
            ``timeout`` ...); a call's own parameters override them.

    Raises:
        LLMUnavailableError: litellm is not installed (also a ``RuntimeError``, as in Graflow 0.2).

    Calls without an ``api_base``/``base_url`` go to ``GRAFLOW_LLM_API_BASE`` when it is set (with
    ``GRAFLOW_LLM_API_KEY`` as key unless one is given); see :mod:`graflow.llm.settings`.
    """

    def __init__(self, model: str, enable_tracing: bool = True, **default_params: Any) -> None:
        if not settings.is_installed("litellm"):
            raise LLMUnavailableError("litellm", "llm", "LLMClient")
        self.model = model
        self.enable_tracing = enable_tracing
        self.default_params: dict[str, Any] = dict(default_params)
        if enable_tracing:
            setup_langfuse_for_litellm()

    # -- pickling: rebuilt from configuration, never from live state -------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        """The configuration a pickled client carries: model, tracing flag and picklable default parameters."""
        params = {key: value for key, value in self.default_params.items() if key not in LIVE_PARAMS}
        return {"model": self.model, "enable_tracing": self.enable_tracing, "default_params": params}

    def __setstate__(self, state: Mapping[str, Any]) -> None:
        LLMClient.__init__(self, state["model"], state.get("enable_tracing", True),
                           **dict(state.get("default_params") or {}))

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuild_client, (type(self), self.__getstate__())

    def __repr__(self) -> str:
        # Parameter values are left out: they may hold API keys.
        return (f"{type(self).__name__}(model={self.model!r}, enable_tracing={self.enable_tracing}, "
                f"params={sorted(self.default_params)})")

    # -- calls ---------------------------------------------------------------------------------------------------------

    def _prepare(self, model: str | None, generation_name: str | None, tags: Sequence[str] | None,
                 params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        kwargs = {**self.default_params, **params}
        if generation_name or tags:
            metadata = dict(kwargs.get("metadata") or {})
            if generation_name:
                metadata["generation_name"] = generation_name
            if tags:
                metadata["tags"] = list(tags)
            kwargs["metadata"] = metadata
        if "api_base" not in kwargs and "base_url" not in kwargs:
            env_base = settings.api_base()
            if env_base:
                kwargs["api_base"] = env_base
                env_key = settings.api_key()
                if env_key and "api_key" not in kwargs:
                    kwargs["api_key"] = env_key
        return model or self.model, kwargs

    def completion(
        self,
        messages: Messages,
        model: str | None = None,
        generation_name: str | None = None,
        tags: Sequence[str] | None = None,
        **params: Any,
    ) -> ModelResponse:
        """One chat completion.

        Args:
            messages: OpenAI-style messages (see :func:`make_message`).
            model: Use this model instead of the client's default.
            generation_name: Name of the generation in Langfuse (sent as ``metadata["generation_name"]``).
            tags: Langfuse tags (sent as ``metadata["tags"]``).
            **params: LiteLLM parameters for this call (``tools``, ``temperature``, ``mock_response`` ...).

        Returns:
            LiteLLM's ``ModelResponse``; :func:`extract_text` reads its text.
        """
        name, kwargs = self._prepare(model, generation_name, tags, params)
        kwargs["stream"] = False
        litellm = _litellm()  # imported before the clock starts: the first import takes seconds
        started = time.perf_counter()
        try:
            response: ModelResponse = litellm.completion(model=name, messages=list(messages), **kwargs)
        except Exception as exc:
            self._report(name, events.OP_COMPLETION, started, None, exc, False, generation_name, tags)
            raise
        self._report(name, events.OP_COMPLETION, started, getattr(response, "usage", None), None, False,
                     generation_name, tags)
        return response

    def completion_text(self, messages: Messages, **params: Any) -> str:
        """The text of :meth:`completion` (``""`` when the model answered with tool calls only)."""
        return extract_text(self.completion(messages, **params))

    async def acompletion(
        self,
        messages: Messages,
        model: str | None = None,
        generation_name: str | None = None,
        tags: Sequence[str] | None = None,
        **params: Any,
    ) -> ModelResponse:
        """Awaitable :meth:`completion` (LiteLLM's ``acompletion``); same arguments and result."""
        name, kwargs = self._prepare(model, generation_name, tags, params)
        kwargs["stream"] = False
        litellm = _litellm()
        started = time.perf_counter()
        try:
            response: ModelResponse = await litellm.acompletion(model=name, messages=list(messages), **kwargs)
        except Exception as exc:
            self._report(name, events.OP_COMPLETION, started, None, exc, True, generation_name, tags)
            raise
        self._report(name, events.OP_COMPLETION, started, getattr(response, "usage", None), None, True,
                     generation_name, tags)
        return response

    async def acompletion_text(self, messages: Messages, **params: Any) -> str:
        """The text of :meth:`acompletion`."""
        return extract_text(await self.acompletion(messages, **params))

    def _stream_kwargs(self, name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        kwargs["stream"] = True
        if "stream_options" not in kwargs and "mock_response" not in kwargs and _reports_stream_usage(name):
            kwargs["stream_options"] = {"include_usage": True}
        return kwargs

    def stream_text(
        self,
        messages: Messages,
        model: str | None = None,
        generation_name: str | None = None,
        tags: Sequence[str] | None = None,
        **params: Any,
    ) -> Iterator[str]:
        """Stream the answer's text as it arrives.

        Same arguments as :meth:`completion`. The request is sent when iteration starts; empty deltas are skipped,
        so ``"".join(client.stream_text(...))`` is the whole answer. Token usage is reported when the provider
        sends it in the stream (LiteLLM asks for it where the provider supports ``stream_options``).

        Yields:
            Text chunks.
        """
        name, kwargs = self._prepare(model, generation_name, tags, params)
        litellm = _litellm()
        kwargs = self._stream_kwargs(name, kwargs)
        started = time.perf_counter()
        usage: Any = None
        error: BaseException | None = None
        try:
            for chunk in litellm.completion(model=name, messages=list(messages), **kwargs):
                usage = getattr(chunk, "usage", None) or usage
                text = _delta_text(chunk)
                if text:
                    yield text
        except Exception as exc:
            error = exc
            raise
        finally:
            self._report(name, events.OP_STREAM, started, usage, error, False, generation_name, tags)

    async def astream_text(
        self,
        messages: Messages,
        model: str | None = None,
        generation_name: str | None = None,
        tags: Sequence[str] | None = None,
        **params: Any,
    ) -> AsyncIterator[str]:
        """Async :meth:`stream_text`: ``async for chunk in client.astream_text(messages): ...``."""
        name, kwargs = self._prepare(model, generation_name, tags, params)
        litellm = _litellm()
        kwargs = self._stream_kwargs(name, kwargs)
        started = time.perf_counter()
        usage: Any = None
        error: BaseException | None = None
        try:
            stream = await litellm.acompletion(model=name, messages=list(messages), **kwargs)
            async for chunk in stream:
                usage = getattr(chunk, "usage", None) or usage
                text = _delta_text(chunk)
                if text:
                    yield text
        except Exception as exc:
            error = exc
            raise
        finally:
            self._report(name, events.OP_STREAM, started, usage, error, True, generation_name, tags)

    def _report(self, model: str, operation: str, started: float, usage: Any, error: BaseException | None,
                is_async: bool, generation_name: str | None, tags: Sequence[str] | None) -> None:
        duration = time.perf_counter() - started
        if not events.has_listeners():
            return
        prompt, completion, total = events.usage_counts(usage)
        # LiteLLM's Langfuse callback (switched on by setup_langfuse_for_litellm) exports this call itself.
        exported = self.enable_tracing and langfuse_enabled()
        events.emit(events.LLMCallEvent(
            model=model, operation=operation, duration=duration, prompt_tokens=prompt,
            completion_tokens=completion, total_tokens=total, success=error is None,
            error_type=type(error).__name__ if error is not None else None, is_async=is_async,
            provider=_provider_of(model), generation_name=generation_name, tags=tuple(tags or ()),
            attributes={events.ATTR_LANGFUSE_EXPORTED: True} if exported else {},
        ))


def _delta_text(chunk: Any) -> str:
    try:
        content = chunk.choices[0].delta.content
    except (AttributeError, IndexError, TypeError):
        return ""
    return content if isinstance(content, str) else ""


def _rebuild_client(cls: type[LLMClient], state: Mapping[str, Any]) -> LLMClient:
    client = cls.__new__(cls)
    client.__setstate__(state)
    return client


def default_llm_client(model: str | None = None, **default_params: Any) -> LLMClient:
    """The client a run uses when none was given: ``LLMClient(GRAFLOW_LLM_MODEL or "gpt-5-mini")``.

    Reads ``.env`` first. Building it is cheap (LiteLLM is imported on the first call), so an engine can create it
    on first use of ``context.llm_client``.

    Args:
        model: Use this model instead of ``GRAFLOW_LLM_MODEL`` (an empty string counts as not given).
        **default_params: Default parameters of the client.
    """
    settings.load_env()
    return LLMClient(model=model or settings.default_model(), **default_params)


__all__ = ["LLMClient", "default_llm_client", "extract_text", "make_message", "setup_langfuse_for_litellm"]

"""Prompts served by a Langfuse server (the ``langfuse`` SDK comes with the ``tracing`` extra).

Lookups follow the SDK's rules: without label and version Langfuse returns the ``production`` label; a version and
a label cannot be asked for together; the SDK caches prompts (60 seconds unless told otherwise) and serves a stale
copy while it refreshes it in the background. Graflow's TTL convention is mapped onto the SDK's: ``0`` (no expiry)
becomes a long TTL, ``-1`` (no caching) becomes the SDK's ``0``.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Mapping
from typing import Any

from graflow.config import env
from graflow.prompts.base import DEFAULT_LABEL, PromptManager
from graflow.prompts.exceptions import (
    PromptBackendUnavailableError,
    PromptConfigurationError,
    PromptError,
    PromptFetchError,
    PromptNotFoundError,
    PromptRequestError,
)
from graflow.prompts.models import ChatPrompt, PromptVersion, TextPrompt

Langfuse: Any
try:
    from langfuse import Langfuse

    LANGFUSE_AVAILABLE = True
except ImportError:  # pragma: no cover - exercised only without the extra
    Langfuse = None
    LANGFUSE_AVAILABLE = False


class LangfusePromptManager(PromptManager):
    """Prompts fetched from Langfuse.

    Args:
        public_key: Langfuse public key (default ``LANGFUSE_PUBLIC_KEY``).
        secret_key: Langfuse secret key (default ``LANGFUSE_SECRET_KEY``).
        host: Langfuse URL (default ``LANGFUSE_HOST``, else the SDK's default, Langfuse Cloud). An explicit
            ``host`` wins over the environment.
        fetch_timeout_seconds: Timeout of one fetch; ``None`` keeps the SDK's default.
        max_retries: Retries of a failed fetch; ``None`` keeps the SDK's default (the SDK caps it at 4).
        client: A configured ``langfuse.Langfuse`` client to use instead of building one from the keys.

    Raises:
        PromptBackendUnavailableError: The langfuse package is not installed (an ``ImportError``).
        PromptConfigurationError: No client was given and a key is missing.

    Pickling keeps the public key, host and fetch settings but never the secret key or the client: an unpickled
    manager (a checkpoint, a distributed worker) builds its client from ``LANGFUSE_SECRET_KEY`` on first use.
    """

    #: SDK cache TTL used for graflow's ``cache_ttl_seconds=0`` ("no expiry"): the SDK reads 0 as "no caching".
    NO_EXPIRY_TTL_SECONDS = 6 * 60 * 60

    def __init__(
        self,
        public_key: str | None = None,
        secret_key: str | None = None,
        host: str | None = None,
        fetch_timeout_seconds: int | None = None,
        max_retries: int | None = None,
        *,
        client: Any = None,
    ) -> None:
        self.public_key = public_key
        self.host = host
        self.fetch_timeout_seconds = fetch_timeout_seconds
        self.max_retries = max_retries
        self._secret_key = secret_key
        self._lock = threading.Lock()
        self._client = client if client is not None else self._build_client()

    def get_prompt(
        self,
        name: str,
        *,
        version: int | None = None,
        label: str | None = None,
        cache_ttl_seconds: int | None = None,
    ) -> PromptVersion:
        """Fetch a prompt (or take it from the SDK's cache).

        Args:
            name: Prompt name; Langfuse folders are part of it (``"support/reply"``).
            version: Numeric version; cannot be combined with ``label``.
            label: Label; cannot be combined with ``version``. Neither means ``"production"``.
            cache_ttl_seconds: SDK cache TTL for this prompt; ``None`` keeps the SDK's default (60 s), ``0`` means
                no expiry (mapped to :attr:`NO_EXPIRY_TTL_SECONDS`), ``-1`` disables the cache.

        Returns:
            A :class:`TextPrompt` or a :class:`ChatPrompt`. Its ``label`` is the label asked for (``"production"``
            when none was), or the first label of the version when only a version was asked for; its
            ``metadata`` is the prompt's Langfuse ``config``. Chat messages keep their ``role`` and ``content``,
            and Langfuse placeholders stay ``{"type": "placeholder", "name": ...}`` for ``render`` to fill.

        Raises:
            PromptRequestError: Both ``version`` and ``label`` were given, or the name is empty (a ``ValueError``).
            PromptNotFoundError: Langfuse has no such prompt, label or version (its answer does not say which).
            PromptFetchError: Langfuse could not be reached or answered with an error; ``cause`` holds the SDK's
                error.
        """
        if not isinstance(name, str) or not name:
            raise PromptRequestError(f"prompt name must be a non-empty string, not {name!r}")
        if version is not None and label is not None:
            raise PromptRequestError(
                "Cannot specify both 'version' and 'label'. "
                "Use label for environment-based access or version for direct access.",
                prompt_name=name,
            )
        client = self._get_client()
        try:
            fetched = client.get_prompt(
                name,
                version=version,
                label=label,
                cache_ttl_seconds=self._sdk_ttl(cache_ttl_seconds),
                max_retries=self.max_retries,
                fetch_timeout_seconds=self.fetch_timeout_seconds,
            )
        except Exception as exc:  # noqa: BLE001 - the SDK raises its own API errors and plain network errors
            if getattr(exc, "status_code", None) == 404:
                raise PromptNotFoundError(prompt_name=name, label=label, version=version, cause=exc) from exc
            message = f"Could not fetch prompt '{name}' from Langfuse: {_describe(exc)}"
            raise PromptFetchError(message, exc, prompt_name=name) from exc
        return _convert(name, fetched, label=label, version=version)

    # -- client ------------------------------------------------------------------------------------------------------
    def _build_client(self) -> Any:
        if not LANGFUSE_AVAILABLE:
            raise PromptBackendUnavailableError(
                "The Langfuse prompt backend needs the langfuse package: pip install 'graflow[tracing]'",
                backend="langfuse",
            )
        public_key = self.public_key or env("LANGFUSE_PUBLIC_KEY")
        secret_key = self._secret_key or env("LANGFUSE_SECRET_KEY")
        if not public_key or not secret_key:
            raise PromptConfigurationError(
                "LangfusePromptManager needs Langfuse keys: pass public_key= and secret_key=, "
                "or set LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY"
            )
        options: dict[str, Any] = {"public_key": public_key, "secret_key": secret_key}
        if self.host:
            options[_host_parameter()] = self.host
        return Langfuse(**options)

    def _get_client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._build_client()
            return self._client

    def _sdk_ttl(self, cache_ttl_seconds: int | None) -> int | None:
        if cache_ttl_seconds == -1:
            return 0
        if cache_ttl_seconds == 0:
            return self.NO_EXPIRY_TTL_SECONDS
        return cache_ttl_seconds

    # -- pickling ----------------------------------------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        return {
            "public_key": self.public_key,
            "host": self.host,
            "fetch_timeout_seconds": self.fetch_timeout_seconds,
            "max_retries": self.max_retries,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._secret_key = None
        self._client = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LangfusePromptManager(host={self.host!r})"


@functools.cache
def _host_parameter() -> str:
    # Recent SDKs call it base_url and let LANGFUSE_BASE_URL override `host`; an explicit argument must win.
    return "base_url" if "base_url" in inspect.signature(Langfuse).parameters else "host"


def _convert(name: str, fetched: Any, *, label: str | None, version: int | None) -> PromptVersion:
    labels = list(getattr(fetched, "labels", None) or [])
    if label is None:
        label = DEFAULT_LABEL if version is None else (labels[0] if labels else None)
    config = getattr(fetched, "config", None)
    metadata = dict(config) if isinstance(config, Mapping) else {}
    content = fetched.prompt
    fields: dict[str, Any] = {"version": getattr(fetched, "version", None), "label": label, "metadata": metadata}
    prompt_name = getattr(fetched, "name", None) or name
    if isinstance(content, str):
        return TextPrompt(prompt_name, content, **fields)
    if isinstance(content, list):
        return ChatPrompt(prompt_name, [_message(m) for m in content], **fields)
    raise PromptError(f"Langfuse returned prompt '{name}' with content of type {type(content).__name__}",
                      prompt_name=name)


def _describe(exc: BaseException) -> str:
    """A one-line summary of an SDK error: HTTP status and the server's message, or the exception itself."""
    status = getattr(exc, "status_code", None)
    if status is not None:
        body = getattr(exc, "body", None)
        detail = body.get("message") or body.get("error") if isinstance(body, Mapping) else body
        return f"HTTP {status}" + (f": {detail}" if detail else "")
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _message(message: Any) -> dict[str, Any]:
    converted = dict(message)
    if converted.get("type") == "message":  # the SDK tags ordinary messages; chat APIs expect role and content only
        del converted["type"]
    return converted


__all__ = ["LANGFUSE_AVAILABLE", "LangfusePromptManager"]

"""Defaults and environment of the LLM integration.

Environment variables (all optional):

- ``GRAFLOW_LLM_MODEL``: model of the run's default client (:func:`graflow.llm.client.default_llm_client`),
  ``gpt-5-mini`` when unset, as in Graflow 0.2.
- ``GRAFLOW_LLM_API_BASE``: an OpenAI-compatible endpoint used by every :class:`~graflow.llm.client.LLMClient` call
  and every agent built by :func:`~graflow.llm.agents.pydantic_agent.create_pydantic_ai_agent` that names no
  endpoint of its own (a local server, a proxy, or the test server of :mod:`graflow.testing.fake_llm`).
- ``GRAFLOW_LLM_API_KEY``: the key sent to that endpoint (LiteLLM's provider variables such as ``OPENAI_API_KEY``
  apply otherwise).

A ``.env`` file in the working directory is read (without overriding variables already set) when python-dotenv is
installed, before the default client is built and before Langfuse is set up.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from typing import Any

from graflow import config

logger = logging.getLogger(__name__)

#: Model of the default client when ``GRAFLOW_LLM_MODEL`` is unset (Graflow 0.2's default).
DEFAULT_MODEL = "gpt-5-mini"
MODEL_ENV = "GRAFLOW_LLM_MODEL"
API_BASE_ENV = "GRAFLOW_LLM_API_BASE"
API_KEY_ENV = "GRAFLOW_LLM_API_KEY"

_env_loaded = False


def load_env() -> bool:
    """Read ``./.env`` into the environment once per process, keeping variables that are already set.

    Returns:
        Whether python-dotenv was available (the file itself may still be absent).
    """
    global _env_loaded
    if _env_loaded:
        return True
    try:
        from dotenv import load_dotenv
    except ImportError:
        logger.debug("python-dotenv is not installed; .env files are not read")
        return False
    load_dotenv(override=False)
    _env_loaded = True
    return True


def default_model() -> str:
    """``GRAFLOW_LLM_MODEL``, or :data:`DEFAULT_MODEL`."""
    return config.env(MODEL_ENV) or DEFAULT_MODEL


def api_base() -> str | None:
    """``GRAFLOW_LLM_API_BASE``, or None."""
    return config.env(API_BASE_ENV) or None


def api_key() -> str | None:
    """``GRAFLOW_LLM_API_KEY``, or None."""
    return config.env(API_KEY_ENV) or None


def is_installed(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it (LiteLLM alone takes seconds to import)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def import_optional(name: str, exports: dict[str, tuple[str, str]], namespace: dict[str, Any]) -> Any:
    """Resolve a package's optional export ``name`` (a module ``__getattr__`` helper).

    Args:
        name: The attribute asked for.
        exports: Optional export name -> (module defining it, package it needs).
        namespace: The package's ``globals()``; the value is cached there.

    Raises:
        AttributeError: ``name`` is not an optional export, or the package it needs is not installed (so
            ``from package import name`` raises ImportError, as when the name was never exported).
    """
    entry = exports.get(name)
    if entry is None or not is_installed(entry[1]):
        raise AttributeError(name)
    value = getattr(importlib.import_module(entry[0]), name)
    namespace[name] = value
    return value


__all__ = ["API_BASE_ENV", "API_KEY_ENV", "DEFAULT_MODEL", "MODEL_ENV", "api_base", "api_key", "default_model",
           "import_optional", "is_installed", "load_env"]

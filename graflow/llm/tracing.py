"""Langfuse tracing of LiteLLM calls.

LiteLLM's ``langfuse_otel`` callback exports each call as an OpenTelemetry span to Langfuse. The span becomes a
child of whatever OpenTelemetry span is current, so when Graflow's ``LangFuseTracer`` (or ``OtelTracer``) runs a
workflow, the LLM calls made in a task appear under that task.
"""

from __future__ import annotations

import logging
import threading

from graflow import config
from graflow.llm.settings import load_env

logger = logging.getLogger(__name__)

LANGFUSE_CALLBACK = "langfuse_otel"

_lock = threading.Lock()
_enabled = False
_warned_missing_keys = False


def setup_langfuse_for_litellm() -> bool:
    """Send LiteLLM calls to Langfuse when ``LANGFUSE_PUBLIC_KEY`` and ``LANGFUSE_SECRET_KEY`` are set.

    Reads ``.env`` first (see :func:`graflow.llm.settings.load_env`). ``LANGFUSE_HOST`` picks the server. Safe to
    call any number of times: the callback is added once per process. Without the keys nothing changes; that is
    logged at INFO level once per process (Graflow 0.2 warned on every client), later calls log at DEBUG level.

    Returns:
        Whether Langfuse tracing of LiteLLM is on.
    """
    global _enabled, _warned_missing_keys
    if _enabled:
        return True
    load_env()
    if not (config.env("LANGFUSE_PUBLIC_KEY") and config.env("LANGFUSE_SECRET_KEY")):
        with _lock:
            first = not _warned_missing_keys
            _warned_missing_keys = True
        (logger.info if first else logger.debug)(
            "Langfuse tracing of LLM calls is off: set LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY to enable it")
        return False
    try:
        import litellm
    except ImportError:
        logger.warning("Langfuse tracing of LLM calls needs litellm: pip install 'graflow[llm]'")
        return False
    with _lock:
        if not _enabled:
            callbacks = litellm.callbacks
            if LANGFUSE_CALLBACK not in callbacks:
                callbacks.append(LANGFUSE_CALLBACK)
            _enabled = True
            logger.info("Langfuse tracing of LiteLLM calls is on (%s callback)", LANGFUSE_CALLBACK)
    return True


def langfuse_enabled() -> bool:
    """Whether :func:`setup_langfuse_for_litellm` switched tracing on in this process."""
    return _enabled


__all__ = ["LANGFUSE_CALLBACK", "langfuse_enabled", "setup_langfuse_for_litellm"]

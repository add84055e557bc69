"""Tracers for worker tasks, from upstream's ``tracer_config`` dict (``{"type": "noop"|"console"|"langfuse"|"otel",
...}``). Unknown types are a configuration error; a tracer whose SDK is missing falls back to the no-op tracer with a
warning, so a worker never dies because tracing is unavailable."""

from __future__ import annotations

import logging
from typing import Any

from graflow.exceptions import ConfigError

logger = logging.getLogger(__name__)

TRACER_TYPES = ("noop", "console", "langfuse", "otel")


def validate_tracer_config(config: dict[str, Any] | None) -> dict[str, Any]:
    """A copy of ``config`` with a lower-case ``type`` (default ``noop``).

    Raises:
        ConfigError: The type is not one of :data:`TRACER_TYPES`.
    """
    out = dict(config or {})
    kind = str(out.get("type", "noop")).strip().lower()
    if kind not in TRACER_TYPES:
        raise ConfigError(f"Unknown tracer type {kind!r}; use one of: {', '.join(TRACER_TYPES)}")
    out["type"] = kind
    return out


def create_tracer(config: dict[str, Any]) -> Any:
    """A new tracer for one task, or None for the no-op tracer (the context then makes its default)."""
    kind = config.get("type", "noop")
    if kind == "noop":
        return None
    options = {k: v for k, v in config.items() if k != "type"}
    try:
        if kind == "console":
            from graflow.trace.console import ConsoleTracer

            return ConsoleTracer(**options)
        if kind == "langfuse":
            from graflow.trace import LangFuseTracer

            return LangFuseTracer(**options)
        from graflow.trace import OtelTracer

        return OtelTracer(**options)
    except (ImportError, AttributeError, TypeError, ValueError) as exc:
        logger.warning("Tracer %r is unavailable (%s); tasks run with the no-op tracer", kind, exc)
        return None


__all__ = ["TRACER_TYPES", "create_tracer", "validate_tracer_config"]

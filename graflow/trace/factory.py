"""Build a tracer from a plain configuration dict (workers, the CLI and config files use it).

``{"type": "noop"|"console"|"langfuse"|"otel", **options}``: the options are the tracer class's keyword arguments.
Vendor tracers are imported only when asked for.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from graflow.exceptions import ConfigError
from graflow.trace.base import Tracer

#: Tracer type -> "module:Class". Imported lazily so that a worker without the tracing extra still starts.
TRACER_TYPES: dict[str, str] = {
    "noop": "graflow.trace.noop:NoopTracer",
    "console": "graflow.trace.console:ConsoleTracer",
    "langfuse": "graflow.trace.langfuse:LangFuseTracer",
    "otel": "graflow.trace.otel:OtelTracer",
    "opentelemetry": "graflow.trace.otel:OtelTracer",
}
DEFAULT_TRACER_TYPE = "noop"


def create_tracer(config: Mapping[str, Any] | None = None) -> Tracer:
    """The tracer that ``config`` describes (a :class:`~graflow.trace.noop.NoopTracer` for None or ``{}``).

    Args:
        config: ``{"type": name, **keyword arguments of that tracer}``; ``type`` defaults to ``noop``.

    Returns:
        A new tracer.

    Raises:
        ConfigError: Unknown type, options the tracer does not accept, or its extra is not installed.
        ValueError: The tracer rejected its settings (e.g. Langfuse keys missing), as the tracer raises it.
    """
    options = dict(config or {})
    kind = str(options.pop("type", DEFAULT_TRACER_TYPE) or DEFAULT_TRACER_TYPE).strip().lower()
    target = TRACER_TYPES.get(kind)
    if target is None:
        raise ConfigError(f"Unknown tracer type {kind!r}; known types: {sorted(TRACER_TYPES)}")
    module_name, class_name = target.split(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except ImportError as exc:
        raise ConfigError(f"Tracer type {kind!r} is not available: {exc}", cause=exc) from exc
    try:
        tracer: Tracer = cls(**options)
    except TypeError as exc:
        raise ConfigError(f"Bad options for tracer type {kind!r} ({class_name}): {exc}", cause=exc) from exc
    return tracer


__all__ = ["DEFAULT_TRACER_TYPE", "TRACER_TYPES", "create_tracer"]

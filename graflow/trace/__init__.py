"""Tracing: ``Tracer`` base, ``NoopTracer`` (default), ``ConsoleTracer``, and vendor tracers when installed."""

from __future__ import annotations

from typing import Any

from graflow.trace.base import Tracer
from graflow.trace.console import ConsoleTracer
from graflow.trace.noop import NoopTracer

__all__ = ["ConsoleTracer", "NoopTracer", "Tracer"]


def __getattr__(name: str) -> Any:
    # Vendor tracers are imported on first use so that `import graflow.trace` never pulls in their SDKs.
    if name in ("LangFuseTracer", "LangfuseTracer"):
        from graflow.trace import langfuse

        return getattr(langfuse, name)
    if name == "OtelTracer":
        from graflow.trace import otel

        return otel.OtelTracer
    raise AttributeError(f"module 'graflow.trace' has no attribute {name!r}")

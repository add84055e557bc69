"""A tracer that prints the trace to the terminal (spec section 11 format)."""

from __future__ import annotations

import sys
import threading
from datetime import datetime
from typing import Any, TextIO

from graflow.trace import genai
from graflow.trace.base import Tracer

_COLORS = {"start": "\033[36m", "ok": "\033[32m", "error": "\033[31m", "dynamic": "\033[33m", "attach": "\033[35m"}
_RESET = "\033[0m"
_SHOWN_KEYS = frozenset({"trace_id", "task_type", "handler_type", "type"})


def _duration(ms: float) -> str:
    """``340ms`` below a second, ``1.23s`` from one second on."""
    return f"{ms / 1000:.2f}s" if ms >= 1000 else f"{ms:.0f}ms"


class ConsoleTracer(Tracer):
    """Prints one line per trace/span event: indent + icon + ``[HH:MM:SS.mmm]`` + message.

    Args:
        enable_runtime_graph: Keep the runtime graph as the base tracer does.
        enable_colors: Colour the lines with ANSI escapes.
        show_metadata: Print a second line with the metadata of dynamic tasks.
        indent_size: Spaces per nesting level.
        stream: Where to print (default ``sys.stdout`` at the time of each write).
    """

    def __init__(
        self,
        enable_runtime_graph: bool = True,
        enable_colors: bool = True,
        show_metadata: bool = True,
        indent_size: int = 2,
        stream: TextIO | None = None,
    ) -> None:
        super().__init__(enable_runtime_graph=enable_runtime_graph)
        self.enable_colors = enable_colors
        self.show_metadata = show_metadata
        self.indent_size = indent_size
        self._stream = stream
        self._write_lock = threading.Lock()

    def _line(self, kind: str, icon: str, message: str, depth: int | None = None) -> None:
        level = len(self._stack()) if depth is None else depth
        stamp = datetime.now().strftime("%H:%M:%S.%f")[:-3]
        text = f"{' ' * (self.indent_size * level)}{icon} [{stamp}] {message}"
        if self.enable_colors:
            text = f"{_COLORS.get(kind, '')}{text}{_RESET}"
        with self._write_lock:
            print(text, file=self._stream or sys.stdout, flush=True)

    def _details(self, metadata: dict[str, Any] | None) -> str:
        """`` (key: value, ...)`` of the keys worth a line, or nothing when metadata is off."""
        if not self.show_metadata:
            return ""
        shown = [f"{k}: {v}" for k, v in (metadata or {}).items() if k in _SHOWN_KEYS]
        return f" ({', '.join(shown)})" if shown else ""

    def _output_trace_start(self, name: str, trace_id: str | None, metadata: dict[str, Any] | None) -> None:
        self._line("start", "→", f"TRACE START: {name}{self._details({'trace_id': trace_id})}", depth=0)

    def _output_trace_end(self, name: str, output: Any, metadata: dict[str, Any] | None) -> None:
        duration = (metadata or {}).get("duration_ms", 0.0)
        self._line("ok", "✓", f"TRACE END: {name} ({_duration(duration)})", depth=0)

    def _output_span_start(self, name: str, parent_name: str | None, metadata: dict[str, Any] | None) -> None:
        self._line("start", "→", f"SPAN START: {name}{self._details(metadata)}", depth=len(self._stack()))

    def _output_span_end(self, name: str, output: Any, metadata: dict[str, Any] | None) -> None:
        meta = metadata or {}
        duration = meta.get("duration_ms", 0.0)
        depth = len(self._stack()) + 1
        if meta.get("error"):
            self._line("error", "✗", f"SPAN END: {name} - ERROR: {meta['error']} ({_duration(duration)})", depth=depth)
        else:
            self._line("ok", "✓", f"SPAN END: {name} ({_duration(duration)})", depth=depth)

    def _output_event(self, name: str, parent_span: str | None, metadata: dict[str, Any] | None) -> None:
        meta = dict(metadata or {})
        if name in ("iteration_task_added", "dynamic_task_added"):
            label = "ITERATION TASK" if name == "iteration_task_added" else "DYNAMIC TASK"
            self._line("dynamic", "⚡", f"+ {label}: {meta.get('task_id')} (parent: {meta.get('parent_task_id')})")
            extra = {k: v for k, v in meta.items() if k not in ("task_id", "parent_task_id", "is_iteration")}
            if self.show_metadata and extra:
                details = ", ".join(f"{k}: {v}" for k, v in extra.items())
                indent = " " * (self.indent_size * (len(self._stack()) + 1))
                text = f"{indent}({details})"
                with self._write_lock:
                    print(text, file=self._stream or sys.stdout, flush=True)
        elif name.startswith("parallel_group"):
            members = ", ".join(meta.get("member_ids", []))
            verb = "START" if name.endswith("start") else "END"
            self._line("start", "⇉", f"PARALLEL GROUP {verb}: {meta.get('group_id')} [{members}]")

    def on_llm_call(self, *, event: Any, context: Any, task_id: str | None = None) -> None:
        """Print one line per model call: model, tokens and latency."""
        tokens = f"{event.prompt_tokens or 0}+{event.completion_tokens or 0} tokens"
        outcome = "" if getattr(event, "success", True) else f" - ERROR: {event.error_type}"
        self._line("error" if outcome else "ok", "✦", f"LLM {genai.span_name(event)}: {tokens} "
                   f"({_duration(event.duration * 1000)}){outcome}", depth=len(self._stack()) + 1)

    def _output_attach_to_trace(self, trace_id: str, parent_span_id: str | None) -> None:
        self._line("attach", "🔗", f"ATTACHED TO TRACE: {trace_id} (parent_span: {parent_span_id})", depth=0)


__all__ = ["ConsoleTracer"]

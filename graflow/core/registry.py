"""Adapters by name: the one place where core reaches code in the layers above it.

Core never imports an adapter. It asks this registry for a *kind* and a *name* ("tracer"/"noop",
"checkpoint_store"/"redis") and gets the object the name stands for. Built-in adapters are listed below as
``"module:attribute"`` paths and imported on first use, so importing core never imports an adapter (nor redis,
fastapi or a vendor SDK); an adapter, or a user's own code, can register another name with :func:`register`.
"""

from __future__ import annotations

import importlib
import threading
from typing import Any

from graflow.exceptions import ConfigError

#: kind -> name -> "module:attribute" of the built-in adapters.
BUILTIN: dict[str, dict[str, str]] = {
    "tracer": {"noop": "graflow.trace.noop:NoopTracer"},
    "channel_factory": {"default": "graflow.channels.factory:ChannelFactory"},
    "typed_channel": {"default": "graflow.channels.typed:TypedChannel"},
    "task_queue_view": {"local": "graflow.queue.local:LocalTaskQueue"},
    "group_executor": {"default": "graflow.coordination.executor:GroupExecutor"},
    "task_handler": {
        # handlers that run a task in another process; graflow.core.handlers.<name> resolves them by these names
        "docker": "graflow.handlers.docker:DockerTaskHandler",
        "subprocess": "graflow.handlers.subprocess:SubprocessTaskHandler",
    },
    "redis_params": {
        # a client cannot travel in a pickle or a graph: these turn it into connection parameters and back
        "from_client": "graflow.utils.redis_utils:extract_redis_config",
        "ensure": "graflow.utils.redis_utils:ensure_redis_connection_params",
    },
    "checkpoint_store": {
        "file": "graflow.checkpoints.filesystem:FileSystemCheckpointStore",
        "redis": "graflow.checkpoints.redis_store:RedisCheckpointStore",
        "rediss": "graflow.checkpoints.redis_store:RedisCheckpointStore",
    },
    "render": {
        "ascii": "graflow.viz.ascii:draw_ascii",
        "cycles_line": "graflow.viz.info:cycles_line",
        "dependency_lines": "graflow.viz.info:dependency_lines",
    },
    "llm_client": {"default": "graflow.llm.client:default_llm_client"},
    "prompt_manager": {"default": "graflow.prompts.yaml_manager:YAMLPromptManager"},
    "feedback_manager": {"default": "graflow.hitl.context_api:default_manager"},
    "hitl": {"request": "graflow.hitl.context_api:request_feedback"},
    # the run store (graflow.runs): "default" opens one by URL, "recorder" is the hook that records runs into one
    "run_store": {"default": "graflow.runs:open_run_store", "recorder": "graflow.runs:recorder_for"},
}

_registered: dict[str, dict[str, Any]] = {}
_loaded: dict[tuple[str, str], Any] = {}
_lock = threading.Lock()


def register(kind: str, name: str, target: Any) -> None:
    """Make ``name`` of ``kind`` stand for ``target`` (an object, or a ``"module:attribute"`` path)."""
    with _lock:
        _registered.setdefault(kind, {})[name] = target
        _loaded.pop((kind, name), None)


def names(kind: str) -> list[str]:
    """The names known for ``kind``, built-in and registered."""
    return sorted({*BUILTIN.get(kind, {}), *_registered.get(kind, {})})


def known(kind: str, name: str) -> bool:
    """Whether ``name`` is a known adapter of ``kind`` (without importing it)."""
    return name in _registered.get(kind, {}) or name in BUILTIN.get(kind, {})


def resolve(kind: str, name: str) -> Any:
    """The object ``name`` of ``kind`` stands for, imported on first use.

    Raises:
        ConfigError: No adapter has that name.
        ImportError: The adapter's module (or an extra it needs) is not installed.
    """
    key = (kind, name)
    found = _loaded.get(key)
    if found is not None:
        return found
    target = _registered.get(kind, {}).get(name, BUILTIN.get(kind, {}).get(name))
    if target is None:
        raise ConfigError(f"No {kind} adapter named {name!r}; known: {', '.join(names(kind)) or 'none'}")
    if isinstance(target, str):
        module_name, _, attribute = target.partition(":")
        target = getattr(importlib.import_module(module_name), attribute)
    _loaded[key] = target
    return target


__all__ = ["BUILTIN", "known", "names", "register", "resolve"]

"""ADK agents to YAML and back, so a worker process can rebuild an agent it did not create.

Only configuration travels: text and number fields, the model (a model string, or a model class with its plain
options), tools and output schemas as import paths (``package.module:function``), and sub-agents recursively.
Tools must therefore be importable module-level functions or classes on the worker as well. API keys are left out:
workers read them from their own environment.

Rebuilding imports the modules the YAML names, so load YAML only from a trusted source (Graflow signs what crosses
Redis).
"""

from __future__ import annotations

import importlib
from typing import Any

from graflow.llm.errors import LLMAgentTypeError, LLMConfigError, LLMUnavailableError

FORMAT_KEY = "graflow_adk_agent"
FORMAT_VERSION = 1
#: Model options never written to YAML.
SECRET_OPTIONS = frozenset({"api_key"})
_SKIPPED_FIELDS = frozenset({"parent_agent"})


def _yaml() -> Any:
    try:
        import yaml
    except ImportError as exc:
        raise LLMUnavailableError("pyyaml", "adk", "Agent YAML serialization") from exc
    return yaml


def _adk_classes() -> tuple[Any, Any]:
    try:
        from google.adk.agents import BaseAgent
        from google.adk.models import BaseLlm
    except ImportError as exc:
        raise LLMUnavailableError("google-adk", "adk", "Agent YAML serialization") from exc
    return BaseAgent, BaseLlm


def _ref(obj: Any) -> str:
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if not module or not qualname or "<" in qualname:
        raise LLMConfigError(f"{obj!r} cannot be written to YAML: only importable module-level objects can")
    return f"{module}:{qualname}"


def _resolve(ref: str) -> Any:
    module_name, _, qualname = ref.partition(":")
    if not module_name or not qualname:
        raise LLMConfigError(f"Invalid import path in agent YAML: {ref!r}")
    obj: Any = importlib.import_module(module_name)
    for attribute in qualname.split("."):
        obj = getattr(obj, attribute)
    return obj


def _plain(value: Any) -> bool:
    if value is None or isinstance(value, str | int | float | bool):
        return True
    if isinstance(value, list | tuple):
        return all(_plain(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and _plain(item) for key, item in value.items())
    return False


def _encode(value: Any, base_agent: Any, base_llm: Any) -> Any:
    if isinstance(value, base_agent):
        return {"$agent": _encode_agent(value, base_agent, base_llm)}
    if isinstance(value, base_llm):
        options = dict(getattr(value, "_additional_args", None) or {})
        return {"$model": _ref(type(value)), "model": value.model,
                "options": {key: item for key, item in options.items() if key not in SECRET_OPTIONS and _plain(item)}}
    if isinstance(value, list | tuple):
        return [_encode(item, base_agent, base_llm) for item in value]
    if _plain(value):
        return value
    if callable(value):
        return {"$ref": _ref(value)}
    raise LLMConfigError(f"Agent field value {value!r} cannot be written to YAML")


def _encode_agent(agent: Any, base_agent: Any, base_llm: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name, info in type(agent).model_fields.items():
        if name in _SKIPPED_FIELDS:
            continue
        value = getattr(agent, name)
        default = None if info.is_required() else info.get_default(call_default_factory=True)
        if not info.is_required() and value == default:
            continue
        fields[name] = _encode(value, base_agent, base_llm)
    return {"class": _ref(type(agent)), "fields": fields}


def _decode(value: Any, base_agent: Any, base_llm: Any) -> Any:
    if isinstance(value, list):
        return [_decode(item, base_agent, base_llm) for item in value]
    if isinstance(value, dict):
        if "$agent" in value:
            return _decode_agent(value["$agent"], base_agent, base_llm)
        if "$model" in value:
            model_cls = _resolve(value["$model"])
            if not (isinstance(model_cls, type) and issubclass(model_cls, base_llm)):
                raise LLMConfigError(f"{value['$model']} is not an ADK model class")
            return model_cls(model=value["model"], **dict(value.get("options") or {}))
        if "$ref" in value:
            return _resolve(value["$ref"])
    return value


def _decode_agent(data: dict[str, Any], base_agent: Any, base_llm: Any) -> Any:
    agent_cls = _resolve(data["class"])
    if not (isinstance(agent_cls, type) and issubclass(agent_cls, base_agent)):
        raise LLMConfigError(f"{data['class']} is not an ADK agent class")
    fields = {name: _decode(value, base_agent, base_llm) for name, value in (data.get("fields") or {}).items()}
    return agent_cls(**fields)


def agent_to_yaml(agent: Any) -> str:
    """The configuration of ADK agent ``agent`` (with its sub-agents) as YAML.

    Raises:
        LLMUnavailableError: google-adk (or pyyaml) is not installed.
        LLMAgentTypeError: ``agent`` is not an ADK agent.
        LLMConfigError: a field holds something that is not importable by path (a lambda, a local function ...).
    """
    base_agent, base_llm = _adk_classes()
    if not isinstance(agent, base_agent):
        raise LLMAgentTypeError("a google.adk agent", agent)
    document = {FORMAT_KEY: FORMAT_VERSION, "agent": _encode_agent(agent, base_agent, base_llm)}
    return str(_yaml().safe_dump(document, sort_keys=False))


def yaml_to_agent(yaml_str: str) -> Any:
    """Rebuild the ADK agent written by :func:`agent_to_yaml`.

    Raises:
        LLMUnavailableError: google-adk (or pyyaml) is not installed.
        LLMConfigError: the text is not an agent written by :func:`agent_to_yaml`, or names something that does not
            import.
    """
    base_agent, base_llm = _adk_classes()
    yaml = _yaml()
    try:
        document = yaml.safe_load(yaml_str)
    except yaml.YAMLError as exc:
        raise LLMConfigError(f"Invalid agent YAML: {exc}") from exc
    if not isinstance(document, dict) or document.get(FORMAT_KEY) != FORMAT_VERSION or "agent" not in document:
        raise LLMConfigError("Invalid agent YAML: not written by agent_to_yaml")
    try:
        return _decode_agent(document["agent"], base_agent, base_llm)
    except LLMConfigError:
        raise
    except (ImportError, AttributeError, KeyError, TypeError, ValueError) as exc:
        raise LLMConfigError(f"Invalid agent YAML: {exc}") from exc


__all__ = ["agent_to_yaml", "yaml_to_agent"]

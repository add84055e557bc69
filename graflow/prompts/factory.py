"""``PromptManagerFactory.create(backend, **options)``: a prompt manager by backend name.

Built-in backends are ``"yaml"`` (:class:`~graflow.prompts.yaml_manager.YAMLPromptManager`, extra ``prompts``) and
``"langfuse"`` (:class:`~graflow.prompts.langfuse_manager.LangfusePromptManager`, extra ``tracing``). Each is
imported only when asked for. :meth:`PromptManagerFactory.register_backend` adds a custom one.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import Any

from graflow.prompts.base import PromptManager
from graflow.prompts.exceptions import PromptBackendError, PromptBackendUnavailableError

#: Built-in backends: name -> ("module:attribute", the package that must be importable, the extra that brings it).
_BUILTIN: dict[str, tuple[str, str, str]] = {
    "yaml": ("graflow.prompts.yaml_manager:YAMLPromptManager", "yaml", "prompts"),
    "langfuse": ("graflow.prompts.langfuse_manager:LangfusePromptManager", "langfuse", "tracing"),
}


class PromptManagerFactory:
    """Creates prompt managers by backend name."""

    _custom: dict[str, Callable[..., PromptManager]] = {}
    _lock = threading.Lock()

    @classmethod
    def create(cls, backend: str = "yaml", **kwargs: Any) -> PromptManager:
        """Create a prompt manager.

        Args:
            backend: ``"yaml"`` (default), ``"langfuse"``, or a name given to :meth:`register_backend`.
            **kwargs: The backend's constructor arguments. ``"yaml"``: ``prompts_dir=None, cache_ttl=300,
                cache_maxsize=10000``. ``"langfuse"``: ``public_key=None, secret_key=None, host=None,
                fetch_timeout_seconds=None, max_retries=None``.

        Returns:
            The new manager.

        Raises:
            PromptBackendError: The backend name is unknown (a ``ValueError``).
            PromptBackendUnavailableError: The backend's package is not installed (a ``ValueError`` and an
                ``ImportError``).

        Example:
            >>> pm = PromptManagerFactory.create("yaml", prompts_dir="./prompts")
        """
        with cls._lock:
            custom = cls._custom.get(backend)
        if custom is not None:
            return custom(**kwargs)
        if backend not in _BUILTIN:
            raise PromptBackendError(backend=backend, available=cls.available_backends())
        target, package, extra = _BUILTIN[backend]
        module_name, _, attribute = target.partition(":")
        try:
            importlib.import_module(package)
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise PromptBackendUnavailableError(
                f"The '{backend}' prompt backend is not available: {exc}. "
                f"Install it with: pip install 'graflow[{extra}]'",
                backend=backend,
            ) from exc
        manager_class: Callable[..., PromptManager] = getattr(module, attribute)
        return manager_class(**kwargs)

    @classmethod
    def register_backend(cls, name: str, factory: Callable[..., PromptManager]) -> None:
        """Make ``create(name, **kwargs)`` return ``factory(**kwargs)``; a built-in name can be overridden.

        Args:
            name: Backend name.
            factory: A :class:`~graflow.prompts.base.PromptManager` subclass or any callable returning a manager.
        """
        with cls._lock:
            cls._custom[name] = factory

    @classmethod
    def available_backends(cls) -> list[str]:
        """Names :meth:`create` accepts (built-in ones are listed even when their package is missing)."""
        with cls._lock:
            return sorted({*_BUILTIN, *cls._custom})


__all__ = ["PromptManagerFactory"]

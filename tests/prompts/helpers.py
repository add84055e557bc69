"""Shared test code: a minimal custom prompt backend."""

from __future__ import annotations

from graflow.prompts import PromptManager, PromptNotFoundError, PromptVersion, TextPrompt


class DictPromptManager(PromptManager):
    """A custom backend: text prompts held in a dict."""

    def __init__(self, prompts: dict[str, str]) -> None:
        self.prompts = prompts

    def get_prompt(
        self, name: str, *, version: int | None = None, label: str | None = None,
        cache_ttl_seconds: int | None = None,
    ) -> PromptVersion:
        if name not in self.prompts:
            raise PromptNotFoundError(prompt_name=name)
        return TextPrompt(name, self.prompts[name], version=1, label=label or "production")

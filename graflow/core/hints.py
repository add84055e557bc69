"""Hints for task parameters that keyword resolution (D11) could not fill: a likely typo gets a name to try."""

from __future__ import annotations

import difflib
import logging
from typing import TYPE_CHECKING, Any

from graflow.core.results import task_id_of

if TYPE_CHECKING:
    from graflow.core.context import ExecutionContext

logger = logging.getLogger("graflow.core.engine")


def similar_names(ctx: ExecutionContext, name: str) -> list[str]:
    """Upstream task ids and channel keys of ``ctx`` that look like ``name`` (closest first)."""
    candidates: set[str] = {str(node) for node in ctx.graph.nodes}
    try:
        keys = ctx.channel.keys()
    except Exception:  # a channel that cannot list its keys only loses the hint
        keys = []
    for key in keys:
        candidates.add(task_id_of(key) or key)
    candidates.discard(name)
    return difflib.get_close_matches(name, sorted(candidates), n=3, cutoff=0.6)


def missing_parameter_error(
    ctx: ExecutionContext,
    resolvable: tuple[tuple[str, bool], ...],
    call_kwargs: dict[str, Any],
    error: TypeError,
) -> TypeError | None:
    """A clearer error when ``error`` comes from a required parameter nothing filled; None when it does not.

    The engine names the task when it reports the failure, so the message names only the parameter.
    """
    missing = [name for name, has_default in resolvable if not has_default and name not in call_kwargs]
    if not missing:
        return None
    name = missing[0]
    message = f"parameter '{name}' has no value: no upstream task result, channel key or argument is named '{name}'"
    close = similar_names(ctx, name)
    if close:
        message += f"; did you mean {' or '.join(repr(c) for c in close)}?"
    clear = TypeError(message)
    clear.__cause__ = error
    return clear


def note_default_used(ctx: ExecutionContext, task_id: str, name: str) -> None:
    """Once per task and parameter: warn when a default was used while a similarly named result exists."""
    seen = ctx.__dict__.get("_defaults_noted")
    if seen is None:
        seen = ctx.__dict__["_defaults_noted"] = set()
    key = (task_id, name)
    if key in seen:
        return
    seen.add(key)
    close = similar_names(ctx, name)
    if close:
        logger.warning(
            "Task '%s': parameter '%s' took its default value because nothing named '%s' was found upstream or in "
            "the channel; did you mean %s?", task_id, name, name, " or ".join(repr(c) for c in close))


__all__ = ["missing_parameter_error", "note_default_used", "similar_names"]

"""Upstream import path of :mod:`graflow.distributed.context_factory`."""

from __future__ import annotations

from graflow.distributed.context_factory import (
    GRAPH_OBJECT_CACHE_SIZE,
    ExecutionContextFactory,
    GraphCache,
    gc_paused,
)

__all__ = [
    "GRAPH_OBJECT_CACHE_SIZE",
    "ExecutionContextFactory",
    "GraphCache",
    "gc_paused",
]

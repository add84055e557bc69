"""Upstream import path of :mod:`graflow.distributed.graph_store`."""

from __future__ import annotations

from graflow.distributed.graph_store import (
    COMPRESSION_LEVEL,
    GraphIntegrityError,
    GraphNotFoundError,
    GraphStore,
)

__all__ = [
    "COMPRESSION_LEVEL",
    "GraphIntegrityError",
    "GraphNotFoundError",
    "GraphStore",
]

"""Checkpoint storage: the store contract, the file format and the default filesystem store.

The Redis store (:mod:`graflow.checkpoints.redis_store`) is imported only when a ``redis://`` location is used.
"""

from __future__ import annotations

from graflow.checkpoints.filesystem import FileSystemCheckpointStore
from graflow.core.checkpoint_store import CheckpointError, CheckpointStore, open_store

__all__ = ["CheckpointError", "CheckpointStore", "FileSystemCheckpointStore", "open_store"]

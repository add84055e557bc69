"""Serialization of tasks, graphs and contexts: cloudpickle, falling back to pickle."""

from __future__ import annotations

import pickle
from typing import IO, Any

try:  # cloudpickle serializes closures and lambdas; it is a core dependency but stay importable without it
    import cloudpickle as _pickler
except ImportError:  # pragma: no cover - cloudpickle is a declared dependency
    _pickler = pickle


def dumps(obj: Any) -> bytes:
    """Serialize ``obj`` to bytes."""
    data: bytes = _pickler.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return data


def loads(data: bytes) -> Any:
    """Deserialize bytes made by :func:`dumps`. Only call this on trusted or verified data."""
    return pickle.loads(data)


def dump(obj: Any, fp: IO[bytes]) -> None:
    """Serialize ``obj`` into a binary file object."""
    _pickler.dump(obj, fp, protocol=pickle.HIGHEST_PROTOCOL)


def load(fp: IO[bytes]) -> Any:
    """Deserialize from a binary file object. Only call this on trusted or verified data."""
    return pickle.load(fp)


__all__ = ["dump", "dumps", "load", "loads"]

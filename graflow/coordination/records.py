"""Upstream import path of :mod:`graflow.distributed.records`."""

from __future__ import annotations

from graflow.distributed.records import (
    RecordDecodeError,
    SerializedTaskRecord,
)

__all__ = [
    "RecordDecodeError",
    "SerializedTaskRecord",
]

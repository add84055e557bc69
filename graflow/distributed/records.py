"""The task record a producer puts on the Redis queue for a worker.

A record names the task and the graph it belongs to (by content hash, see ``GraphStore``); it carries no pickled
code, so it is plain JSON. Upstream's fields come first and keep their names; the extras have defaults, so a record
written by upstream Graflow still decodes. Unknown fields are ignored, so an older worker reads a newer record.
``to_signed``/``from_signed`` frame the JSON with a signer (D20): a worker verifies a record before it trusts it.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from graflow.exceptions import GraflowError
from graflow.security.signing import Signer


class RecordDecodeError(GraflowError):
    """Bytes could not be decoded into a :class:`SerializedTaskRecord`.

    Attributes:
        reason: Always ``"undecodable"``; the queue uses it as the dead-letter reason.
        detail: What was wrong.
    """

    def __init__(self, detail: str, reason: Literal["undecodable"] = "undecodable") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"Undecodable task record: {detail}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.detail, self.reason))


def _new_record_id() -> str:
    return uuid.uuid4().hex


_OPTIONAL_STR = (str, type(None))
# field name -> accepted JSON types. created_at/enqueued_at accept ints: JSON does not keep 1.0 apart from 1.
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "task_id": (str,),
    "session_id": (str,),
    "graph_hash": (str,),
    "trace_id": _OPTIONAL_STR,
    "created_at": (int, float),
    "group_id": _OPTIONAL_STR,
    "parent_span_id": _OPTIONAL_STR,
    "attempt": (int,),
    "trace_context": (dict, type(None)),
    "workflow_name": _OPTIONAL_STR,
    "record_id": (str,),
    "enqueued_at": (int, float),
}
_REQUIRED = ("task_id", "session_id", "graph_hash", "trace_id", "created_at")


@dataclass
class SerializedTaskRecord:
    """One task to run on a worker.

    Attributes:
        task_id: The graph node to run.
        session_id: The producer's session; the worker's channel uses it, so results land where the producer reads.
        graph_hash: sha256 hex of the pickled graph in the graph store.
        trace_id: The producer's trace id (None when tracing is off).
        created_at: When the producer created the record (epoch seconds).
        group_id: The parallel group the task belongs to, if any.
        parent_span_id: The span to attach the worker's spans to.
        attempt: How many times this task was attempted before (0 on first dispatch).
        trace_context: W3C trace context (``{"traceparent": ..., "tracestate": ...}``) for OpenTelemetry.
        workflow_name: The workflow's name, for logs and metrics.
        record_id: Unique id of this record (idempotency key of its completion).
        enqueued_at: When the record was put on the queue (epoch seconds).
    """

    task_id: str
    session_id: str
    graph_hash: str
    trace_id: str | None
    created_at: float
    group_id: str | None = None
    parent_span_id: str | None = None
    attempt: int = 0
    trace_context: dict[str, str] | None = None
    workflow_name: str | None = None
    record_id: str = field(default_factory=_new_record_id)
    enqueued_at: float = field(default_factory=time.time)

    def to_json(self) -> str:
        """The record as a compact JSON object."""
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, s: str | bytes | bytearray) -> SerializedTaskRecord:
        """Decode a record made by :meth:`to_json` (or by upstream Graflow).

        Raises:
            RecordDecodeError: ``s`` is not JSON, not an object, lacks a required field or has a field of the
                wrong type.
        """
        try:
            data = json.loads(s)
        except (ValueError, TypeError) as error:  # UnicodeDecodeError is a ValueError
            raise RecordDecodeError(f"not JSON ({error})") from error
        if not isinstance(data, dict):
            raise RecordDecodeError(f"expected a JSON object, got {type(data).__name__}")
        missing = [name for name in _REQUIRED if name not in data]
        if missing:
            raise RecordDecodeError(f"missing field(s) {', '.join(missing)}")
        values = {name: value for name, value in data.items() if name in _FIELD_TYPES}
        for name, value in values.items():
            accepted = _FIELD_TYPES[name]
            if isinstance(value, bool) or not isinstance(value, accepted):
                wanted = " or ".join("null" if t is type(None) else t.__name__ for t in accepted)
                raise RecordDecodeError(f"field {name!r} must be {wanted}, got {type(value).__name__}")
        if values["created_at"] != values["created_at"] or values.get("attempt", 0) < 0:
            raise RecordDecodeError("created_at is NaN or attempt is negative")
        return cls(**values)

    def to_signed(self, signer: Signer) -> bytes:
        """The JSON of this record framed by ``signer``."""
        return signer.sign(self.to_json().encode("utf-8"))

    @classmethod
    def from_signed(cls, blob: bytes, signer: Signer) -> SerializedTaskRecord:
        """Verify ``blob`` with ``signer``, then decode the record.

        Raises:
            BadSignatureError: The frame was rejected.
            RecordDecodeError: The verified payload is not a record.
        """
        return cls.from_json(signer.verify(blob))


__all__ = ["RecordDecodeError", "SerializedTaskRecord"]

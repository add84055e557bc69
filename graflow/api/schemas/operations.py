"""JSON bodies of the operations endpoints: workers, dead letters, the audit log and the API index."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class RunningTask(BaseModel):
    """A task a worker holds (running, or prefetched)."""

    entry_id: str
    task_id: str
    consumer: str
    idle_seconds: float
    deliveries: int


class WorkerOut(BaseModel):
    """A worker of the consumer group."""

    name: str
    pending: int = Field(..., description="Tasks it holds and has not acknowledged")
    idle_seconds: float = Field(..., description="Since its last read of the stream")
    inactive_seconds: float | None = Field(default=None, description="Since its last successful read (Redis 7.2+)")
    running: list[RunningTask] = Field(default_factory=list)


class QueueDepth(BaseModel):
    """Tasks by state."""

    waiting: int
    running: int
    dead: int
    delayed: int


class WorkersOut(BaseModel):
    """The workers and the queue."""

    configured: bool = Field(..., description="False when the server has no Redis (--redis-url)")
    key_prefix: str
    workers: list[WorkerOut]
    queue: QueueDepth | None = None


class DeadLetterOut(BaseModel):
    """A dead-lettered task."""

    dead_letter_id: str
    task_id: str | None = None
    group_id: str | None = None
    reason: str | None = Field(default=None, description="max_deliveries, bad_signature, undecodable ...")
    detail: str | None = None
    entry_id: str | None = Field(default=None, description="Its entry in the task stream before it died")
    consumer: str | None = None
    deliveries: int = 0
    dead_at: float | None = None
    payload_bytes: int = 0
    session_id: str | None = Field(default=None, description="The run it belongs to, when its payload verifies")
    workflow_name: str | None = None


class DeadLetterPage(BaseModel):
    """Dead letters, newest first."""

    configured: bool
    count: int
    dead_letters: list[DeadLetterOut]
    next_cursor: str | None = Field(default=None, description="Pass as ?before= for the next page")


class RequeueOut(BaseModel):
    """A dead letter put back on the task stream."""

    dead_letter_id: str
    entry_id: str = Field(..., description="Its new entry in the task stream")
    task_id: str


class MessageOut(BaseModel):
    """A short confirmation."""

    message: str


class AuditEntryOut(BaseModel):
    """One mutating call."""

    entry_id: str
    at: float
    role: str
    token_fingerprint: str | None = None
    method: str
    path: str
    action: str
    target: str | None = None
    status_code: int
    idempotency_key: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class AuditPageOut(BaseModel):
    """Audit entries, newest first."""

    count: int
    entries: list[AuditEntryOut]
    next_cursor: str | None = None


class ApiIndex(BaseModel):
    """What the API offers."""

    version: str = Field(..., description="Version of the /api endpoints (additive changes only within it)")
    openapi: str
    docs: str
    role: str = Field(..., description="The caller's role")
    endpoints: dict[str, str]


__all__ = [
    "ApiIndex",
    "AuditEntryOut",
    "AuditPageOut",
    "DeadLetterOut",
    "DeadLetterPage",
    "MessageOut",
    "QueueDepth",
    "RequeueOut",
    "RunningTask",
    "WorkerOut",
    "WorkersOut",
]

"""Operations: the workers and the queue (``GET /api/workers``), dead letters (list, requeue, delete) and the audit
log (``GET /api/audit``, operators only). Without ``--redis-url`` the queue endpoints answer with
``configured: false`` (reads) or ``409`` (changes)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from graflow.api.audit import note
from graflow.api.endpoints.common import COMMON_ERRORS, described
from graflow.api.errors import ApiError
from graflow.api.schemas.operations import (
    AuditEntryOut,
    AuditPageOut,
    DeadLetterOut,
    DeadLetterPage,
    MessageOut,
    RequeueOut,
    WorkersOut,
)
from graflow.api.services import principal_of, services_of
from graflow.api.store import store_call

router = APIRouter(prefix="/api", tags=["operations"], responses=COMMON_ERRORS)

DEAD_LETTER_ERRORS = {**described(404, "No such dead letter"), **described(409, "The server has no Redis")}
DeadLetterId = Annotated[str, Path(description="A dead-letter id: <milliseconds>-<sequence>", max_length=41)]


@router.get("/workers", response_model=WorkersOut, summary="Workers and queue depth")
def list_workers(request: Request) -> WorkersOut:
    """The workers reading the task stream of the server's Redis, the tasks each holds, and the number of tasks
    waiting, running, dead-lettered and delayed."""
    return WorkersOut.model_validate(services_of(request).queue.workers())


@router.get("/dead-letters", response_model=DeadLetterPage, summary="Dead letters")
def list_dead_letters(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: Annotated[str | None, Query(description="next_cursor of the previous page", max_length=41)] = None,
) -> DeadLetterPage:
    """Tasks moved to the dead-letter stream, newest first, with why (``max_deliveries``, ``bad_signature`` ...)."""
    queue = services_of(request).queue
    rows, cursor = queue.dead_letters(limit, before)
    letters = [DeadLetterOut.model_validate(row) for row in rows]
    return DeadLetterPage(configured=queue.redis.configured, count=len(letters), dead_letters=letters,
                          next_cursor=cursor)


@router.post("/dead-letters/{dead_letter_id}/requeue", response_model=RequeueOut, summary="Requeue a dead letter",
             responses=DEAD_LETTER_ERRORS)
def requeue_dead_letter(request: Request, dead_letter_id: DeadLetterId) -> RequeueOut:
    """Put a dead letter back on the task stream with its original payload, and remove it from the dead letters,
    in one transaction. The task runs again; a run that counted it as failed stays failed."""
    moved = services_of(request).queue.requeue(dead_letter_id)
    note(request, "dead_letter.requeue", dead_letter_id, task_id=moved["task_id"], entry_id=moved["entry_id"])
    return RequeueOut(**moved)


@router.delete("/dead-letters/{dead_letter_id}", response_model=MessageOut, summary="Delete a dead letter",
               responses=DEAD_LETTER_ERRORS)
def delete_dead_letter(request: Request, dead_letter_id: DeadLetterId) -> MessageOut:
    """Delete a dead letter for good."""
    services_of(request).queue.delete(dead_letter_id)
    note(request, "dead_letter.delete", dead_letter_id)
    return MessageOut(message=f"Dead letter {dead_letter_id} deleted")


@router.get("/audit", response_model=AuditPageOut, summary="The audit log (operators)")
def list_audit(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    action: Annotated[str | None, Query(description="Only this action, e.g. run.start")] = None,
    target: Annotated[str | None, Query(description="Only calls on this id")] = None,
) -> AuditPageOut:
    """Every mutating call, newest first: who (role and token fingerprint), what, on what, when, with what answer."""
    if not principal_of(request).may_change:
        raise ApiError(403, "The audit log is for operators")
    store = services_of(request).store.get()
    page = store_call("read the audit log", store.list_audit, limit=limit, cursor=cursor, action=action,
                      target=target)
    entries = [AuditEntryOut(**vars(entry)) for entry in page.entries]
    return AuditPageOut(count=len(entries), entries=entries, next_cursor=page.next_cursor)


__all__ = ["router"]

"""JSON endpoints under ``/api/feedback``: list pending requests, read one, answer it, cancel it.

The router works in any FastAPI app whose ``app.state.feedback_manager`` holds a
:class:`~graflow.hitl.manager.FeedbackManager` (``create_feedback_api`` sets it). Endpoints are plain functions, so
FastAPI runs the blocking backend calls in its thread pool, off the event loop.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request

from graflow.api.schemas.feedback import (
    ErrorResponse,
    FeedbackDetailResponse,
    FeedbackRequestResponse,
    FeedbackResponseDetails,
    FeedbackResponseRequest,
    MessageResponse,
    PendingFeedbackListResponse,
)
from graflow.hitl.manager import FeedbackManager
from graflow.hitl.types import FeedbackResponse

router = APIRouter(prefix="/api/feedback", tags=["feedback"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorResponse, "description": "No such request"}}


def get_feedback_manager(request: Request) -> FeedbackManager:
    """The app's feedback manager.

    Raises:
        HTTPException: 500 when the app has none (it was not made by ``create_feedback_api``).
    """
    manager = getattr(request.app.state, "feedback_manager", None)
    if manager is None:
        raise HTTPException(
            status_code=500, detail="FeedbackManager not initialized. Did you use create_feedback_api()?"
        )
    return manager  # type: ignore[no-any-return]


def _not_found(feedback_id: str) -> HTTPException:
    return HTTPException(status_code=404, detail=f"Feedback request '{feedback_id}' not found")


@router.get("", response_model=PendingFeedbackListResponse, summary="List pending feedback requests")
def list_pending_feedback(request: Request, session_id: str | None = None) -> PendingFeedbackListResponse:
    """Requests that wait for an answer (status ``pending``), newest first, of one session when given."""
    pending = get_feedback_manager(request).list_pending_requests(session_id)
    requests = [FeedbackRequestResponse(**item.to_dict()) for item in pending]
    return PendingFeedbackListResponse(count=len(requests), requests=requests)


@router.get("/{feedback_id}", response_model=FeedbackDetailResponse, responses=NOT_FOUND, summary="Get a request")
def get_feedback(request: Request, feedback_id: str) -> FeedbackDetailResponse:
    """A request of any status, with its answer (``null`` when there is none yet)."""
    manager = get_feedback_manager(request)
    stored = manager.get_request(feedback_id)
    if stored is None:
        raise _not_found(feedback_id)
    answer = manager.get_response(feedback_id)
    return FeedbackDetailResponse(
        request=FeedbackRequestResponse(**stored.to_dict()),
        response=FeedbackResponseDetails(**answer.to_dict()) if answer is not None else None,
    )


@router.post(
    "/{feedback_id}/respond",
    response_model=FeedbackResponseDetails,
    responses={**NOT_FOUND, 400: {"model": ErrorResponse, "description": "Already answered or cancelled"}},
    summary="Answer a request",
)
def respond_to_feedback(request: Request, feedback_id: str, body: FeedbackResponseRequest) -> FeedbackResponseDetails:
    """Answer a pending (or timed-out) request; the response type is the request's. The waiting task wakes and
    writes the answer to its channel when it asked to."""
    manager = get_feedback_manager(request)
    stored = manager.get_request(feedback_id)
    if stored is None:
        raise _not_found(feedback_id)
    answer = FeedbackResponse(feedback_id=feedback_id, response_type=stored.feedback_type, **body.model_dump())
    if not manager.provide_feedback(feedback_id, answer):
        raise HTTPException(status_code=400, detail="Failed to provide feedback")
    return FeedbackResponseDetails(**answer.to_dict())


@router.delete(
    "/{feedback_id}",
    response_model=MessageResponse,
    responses={**NOT_FOUND, 409: {"model": ErrorResponse, "description": "Already answered"}},
    summary="Cancel a request",
)
def cancel_feedback(request: Request, feedback_id: str) -> MessageResponse:
    """Cancel a pending or timed-out request; the waiting task wakes at once and fails with a clear error (D24).

    Cancelling a cancelled request again succeeds; an answered request cannot be cancelled (409).
    """
    manager = get_feedback_manager(request)
    if manager.get_request(feedback_id) is None:
        raise _not_found(feedback_id)
    if not manager.cancel(feedback_id):
        raise HTTPException(status_code=409, detail=f"Feedback request '{feedback_id}' is already answered")
    return MessageResponse(message="Feedback request cancelled", feedback_id=feedback_id)

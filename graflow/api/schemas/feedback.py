"""JSON bodies of the feedback endpoints (field names and meaning as in Graflow 0.2)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class FeedbackResponseRequest(BaseModel):
    """Body of ``POST /api/feedback/{feedback_id}/respond``: fill the fields of the request's type."""

    approved: bool | None = Field(None, description="Approval: the decision")
    reason: str | None = Field(None, description="Approval: why")
    text: str | None = Field(None, description="Text: the answer")
    selected: str | None = Field(None, description="Selection: the chosen option")
    selected_multiple: list[str] | None = Field(None, description="Multi-selection: the chosen options")
    custom_data: dict[str, Any] | None = Field(None, description="Custom: the answer as a JSON object")
    responded_by: str | None = Field(None, description="Who answers")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {"approved": True, "reason": "Looks good", "responded_by": "alice@example.com"},
                {"text": "Fix the typo in section 3 first", "responded_by": "bob@example.com"},
                {"selected": "option_b"},
            ]
        }
    }


class FeedbackRequestResponse(BaseModel):
    """A stored feedback request."""

    feedback_id: str = Field(..., description="Id of the request (also the capability to answer it)")
    task_id: str = Field(..., description="The task that asks")
    session_id: str = Field(..., description="The run the task belongs to")
    feedback_type: str = Field(..., description="approval, text, selection, multi_selection or custom")
    prompt: str = Field(..., description="The question")
    options: list[str] | None = Field(None, description="Choices of a selection request")
    status: str = Field(..., description="pending, completed, timeout or cancelled")
    created_at: str = Field(..., description="Creation time, ISO 8601")
    timeout: float = Field(..., description="Seconds the task waits")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Details shown with the request")
    channel_key: str | None = Field(None, description="Channel key the answer is written to")
    write_to_channel: bool = Field(False, description="Whether the answer is written to the channel")


class FeedbackResponseDetails(BaseModel):
    """A stored answer."""

    feedback_id: str = Field(..., description="Id of the request answered")
    response_type: str = Field(..., description="Type of the request answered")
    approved: bool | None = Field(None, description="Approval: the decision")
    reason: str | None = Field(None, description="Approval: why")
    text: str | None = Field(None, description="Text: the answer")
    selected: str | None = Field(None, description="Selection: the chosen option")
    selected_multiple: list[str] | None = Field(None, description="Multi-selection: the chosen options")
    custom_data: dict[str, Any] | None = Field(None, description="Custom: the answer")
    responded_at: str = Field(..., description="Time of the answer, ISO 8601")
    responded_by: str | None = Field(None, description="Who answered")


class FeedbackDetailResponse(BaseModel):
    """A request with its answer, if there is one."""

    request: FeedbackRequestResponse
    response: FeedbackResponseDetails | None = None


class MessageResponse(BaseModel):
    """A confirmation message."""

    message: str = Field(..., description="What happened")
    feedback_id: str | None = Field(None, description="The request concerned")


class PendingFeedbackListResponse(BaseModel):
    """The pending requests."""

    count: int = Field(..., description="Number of requests listed")
    requests: list[FeedbackRequestResponse]


class ErrorResponse(BaseModel):
    """Body of every error answer."""

    error: str = Field(..., description="Short machine-readable code, e.g. not_found")
    detail: Any = Field(..., description="What went wrong")


__all__ = [
    "FeedbackResponseRequest",
    "FeedbackRequestResponse",
    "FeedbackResponseDetails",
    "FeedbackDetailResponse",
    "MessageResponse",
    "PendingFeedbackListResponse",
    "ErrorResponse",
]

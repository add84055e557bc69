"""The records of human-in-the-loop feedback: what a task asks (a request) and what a person answers (a response).

Both are pydantic models with the fields and defaults of Graflow 0.2, stored as JSON by every backend. A request's
``feedback_id`` is also the capability that lets someone answer it (the web form's URL holds it), so generated ids
are random tokens from :mod:`secrets`, never derived from the task or the time.
"""

from __future__ import annotations

import json
import re
import secrets
import string
from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel, Field

from graflow.hitl.exceptions import FeedbackCancelledError, FeedbackTimeoutError

#: Request status: waiting for an answer.
PENDING = "pending"
#: Request status: answered; the response is stored under the same id.
COMPLETED = "completed"
#: Request status: the waiting task gave up; an answer is still accepted (and returned when the task asks again).
TIMEOUT = "timeout"
#: Request status: withdrawn; it never accepts an answer again.
CANCELLED = "cancelled"
#: Every request status.
STATUSES = frozenset({PENDING, COMPLETED, TIMEOUT, CANCELLED})
#: Statuses in which a request accepts an answer or a cancellation.
OPEN_STATUSES = frozenset({PENDING, TIMEOUT})

#: Length of generated feedback ids: 16 characters of 62 give about 95 random bits.
FEEDBACK_ID_LENGTH = 16
_ID_ALPHABET = string.ascii_letters + string.digits
# Ids name files and Redis keys, so they may not contain separators or start with a dot.
_ID_PATTERN = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}")


def new_feedback_id(length: int = FEEDBACK_ID_LENGTH) -> str:
    """A new unguessable feedback id: ``length`` random letters and digits.

    Args:
        length: Number of characters, at least 16.

    Raises:
        ValueError: ``length`` is below 16.
    """
    if length < FEEDBACK_ID_LENGTH:
        raise ValueError(f"feedback ids need at least {FEEDBACK_ID_LENGTH} characters, got {length}")
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def is_valid_feedback_id(feedback_id: object) -> bool:
    """Whether ``feedback_id`` may name a request: 1-128 of ``A-Z a-z 0-9 _ - .``, not starting with a dot."""
    return isinstance(feedback_id, str) and _ID_PATTERN.fullmatch(feedback_id) is not None


def validate_feedback_id(feedback_id: object) -> str:
    """Return ``feedback_id`` if it is valid (see :func:`is_valid_feedback_id`).

    Raises:
        ValueError: It is not a string of the allowed characters, or it is too long.
    """
    if not is_valid_feedback_id(feedback_id):
        raise ValueError(
            f"invalid feedback id {feedback_id!r}: use 1-128 letters, digits, '_', '-' or '.', not starting with '.'"
        )
    assert isinstance(feedback_id, str)
    return feedback_id


def _now_iso() -> str:
    return datetime.now().isoformat()


class FeedbackType(Enum):
    """What kind of answer a request wants, and so which response field carries it."""

    APPROVAL = "approval"  # approved (+ reason)
    TEXT = "text"  # text
    SELECTION = "selection"  # selected: one of options
    MULTI_SELECTION = "multi_selection"  # selected_multiple: some of options
    CUSTOM = "custom"  # custom_data: a JSON object


class FeedbackRequest(BaseModel):
    """A question a task asks a person.

    Attributes:
        feedback_id: Unique id; also the capability to answer the request.
        task_id: The task that asks.
        session_id: The run (execution context session) the task belongs to.
        feedback_type: What kind of answer is wanted.
        prompt: The question shown to the person.
        options: The choices of a selection or multi-selection request.
        metadata: Free-form details shown with the request (an engine adds checkpoint details here).
        created_at: Local time of creation, ISO 8601.
        timeout: Seconds the task waits for the answer.
        status: ``pending``, ``completed``, ``timeout`` or ``cancelled``.
        channel_key: Channel key the waiting task writes the answer to, when ``write_to_channel`` is set.
        write_to_channel: Whether the waiting task writes the answer to ``channel_key``.
    """

    feedback_id: str
    task_id: str
    session_id: str
    feedback_type: FeedbackType
    prompt: str
    options: list[str] | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: str = Field(default_factory=_now_iso)
    timeout: float = 180.0
    status: str = PENDING
    channel_key: str | None = None
    write_to_channel: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict, with ``feedback_type`` as its string value."""
        data = self.model_dump()
        data["feedback_type"] = self.feedback_type.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeedbackRequest:
        """Build a request from :meth:`to_dict` output (``feedback_type`` may be the enum or its value)."""
        return cls.model_validate(data)

    def to_json(self) -> str:
        """The stored form: :meth:`to_dict` as JSON; values JSON cannot hold are stored as their ``str()``."""
        return json.dumps(self.to_dict(), default=str, ensure_ascii=False)

    @classmethod
    def from_json(cls, data: str | bytes) -> FeedbackRequest:
        """Parse the stored form written by :meth:`to_json`."""
        return cls.from_dict(json.loads(data))


class FeedbackResponse(BaseModel):
    """A person's answer to a :class:`FeedbackRequest`; the field that matters depends on ``response_type``.

    Attributes:
        feedback_id: Id of the request answered.
        response_type: Same as the request's ``feedback_type``.
        approved: Approval: the decision.
        reason: Approval: why (optional).
        text: Text: the answer.
        selected: Selection: the chosen option.
        selected_multiple: Multi-selection: the chosen options.
        custom_data: Custom: the answer as a JSON object.
        responded_at: Local time of the answer, ISO 8601.
        responded_by: Who answered (free text, optional).
    """

    feedback_id: str
    response_type: FeedbackType
    approved: bool | None = None
    reason: str | None = None
    text: str | None = None
    selected: str | None = None
    selected_multiple: list[str] | None = None
    custom_data: dict[str, Any] | None = None
    responded_at: str = Field(default_factory=_now_iso)
    responded_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict, with ``response_type`` as its string value."""
        data = self.model_dump()
        data["response_type"] = self.response_type.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeedbackResponse:
        """Build a response from :meth:`to_dict` output (``response_type`` may be the enum or its value)."""
        return cls.model_validate(data)

    def to_json(self) -> str:
        """The stored form: :meth:`to_dict` as JSON; values JSON cannot hold are stored as their ``str()``."""
        return json.dumps(self.to_dict(), default=str, ensure_ascii=False)

    @classmethod
    def from_json(cls, data: str | bytes) -> FeedbackResponse:
        """Parse the stored form written by :meth:`to_json`."""
        return cls.from_dict(json.loads(data))

    def answer(self) -> Any:
        """The answer itself, by type: approved, text, selected, selected_multiple or custom_data."""
        return {
            FeedbackType.APPROVAL: self.approved,
            FeedbackType.TEXT: self.text,
            FeedbackType.SELECTION: self.selected,
            FeedbackType.MULTI_SELECTION: self.selected_multiple,
            FeedbackType.CUSTOM: self.custom_data,
        }[self.response_type]


__all__ = [
    "FeedbackType",
    "FeedbackRequest",
    "FeedbackResponse",
    "FeedbackTimeoutError",
    "FeedbackCancelledError",
    "PENDING",
    "COMPLETED",
    "TIMEOUT",
    "CANCELLED",
    "STATUSES",
    "OPEN_STATUSES",
    "new_feedback_id",
    "is_valid_feedback_id",
    "validate_feedback_id",
]

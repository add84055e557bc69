"""``graflow hitl answer``: answer a feedback request, with the kind of answer its type asks for."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from graflow.cli.hitl_common import (
    EXIT_OK,
    EXIT_USAGE,
    HitlCommandError,
    answer_text,
    command,
    find_request,
    open_manager,
)

if TYPE_CHECKING:
    from graflow.hitl.types import FeedbackRequest


@command
def run_answer(args: argparse.Namespace) -> int:
    """Answer a request; returns the exit code."""
    from graflow.hitl import resume_state as rs
    from graflow.hitl.types import CANCELLED, COMPLETED, FeedbackResponse

    manager = open_manager(args)
    request = find_request(manager, args.feedback_id)
    if request.status == COMPLETED:
        raise HitlCommandError(f"feedback {request.feedback_id} was already answered")
    if request.status == CANCELLED:
        raise HitlCommandError(f"feedback {request.feedback_id} was cancelled; it accepts no answer")
    fields = answer_fields(args, request)
    response = FeedbackResponse(
        feedback_id=request.feedback_id, response_type=request.feedback_type, responded_by=args.by, **fields
    )
    if not manager.provide_feedback(request.feedback_id, response):
        raise HitlCommandError(f"feedback {request.feedback_id} was answered or cancelled meanwhile")
    print(f"Answered {request.feedback_id}: {answer_text(response)}")
    if rs.paused_checkpoint(request) is not None:
        print(
            f"Its run {request.session_id} is paused; a resumer (graflow hitl resumer, or the API server) resumes it."
        )
    return EXIT_OK


def answer_fields(args: argparse.Namespace, request: FeedbackRequest) -> dict[str, Any]:
    """The response fields the flags give, checked against the request's type and options.

    Raises:
        HitlCommandError: The answer does not fit the request (usage).
    """
    from graflow.hitl.types import FeedbackType

    given, fields = _given_answer(args)
    wanted = request.feedback_type
    if given != wanted:
        raise HitlCommandError(
            f"feedback {request.feedback_id} asks for {_describe(request)}; answer it with {_FLAGS[wanted.value]}, "
            f"not {_FLAGS[given.value]}", EXIT_USAGE)  # fmt: skip
    if args.reason is not None and wanted != FeedbackType.APPROVAL:
        raise HitlCommandError("--reason goes with --approve or --reject only", EXIT_USAGE)
    chosen = [fields["selected"]] if wanted == FeedbackType.SELECTION else fields.get("selected_multiple") or []
    options = request.options or []
    for option in chosen:
        if option not in options:
            listed = ", ".join(repr(o) for o in options) or "(the request lists none)"
            raise HitlCommandError(
                f"{option!r} is not an option of feedback {request.feedback_id}; choose from {listed}", EXIT_USAGE
            )
    return fields


#: The flags that give each type of answer, by feedback type value.
_FLAGS = {
    "approval": "--approve or --reject",
    "text": "--text",
    "selection": "--select",
    "multi_selection": "--select-multiple",
    "custom": "--custom",
}


def _given_answer(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    from graflow.hitl.types import FeedbackType

    if args.approve or args.reject:
        return FeedbackType.APPROVAL, {"approved": bool(args.approve), "reason": args.reason}
    if args.text is not None:
        return FeedbackType.TEXT, {"text": args.text}
    if args.select is not None:
        return FeedbackType.SELECTION, {"selected": args.select}
    if args.select_multiple is not None:
        return FeedbackType.MULTI_SELECTION, {"selected_multiple": list(args.select_multiple)}
    try:
        data = json.loads(args.custom)
    except json.JSONDecodeError as exc:
        raise HitlCommandError(f"--custom: not valid JSON ({exc})", EXIT_USAGE) from None
    if not isinstance(data, dict):
        raise HitlCommandError(f"--custom: expected a JSON object, got {type(data).__name__}", EXIT_USAGE)
    return FeedbackType.CUSTOM, {"custom_data": data}


def _describe(request: FeedbackRequest) -> str:
    kind = request.feedback_type.value.replace("_", "-")
    if request.options:
        return f"a {kind} of {', '.join(repr(o) for o in request.options)}"
    return "an approval" if kind == "approval" else f"a {kind} answer"


__all__ = ["answer_fields", "run_answer"]

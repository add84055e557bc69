"""The feedback web UI under ``/ui/feedback``: a list of recent requests, an answer form per request, and the
pages shown after answering or when a request can no longer be answered.

A request's id is the capability to answer it, so the list shows masked ids only; people reach a form through the
link they were sent (e.g. by :class:`~graflow.hitl.handler.SlackFeedbackHandler`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from graflow.api.endpoints.feedback import get_feedback_manager
from graflow.hitl.types import CANCELLED, COMPLETED, FeedbackRequest, FeedbackResponse, FeedbackType

router = APIRouter(tags=["feedback-ui"])

#: Folder of the Jinja templates shipped with the package.
TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"
_default_templates: Jinja2Templates | None = None


def get_templates(request: Request) -> Jinja2Templates:
    """The app's templates (``app.state.templates``), or the package's own."""
    templates = getattr(request.app.state, "templates", None)
    if templates is not None:
        return templates  # type: ignore[no-any-return]
    global _default_templates
    if _default_templates is None:
        _default_templates = Jinja2Templates(directory=str(TEMPLATE_DIR))
    return _default_templates


def mask_id(feedback_id: str) -> str:
    """First character, 14 asterisks, last character (16 asterisks for an empty id)."""
    return f"{feedback_id[:1]}{'*' * 14}{feedback_id[-1:]}" if feedback_id else "*" * 16


def _page(request: Request, feedback_id: str, page: str) -> str:
    # A path from the server root (honouring a root_path), so the redirect works behind a path prefix too.
    return f"{request.scope.get('root_path', '')}/ui/feedback/{feedback_id}/{page}"


def _closed(request: FeedbackRequest) -> bool:
    return request.status in (COMPLETED, CANCELLED)


@router.get("/ui/feedback/", response_class=HTMLResponse, summary="Recent feedback requests")
def list_feedback_page(
    request: Request,
    session_id: str | None = None,
    n_recent: Annotated[int, Query(ge=0, le=10_000)] = 100,
) -> Response:
    """Recent requests of every status, newest first, with masked ids."""
    items = []
    for item in get_feedback_manager(request).list_requests(session_id=session_id, n_recent=n_recent):
        data = item.to_dict()
        data["feedback_id"] = mask_id(item.feedback_id)
        items.append(data)
    return get_templates(request).TemplateResponse(
        request, "feedback/list.html", {"count": len(items), "requests": items}
    )


@router.get("/ui/feedback/{feedback_id}", response_class=HTMLResponse, summary="Answer form")
def show_feedback_form(request: Request, feedback_id: str) -> Response:
    """The form for a pending or timed-out request; answered and cancelled ones redirect to the expired page."""
    stored = get_feedback_manager(request).get_request(feedback_id)
    if stored is None:
        raise HTTPException(status_code=404, detail="Feedback request not found")
    if _closed(stored):
        return RedirectResponse(_page(request, feedback_id, "expired"), status_code=303)
    return get_templates(request).TemplateResponse(request, "feedback/form.html", {"feedback_request": stored})


@router.post("/ui/feedback/{feedback_id}/submit", summary="Submit the answer form")
def submit_feedback(
    request: Request,
    feedback_id: str,
    approved: Annotated[str | None, Form()] = None,
    reason: Annotated[str | None, Form()] = None,
    text: Annotated[str | None, Form()] = None,
    selected: Annotated[str | None, Form()] = None,
    selected_multiple: Annotated[list[str] | None, Form()] = None,
    custom_data: Annotated[str | None, Form()] = None,
    responded_by: Annotated[str | None, Form()] = None,
) -> Response:
    """Store the answer and redirect (303) to the success page, or to the expired page when the request was
    answered or cancelled meanwhile. Invalid ``custom_data`` JSON gives 400."""
    manager = get_feedback_manager(request)
    stored = manager.get_request(feedback_id)
    if stored is None:
        raise HTTPException(status_code=404, detail="Feedback request not found")
    if _closed(stored):
        return RedirectResponse(_page(request, feedback_id, "expired"), status_code=303)
    fields: dict[str, Any] = {"responded_by": responded_by or None}
    kind = stored.feedback_type
    if kind is FeedbackType.APPROVAL:
        fields["approved"] = {"true": True, "false": False}.get((approved or "").strip().lower())
        fields["reason"] = reason or None
    elif kind is FeedbackType.TEXT:
        fields["text"] = text
    elif kind is FeedbackType.SELECTION:
        fields["selected"] = selected
    elif kind is FeedbackType.MULTI_SELECTION:
        fields["selected_multiple"] = selected_multiple or []
    else:
        fields["custom_data"] = _parse_custom_data(custom_data)
    answer = FeedbackResponse(feedback_id=feedback_id, response_type=kind, **fields)
    page = "success" if manager.provide_feedback(feedback_id, answer) else "expired"
    return RedirectResponse(_page(request, feedback_id, page), status_code=303)


def _parse_custom_data(raw: str | None) -> dict[str, Any]:
    if not raw or not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise HTTPException(status_code=400, detail=f"Invalid JSON in custom_data: {exc}") from exc
    if not isinstance(data, dict):
        raise HTTPException(status_code=400, detail="custom_data must be a JSON object")
    return data


@router.get("/ui/feedback/{feedback_id}/success", response_class=HTMLResponse, summary="Answer stored")
def show_success_page(request: Request, feedback_id: str) -> Response:
    """Thanks, with the stored answer."""
    answer = get_feedback_manager(request).get_response(feedback_id)
    return get_templates(request).TemplateResponse(request, "feedback/success.html", {"response": answer})


@router.get("/ui/feedback/{feedback_id}/expired", response_class=HTMLResponse, summary="Request closed")
def show_expired_page(request: Request, feedback_id: str) -> Response:
    """The request was already answered, cancelled, or does not exist."""
    stored = get_feedback_manager(request).get_request(feedback_id)
    return get_templates(request).TemplateResponse(request, "feedback/expired.html", {"feedback_request": stored})

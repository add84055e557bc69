"""Notifications about feedback requests: hooks a request calls when it is created, answered, timed out or cancelled.

Pass a handler per request (``request_feedback(..., handler=...)``). The manager calls its hooks in the waiting
task's thread; an exception raised by a hook is logged and swallowed, so a broken notification never breaks a run.
The two built-in handlers post JSON over HTTP with the standard library only and report failures the same way.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime
from typing import Any

from graflow.hitl.types import FeedbackRequest, FeedbackResponse, FeedbackType

logger = logging.getLogger(__name__)

#: Seconds a Slack post may take.
SLACK_TIMEOUT = 10.0
_SUMMARY_LIMIT = 200
_HEADER_LIMIT = 150


class FeedbackHandler:
    """Base handler: every hook does nothing. Override the ones you need."""

    def on_request_created(self, request: FeedbackRequest) -> None:
        """Called once the request is stored, before the task starts waiting (the place to notify people)."""

    def on_response_received(self, request: FeedbackRequest, response: FeedbackResponse) -> None:
        """Called in the waiting task when the answer arrives, whoever gave it."""

    def on_request_timeout(self, request: FeedbackRequest) -> None:
        """Called when the task stops waiting without an answer (the request stays answerable)."""

    def on_request_cancelled(self, request: FeedbackRequest) -> None:
        """Called in the waiting task when the request was cancelled."""


def post_json(url: str, payload: Any, *, headers: dict[str, str] | None = None, timeout: float = 10.0) -> int:
    """POST ``payload`` as JSON to ``url`` and return the HTTP status.

    Raises:
        urllib.error.URLError: The request failed or the server answered with an error status (HTTPError).
        OSError: The connection failed.
    """
    body = json.dumps(payload, default=str, ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "graflow-feedback", **(headers or {})},
    )
    with urllib.request.urlopen(request, timeout=timeout) as reply:  # noqa: S310 - scheme checked by the handlers
        return int(reply.status)


def _require_http_url(url: str, what: str) -> str:
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"{what} must be an http:// or https:// URL, got {url!r}")
    return url


class WebhookFeedbackHandler(FeedbackHandler):
    """POSTs a JSON event to ``webhook_url`` for every hook.

    Each event has ``event_type`` (``request_created``, ``response_received``, ``request_timeout`` or
    ``request_cancelled``), ``timestamp`` (local ISO time), ``feedback_id``, ``task_id``, ``session_id`` and
    ``feedback_type``, plus the request details (created, timeout, cancelled) or a ``response`` object (received).

    Args:
        webhook_url: An http(s) URL.
        headers: Extra HTTP headers, e.g. ``{"Authorization": "Bearer ..."}``.
        timeout: Seconds one POST may take.

    Raises:
        ValueError: ``webhook_url`` is not an http(s) URL.
    """

    def __init__(self, webhook_url: str, headers: dict[str, str] | None = None, timeout: float = 10.0) -> None:
        self.webhook_url = _require_http_url(webhook_url, "webhook_url")
        self.headers = dict(headers or {})
        self.timeout = timeout

    def _send_webhook(self, event_type: str, payload: dict[str, Any]) -> bool:
        """POST one event; return whether the server accepted it (failures are logged, not raised)."""
        event = {"event_type": event_type, "timestamp": datetime.now().isoformat(), **payload}
        try:
            post_json(self.webhook_url, event, headers=self.headers, timeout=self.timeout)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            logger.error("Feedback webhook %s to %s failed: %s", event_type, _safe_url(self.webhook_url), exc)
            return False
        return True

    @staticmethod
    def _base(request: FeedbackRequest) -> dict[str, Any]:
        return {
            "feedback_id": request.feedback_id,
            "task_id": request.task_id,
            "session_id": request.session_id,
            "feedback_type": request.feedback_type.value,
        }

    def on_request_created(self, request: FeedbackRequest) -> None:
        """Send ``request_created`` with the prompt, options, timeout, metadata and creation time."""
        self._send_webhook(
            "request_created",
            {
                **self._base(request),
                "prompt": request.prompt,
                "options": request.options,
                "timeout": request.timeout,
                "metadata": request.metadata,
                "created_at": request.created_at,
            },
        )

    def on_response_received(self, request: FeedbackRequest, response: FeedbackResponse) -> None:
        """Send ``response_received`` with the answer under ``response``."""
        answer = response.to_dict()
        answer.pop("feedback_id")
        answer.pop("response_type")
        self._send_webhook("response_received", {**self._base(request), "response": answer})

    def on_request_timeout(self, request: FeedbackRequest) -> None:
        """Send ``request_timeout`` with the prompt and timeout."""
        self._send_webhook(
            "request_timeout", {**self._base(request), "prompt": request.prompt, "timeout": request.timeout}
        )

    def on_request_cancelled(self, request: FeedbackRequest) -> None:
        """Send ``request_cancelled`` with the prompt."""
        self._send_webhook("request_cancelled", {**self._base(request), "prompt": request.prompt})


def summarize_response(feedback_type: FeedbackType, response: FeedbackResponse) -> tuple[str, str]:
    """A Slack emoji code and a one-line summary of ``response``, chosen by the request's type.

    Approval gives Approved/Rejected (with the reason), text the text, selection the choice, multi-selection the
    choices, custom the data as JSON; long summaries are shortened.
    """
    if feedback_type is FeedbackType.APPROVAL:
        if response.approved is None:
            emoji, text = ":grey_question:", "No decision"
        else:
            emoji, text = (":white_check_mark:", "Approved") if response.approved else (":x:", "Rejected")
        if response.reason:
            text = f"{text}: {response.reason}"
    elif feedback_type is FeedbackType.TEXT:
        emoji, text = ":speech_balloon:", response.text or "(empty)"
    elif feedback_type is FeedbackType.SELECTION:
        emoji, text = ":ballot_box_with_check:", f"Selected: {response.selected or '(nothing)'}"
    elif feedback_type is FeedbackType.MULTI_SELECTION:
        emoji, text = (
            ":ballot_box_with_check:",
            f"Selected: {', '.join(response.selected_multiple or []) or '(nothing)'}",
        )
    else:
        emoji, text = ":jigsaw:", f"Data: {json.dumps(response.custom_data, default=str, ensure_ascii=False)}"
    return emoji, _shorten(text, _SUMMARY_LIMIT)


class SlackFeedbackHandler(FeedbackHandler):
    """Posts Slack messages (blocks) through an incoming-webhook URL.

    Args:
        webhook_url: The Slack incoming-webhook URL (http or https).
        channel: Channel named in the message (webhooks bound to one channel ignore it).
        feedback_ui_url: Link to the answer form; ``{feedback_id}`` in it is replaced by the request's id, and the
            link becomes a "Respond" button on the request message.

    Raises:
        ValueError: ``webhook_url`` is not an http(s) URL.
    """

    def __init__(self, webhook_url: str, channel: str = "#approvals", feedback_ui_url: str | None = None) -> None:
        self.webhook_url = _require_http_url(webhook_url, "webhook_url")
        self.channel = channel
        self.feedback_ui_url = feedback_ui_url

    def _send_slack_message(self, message: dict[str, Any]) -> bool:
        """POST one message; return whether Slack accepted it (failures are logged, not raised)."""
        try:
            post_json(self.webhook_url, message, timeout=SLACK_TIMEOUT)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            logger.error("Slack notification to %s failed: %s", _safe_url(self.webhook_url), exc)
            return False
        return True

    def _message(self, text: str, blocks: list[dict[str, Any]]) -> dict[str, Any]:
        return {"channel": self.channel, "text": text, "blocks": blocks}

    def on_request_created(self, request: FeedbackRequest) -> None:
        """Post the prompt, the task and timeout, and a Respond button when ``feedback_ui_url`` is set."""
        title = request.feedback_type.value.replace("_", " ").title()
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": _shorten(f"{title} request", _HEADER_LIMIT)}},
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{_escape(request.prompt)}*"}},
            _context(
                f"Task: `{_escape(request.task_id)}` | Timeout: `{request.timeout}s` | ID: `{request.feedback_id}`"
            ),
        ]
        if request.options:
            options = "\n".join(f"- {_escape(option)}" for option in request.options)
            blocks.insert(2, {"type": "section", "text": {"type": "mrkdwn", "text": f"Options:\n{options}"}})
        if self.feedback_ui_url:
            url = self.feedback_ui_url.replace("{feedback_id}", request.feedback_id)
            button = {"type": "button", "text": {"type": "plain_text", "text": "Respond"}, "url": url}
            blocks.append({"type": "actions", "elements": [{**button, "style": "primary"}]})
        self._send_slack_message(self._message(f"Feedback needed: {_shorten(request.prompt, 150)}", blocks))

    def on_response_received(self, request: FeedbackRequest, response: FeedbackResponse) -> None:
        """Post a summary that matches the request's type, and who answered."""
        emoji, summary = summarize_response(request.feedback_type, response)
        responded_by = response.responded_by or "someone"
        blocks = [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f"{emoji} *{_escape(summary)}*\nResponded by: {_escape(responded_by)}",
                },
            },
            _context(f"Prompt: {_escape(_shorten(request.prompt, 150))} | ID: `{request.feedback_id}`"),
        ]
        self._send_slack_message(self._message(f"{summary} (from {responded_by})", blocks))

    def on_request_timeout(self, request: FeedbackRequest) -> None:
        """Post that the request timed out (it can still be answered)."""
        blocks = [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f":hourglass: *Feedback request timed out*\n{_escape(request.prompt)}",
                },
            },
            _context(f"No answer after `{request.timeout}s` | ID: `{request.feedback_id}`"),
        ]
        self._send_slack_message(self._message(f"Feedback request timed out: {_shorten(request.prompt, 150)}", blocks))

    def on_request_cancelled(self, request: FeedbackRequest) -> None:
        """Post that the request was cancelled."""
        blocks = [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f":no_entry_sign: *Feedback request cancelled*\n{_escape(request.prompt)}",
                },
            },
            _context(f"ID: `{request.feedback_id}`"),
        ]
        self._send_slack_message(self._message(f"Feedback request cancelled: {_shorten(request.prompt, 150)}", blocks))


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def _escape(text: str) -> str:
    # Slack's mrkdwn gives &, < and > a meaning (links, mentions); user text must show them literally.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _safe_url(url: str) -> str:
    # Webhook URLs carry their secret in the path or query: log the host only.
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}/…"


__all__ = ["FeedbackHandler", "WebhookFeedbackHandler", "SlackFeedbackHandler", "summarize_response", "post_json"]

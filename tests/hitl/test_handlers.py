"""Webhook and Slack handlers against a local HTTP server started by the test on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from graflow.hitl.handler import FeedbackHandler, SlackFeedbackHandler, WebhookFeedbackHandler, summarize_response
from graflow.hitl.manager import FeedbackManager
from graflow.hitl.types import FeedbackRequest, FeedbackResponse, FeedbackType
from graflow.testing.contracts.feedback import make_request
from tests.hitl.helpers import Recorder, Responder, answer_with


class Received:
    """What the local server received: one (path, headers, json body) per POST."""

    def __init__(self, url: str, posts: queue.Queue[tuple[str, dict[str, str], Any]]) -> None:
        self.url = url
        self.posts = posts
        self.status = 200

    def next(self) -> tuple[str, dict[str, str], Any]:
        return self.posts.get(timeout=10)

    def bodies(self) -> list[Any]:
        found = []
        while not self.posts.empty():
            found.append(self.posts.get_nowait()[2])
        return found


@pytest.fixture
def server() -> Iterator[Received]:
    posts: queue.Queue[tuple[str, dict[str, str], Any]] = queue.Queue()
    state: dict[str, Received] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            posts.put((self.path, dict(self.headers.items()), json.loads(body)))
            self.send_response(state["received"].status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:  # keep the test output quiet
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    received = Received(f"http://127.0.0.1:{httpd.server_address[1]}/hook/secret-token", posts)
    state["received"] = received
    yield received
    httpd.shutdown()
    httpd.server_close()
    thread.join(10)


def response(feedback_type: FeedbackType, **fields: Any) -> FeedbackResponse:
    return FeedbackResponse(feedback_id="f" * 16, response_type=feedback_type, **fields)


# -- base handler ----------------------------------------------------------------------------------------------------
def test_base_handler_hooks_do_nothing() -> None:
    handler, request = FeedbackHandler(), make_request()
    handler.on_request_created(request)
    handler.on_response_received(request, response(FeedbackType.APPROVAL, approved=True))
    handler.on_request_timeout(request)
    handler.on_request_cancelled(request)


# -- webhook ---------------------------------------------------------------------------------------------------------
def test_webhook_posts_each_event_with_its_fields(server: Received) -> None:
    handler = WebhookFeedbackHandler(server.url, headers={"Authorization": "Bearer t0ken"}, timeout=5)
    request = make_request(feedback_type=FeedbackType.SELECTION, options=["a", "b"], metadata={"env": "prod"})
    handler.on_request_created(request)
    path, headers, created = server.next()
    assert path == "/hook/secret-token"
    assert headers["Authorization"] == "Bearer t0ken" and headers["Content-Type"] == "application/json"
    base = {
        "feedback_id": request.feedback_id, "task_id": "review", "session_id": "session-1",
        "feedback_type": "selection",
    }  # fmt: skip
    assert created.pop("timestamp")
    assert created == {
        "event_type": "request_created", **base, "prompt": "Deploy?", "options": ["a", "b"], "timeout": 180.0,
        "metadata": {"env": "prod"}, "created_at": request.created_at,
    }  # fmt: skip

    answer = response(FeedbackType.SELECTION, selected="b", responded_by="bob")
    handler.on_response_received(request, answer)
    received = server.next()[2]
    assert received["event_type"] == "response_received"
    assert {k: received[k] for k in base} == base
    assert received["response"] == {
        "approved": None, "reason": None, "text": None, "selected": "b", "selected_multiple": None,
        "custom_data": None, "responded_at": answer.responded_at, "responded_by": "bob",
    }  # fmt: skip

    handler.on_request_timeout(request)
    timed_out = server.next()[2]
    assert (timed_out["event_type"], timed_out["prompt"], timed_out["timeout"]) == ("request_timeout", "Deploy?", 180.0)

    handler.on_request_cancelled(request)
    assert server.next()[2]["event_type"] == "request_cancelled"


def test_webhook_failures_are_logged_not_raised(server: Received, caplog: pytest.LogCaptureFixture) -> None:
    server.status = 500
    handler = WebhookFeedbackHandler(server.url, timeout=5)
    with caplog.at_level(logging.ERROR, logger="graflow.hitl.handler"):
        assert handler._send_webhook("request_created", {"feedback_id": "x"}) is False
    assert "failed" in caplog.text
    assert "secret-token" not in caplog.text  # the webhook URL's secret path is not logged


def test_an_unreachable_webhook_is_logged_not_raised(free_port: int, caplog: pytest.LogCaptureFixture) -> None:
    handler = WebhookFeedbackHandler(f"http://127.0.0.1:{free_port}/nobody", timeout=2)
    with caplog.at_level(logging.ERROR, logger="graflow.hitl.handler"):
        handler.on_request_created(make_request())
    assert "request_created" in caplog.text


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/x", "not a url"])
def test_handlers_accept_only_http_urls(url: str) -> None:
    with pytest.raises(ValueError, match="http"):
        WebhookFeedbackHandler(url)
    with pytest.raises(ValueError, match="http"):
        SlackFeedbackHandler(url)


def test_a_webhook_hears_a_whole_request_through_the_manager(server: Received, make_backend: Any) -> None:
    # given a waiting task whose handler is a recorder followed by the webhook
    webhook = WebhookFeedbackHandler(server.url, timeout=5)
    recorder = Recorder()

    class Both(FeedbackHandler):
        def on_request_created(self, request: FeedbackRequest) -> None:
            webhook.on_request_created(request)
            recorder.on_request_created(request)

        def on_response_received(self, request: FeedbackRequest, response: FeedbackResponse) -> None:
            webhook.on_response_received(request, response)

    manager, responder = FeedbackManager(make_backend()), FeedbackManager(make_backend())
    person = Responder(recorder, answer_with(responder, text="yes"))
    person.start()
    manager.request_feedback("t", "s", "text", "Say something", handler=Both(), timeout=30)
    person.finish()
    assert [body["event_type"] for body in server.bodies()] == ["request_created", "response_received"]


# -- slack -----------------------------------------------------------------------------------------------------------
def test_slack_request_message_has_the_prompt_and_a_respond_button(server: Received) -> None:
    handler = SlackFeedbackHandler(
        server.url, channel="#ops", feedback_ui_url="https://ui.example/f/{feedback_id}?x={y}"
    )
    request = make_request(prompt="Ship <v2> & tag?", options=["yes", "no"], feedback_type=FeedbackType.SELECTION)
    handler.on_request_created(request)
    message = server.next()[2]
    assert message["channel"] == "#ops" and "Ship <v2> & tag?" in message["text"]
    blocks = message["blocks"]
    assert blocks[0] == {"type": "header", "text": {"type": "plain_text", "text": "Selection request"}}
    assert blocks[1]["text"]["text"] == "*Ship &lt;v2&gt; &amp; tag?*"  # user text cannot inject links or mentions
    assert "- yes\n- no" in blocks[2]["text"]["text"]
    (button,) = blocks[-1]["elements"]
    assert button["url"] == f"https://ui.example/f/{request.feedback_id}?x={{y}}"
    assert button["text"]["text"] == "Respond"


def test_slack_request_message_without_ui_url_has_no_button(server: Received) -> None:
    SlackFeedbackHandler(server.url).on_request_created(make_request())
    message = server.next()[2]
    assert message["channel"] == "#approvals"
    assert all(block["type"] != "actions" for block in message["blocks"])


@pytest.mark.parametrize(
    ("feedback_type", "fields", "summary"),
    [
        (FeedbackType.APPROVAL, {"approved": True}, "Approved"),
        (FeedbackType.APPROVAL, {"approved": False, "reason": "too risky"}, "Rejected: too risky"),
        (FeedbackType.APPROVAL, {}, "No decision"),
        (FeedbackType.TEXT, {"text": "use blue"}, "use blue"),
        (FeedbackType.SELECTION, {"selected": "plan b"}, "Selected: plan b"),
        (FeedbackType.MULTI_SELECTION, {"selected_multiple": ["a", "c"]}, "Selected: a, c"),
        (FeedbackType.CUSTOM, {"custom_data": {"score": 4}}, 'Data: {"score": 4}'),
    ],
)
def test_slack_summary_matches_the_response_type(
    server: Received, feedback_type: FeedbackType, fields: dict[str, Any], summary: str
) -> None:
    assert summarize_response(feedback_type, response(feedback_type, **fields))[1] == summary
    request = make_request(feedback_type=feedback_type)
    SlackFeedbackHandler(server.url).on_response_received(
        request, response(feedback_type, responded_by="eve", **fields)
    )
    message = server.next()[2]
    section = message["blocks"][0]["text"]["text"]
    assert f"*{summary.replace('&', '&amp;')}*" in section and "Responded by: eve" in section


def test_slack_summary_of_a_long_text_is_shortened() -> None:
    _emoji, summary = summarize_response(FeedbackType.TEXT, response(FeedbackType.TEXT, text="x" * 1000))
    assert len(summary) == 200 and summary.endswith("…")


def test_slack_timeout_and_cancel_messages(server: Received) -> None:
    handler = SlackFeedbackHandler(server.url)
    request = make_request(timeout=30)
    handler.on_request_timeout(request)
    assert "timed out" in server.next()[2]["blocks"][0]["text"]["text"]
    handler.on_request_cancelled(request)
    assert "cancelled" in server.next()[2]["blocks"][0]["text"]["text"]


def test_slack_failures_are_logged_not_raised(server: Received, caplog: pytest.LogCaptureFixture) -> None:
    server.status = 404
    with caplog.at_level(logging.ERROR, logger="graflow.hitl.handler"):
        SlackFeedbackHandler(server.url).on_request_created(make_request())
    assert "Slack notification" in caplog.text and "secret-token" not in caplog.text

"""The feedback web UI in a real headless Chromium: a person answers a waiting workflow through the pages.

A workflow waits for approval in a thread; ``python -m graflow.api`` serves the pages from the same store; the
browser lists the requests, opens the request's form (the link a notification would carry), approves with a reason
and lands on the success page; the workflow continues with that answer.

It uses the system's Chromium (Debian's ``chromium`` package, ``/usr/bin/chromium``) through Playwright's Python
API; Playwright's own browser download is never used. Without the browser or Playwright the test is skipped, and
fails under ``CI=true``.
"""

from __future__ import annotations

import os
import queue
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from graflow import task, workflow
from graflow.core.checkpoint import CheckpointManager
from graflow.hitl.handler import FeedbackHandler
from graflow.hitl.manager import RESPONSE_KEY_SUFFIX
from graflow.hitl.types import FeedbackRequest
from tests.conftest import service_unavailable
from tests.hitl.test_patterns import DEADLINE, ApiServer, Backend, Background, api_context, server_flags

#: Debian's chromium package; another ``chromium`` on PATH is used when this one is missing.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]  # fmt: skip
TOKEN = "ui-token"
#: Milliseconds a page may take to load or an element to appear.
PAGE_TIMEOUT_MS = 15_000

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """A headless Chromium driven by Playwright; skipped (failing under CI=true) when either is missing."""
    found = str(CHROMIUM) if CHROMIUM.exists() else shutil.which("chromium")
    if found is None:
        service_unavailable(f"{CHROMIUM} is missing (Debian: apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        service_unavailable("playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=found, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(params=["filesystem", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backend]:
    monkeypatch.chdir(tmp_path)
    if request.param == "filesystem":
        yield Backend("filesystem", tmp_path)
        return
    yield Backend(
        "redis", tmp_path,
        redis_url=request.getfixturevalue("redis_url"),
        redis_client=request.getfixturevalue("redis_client"),
        key_prefix=request.getfixturevalue("key_prefix"),
    )  # fmt: skip


class Asked(FeedbackHandler):
    """Hands each request to the test as soon as it is stored (a notification handler would send its link)."""

    def __init__(self) -> None:
        self.requests: queue.Queue[FeedbackRequest] = queue.Queue()

    def on_request_created(self, request: FeedbackRequest) -> None:
        self.requests.put(request)


def test_a_person_approves_a_waiting_workflow_in_the_browser(
    chromium: Any, backend: Backend, free_port: int, tmp_path: Path
) -> None:
    # given a workflow waiting for approval, its answer to go to the channel key "decision"
    asked = Asked()
    with workflow("browser_approval") as wf:

        @task(inject_context=True)
        def approve(ctx: Any) -> bool:
            response = ctx.request_feedback(
                "approval", "Promote model v7 to production?", metadata={"accuracy": 0.93, "model": "v7"},
                timeout=DEADLINE * 4, channel_key="decision", write_to_channel=True, handler=asked,
            )  # fmt: skip
            return bool(response.approved)

        @task(inject_context=True)
        def promote(ctx: Any, approve: bool) -> str:
            full = ctx.get_channel().get(f"decision{RESPONSE_KEY_SUFFIX}")
            return f"promoted={approve} by {full['responded_by']} ({full['reason']})"

        approve >> promote
    ctx = api_context(backend, wf, "approve")
    run = Background(ctx.execute)
    run.start()
    request = asked.requests.get(timeout=DEADLINE)
    # and the API server on the same store, protected by a token the browser sends
    server = ApiServer([*server_flags(backend), "--auth-token", TOKEN], free_port, tmp_path)
    page_context = chromium.new_context(
        extra_http_headers={"Authorization": f"Bearer {TOKEN}"}, viewport={"width": 1100, "height": 800}
    )
    try:
        server.wait_ready()
        page = page_context.new_page()
        page.set_default_timeout(PAGE_TIMEOUT_MS)

        # when a person opens the list: the request is there, pending, with its id masked
        page.goto(f"{server.url}/ui/feedback/")
        row = page.locator("tr", has_text="Promote model v7 to production?")
        row.wait_for()
        assert row.locator(".status").inner_text() == "pending"
        masked = request.feedback_id[0] + "*" * 14 + request.feedback_id[-1]
        assert row.locator("code").inner_text() == masked
        assert request.feedback_id not in page.content()
        page.screenshot(path=str(tmp_path / "list.png"), full_page=True)

        # and opens the request's form, approves it with a reason, and submits
        page.goto(f"{server.url}/ui/feedback/{request.feedback_id}")
        assert page.locator("h2").inner_text() == "Feedback request"
        assert "Promote model v7 to production?" in page.locator("article").inner_text()
        page.get_by_label("Approve").check()
        page.fill("#reason", "accuracy above the 0.9 bar")
        page.fill("#responded_by", "maria@example.com")
        page.screenshot(path=str(tmp_path / "form.png"), full_page=True)
        page.get_by_role("button", name="Submit").click()

        # then the success page shows the recorded answer
        page.wait_for_url(f"**/ui/feedback/{request.feedback_id}/success")
        success = page.locator("article").inner_text()
        assert "your answer was recorded" in success
        assert "Approved" in success and "accuracy above the 0.9 bar" in success and "maria@example.com" in success
        page.screenshot(path=str(tmp_path / "success.png"), full_page=True)

        # and the waiting workflow continues with the answer, written to its channel
        assert run.finish() == "promoted=True by maria@example.com (accuracy above the 0.9 bar)"
        assert ctx.status == "completed" and ctx.get_channel().get("decision") is True

        # and the form, opened again, says the request is closed
        page.goto(f"{server.url}/ui/feedback/{request.feedback_id}")
        assert page.url.endswith(f"/ui/feedback/{request.feedback_id}/expired")
        page.goto(f"{server.url}/ui/feedback/")
        assert row.locator(".status").inner_text() == "completed"
    finally:
        page_context.close()
        server.stop()
        if backend.name == "redis":
            backend.redis_client.delete(*[f"feedback:{kind}:{request.feedback_id}" for kind in ("request", "response")])
    for name in ("list.png", "form.png", "success.png"):
        assert (tmp_path / name).stat().st_size > 0
    shots = os.environ.get("GRAFLOW_TEST_SCREENSHOTS")
    if shots:  # keep the pictures for a person to look at
        Path(shots).mkdir(parents=True, exist_ok=True)
        for name in ("list.png", "form.png", "success.png"):
            (Path(shots) / f"{backend.name}-{name}").write_bytes((tmp_path / name).read_bytes())


def test_a_paused_run_answered_in_the_browser_finishes_when_resumed(
    chromium: Any, free_port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a run paused because nobody answered within its timeout (filesystem backend)
    monkeypatch.chdir(tmp_path)
    with workflow("browser_pause") as wf:

        @task(inject_context=True)
        def pick(ctx: Any) -> str:
            return ctx.request_selection("Which region first?", options=["eu-west", "us-east", "ap-south"],
                                         timeout=0.2, channel_key="region", write_to_channel=True)  # fmt: skip

        @task
        def roll_out(pick: str) -> str:
            return f"rolling out in {pick}"

        pick >> roll_out
    ctx = Backend("filesystem", tmp_path).context(wf, "pick")
    assert ctx.execute() is None and ctx.status == "paused"
    [request] = ctx.feedback_manager.list_requests()
    # and a server that leaves resuming to us (--no-resume)
    server = ApiServer(["--data-dir", str(tmp_path / "feedback_data"), "--no-resume"], free_port, tmp_path)
    page_context = chromium.new_context(viewport={"width": 1100, "height": 900})
    try:
        server.wait_ready()
        page = page_context.new_page()
        page.set_default_timeout(PAGE_TIMEOUT_MS)

        # when a person opens the list and then the form of the timed-out request
        page.goto(f"{server.url}/ui/feedback/")
        row = page.locator("tr", has_text="Which region first?")
        assert row.locator(".status").inner_text() == "timeout"
        page.goto(f"{server.url}/ui/feedback/{request.feedback_id}")
        article = page.locator("article").inner_text()
        # then the form says the workflow stopped waiting, and where its checkpoint is
        assert "stopped waiting" in article and str(ctx.last_checkpoint_path) in article
        assert "feedback_timeout" in article
        page.get_by_label("us-east").check()
        page.screenshot(path=str(tmp_path / "paused-form.png"), full_page=True)
        page.get_by_role("button", name="Submit").click()
        page.wait_for_url(f"**/ui/feedback/{request.feedback_id}/success")
        assert "us-east" in page.locator("article").inner_text()
    finally:
        page_context.close()
        server.stop()

    # and the resumed run picks up the answer at once
    resumed, _ = CheckpointManager.resume_from_checkpoint(str(ctx.last_checkpoint_path))
    assert resumed.execute() == "rolling out in us-east"
    assert resumed.get_channel().get("region") == "us-east"
    shots = os.environ.get("GRAFLOW_TEST_SCREENSHOTS")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        (Path(shots) / "paused-form.png").write_bytes((tmp_path / "paused-form.png").read_bytes())

"""Human in the loop: a task asks for approval and waits until a reviewer answers.

The reviewer here is a thread with its own ``FeedbackManager`` on the same folder, standing in for a person who
answers through the web UI or the REST API (``python -m graflow.api --data-dir <folder>``). It approves the first
request and rejects the second, so the example runs unattended. Run it with ``python examples/hitl_approval.py``;
the feedback files go to a temporary directory.
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

from graflow import task, workflow
from graflow.core.task_context import TaskExecutionContext
from graflow.hitl.manager import FeedbackManager
from graflow.hitl.types import FeedbackResponse

#: How long the reviewer looks for a request before giving up, in seconds.
REVIEW_DEADLINE = 30.0


def review(inbox: FeedbackManager, approve: bool, done: threading.Event) -> None:
    """Answer the first pending request: what a person does in the web UI."""
    deadline = time.monotonic() + REVIEW_DEADLINE
    while not done.is_set() and time.monotonic() < deadline:
        pending = inbox.list_pending_requests()
        if pending:
            request = pending[0]
            print(f"reviewer sees: {request.prompt} {request.metadata}")
            inbox.provide_feedback(
                request.feedback_id,
                FeedbackResponse(
                    feedback_id=request.feedback_id,
                    response_type=request.feedback_type,
                    approved=approve,
                    reason="tests are green" if approve else "wait for the security review",
                    responded_by="alice@example.com",
                ),
            )
            return
        done.wait(0.05)


def deploy(build_number: int, approve: bool, feedback_dir: Path) -> str:
    with workflow("hitl_approval") as wf:

        @task
        def build() -> dict[str, object]:
            return {"build": build_number, "tests": "passed"}

        @task(inject_context=True)
        def ask(ctx: TaskExecutionContext, build: dict[str, object]) -> bool:
            # Waits up to 60 s; the answer (True/False) is also written to the channel key "approved".
            return ctx.request_approval(
                f"Deploy build {build['build']} to production?",
                metadata=build,
                timeout=60,
                channel_key="approved",
                write_to_channel=True,
            )

        @task(inject_context=True)
        def release(ctx: TaskExecutionContext, ask: bool) -> str:
            answer = ctx.get_channel().get("approved.__feedback_response__")
            verdict = "deployed" if ask else "not deployed"
            return f"build {build_number} {verdict} ({answer['responded_by']}: {answer['reason']})"

        build >> ask >> release

    ctx = wf.create_context()
    ctx.feedback_manager = FeedbackManager("filesystem", {"data_dir": str(feedback_dir)})
    done = threading.Event()
    reviewer = threading.Thread(
        target=review, args=(FeedbackManager("filesystem", {"data_dir": str(feedback_dir)}), approve, done)
    )
    reviewer.start()
    try:
        result = ctx.execute()
    finally:
        done.set()
        reviewer.join()
    print(f"run {ctx.status}: {result}")
    return str(result)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="graflow-hitl-") as tmp:
        deploy(41, approve=True, feedback_dir=Path(tmp))
        deploy(42, approve=False, feedback_dir=Path(tmp))


if __name__ == "__main__":
    main()

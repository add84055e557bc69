"""Human in the loop across a pause: nobody answers in time, the run pauses with a checkpoint, someone answers
later, and resuming the checkpoint finishes the run with that answer.

A request that times out inside a workflow does not fail the run: the engine writes a checkpoint, ``execute``
returns None, the context's status is ``"paused"``, and the request records the checkpoint's path in its metadata.
The request stays answerable. Resuming the checkpoint runs the asking task again; it asks again under the same id
and gets the stored answer at once. Run it with ``python examples/hitl_timeout_resume.py``; it works in a
temporary directory, where ``feedback_data/`` and ``checkpoints/`` are created.
"""

from __future__ import annotations

import os
import tempfile

from graflow import task, workflow
from graflow.core.checkpoint import CheckpointManager
from graflow.core.task_context import TaskExecutionContext
from graflow.hitl.manager import FeedbackManager
from graflow.hitl.types import FeedbackResponse


def run() -> None:
    with workflow("hitl_timeout_resume") as wf:

        @task
        def draft() -> str:
            print("draft: writing the newsletter (runs once)")
            return "Graflow 0.3 is out"

        @task(inject_context=True)
        def edit(ctx: TaskExecutionContext, draft: str) -> str:
            # Runs again when the run is resumed, so it does nothing before asking that must not be repeated.
            print("edit: asking the editor")
            return ctx.request_text_input(
                f"Headline for {draft!r}?", timeout=0.5, channel_key="headline", write_to_channel=True
            )

        @task(inject_context=True)
        def publish(ctx: TaskExecutionContext, edit: str) -> str:
            answer = ctx.get_channel().get("headline.__feedback_response__")
            return f"published {edit!r} (headline by {answer['responded_by']})"

        draft >> edit >> publish

    # The first run: nobody answers within 0.5 s, so the run pauses.
    result, ctx = wf.execute(ret_context=True)
    print(f"first run returned {result!r}, status {ctx.status!r}")
    print(f"checkpoint: {os.path.relpath(ctx.last_checkpoint_path or '')}")

    # Later, someone answers: here through the manager; usually through the web UI or the REST API.
    inbox = FeedbackManager()  # the default store: feedback_data/ in the working directory
    [request] = inbox.list_requests(session_id=ctx.session_id)
    print(f"request {request.status!r}: {request.prompt}")
    print(f"  recorded checkpoint: {request.metadata['checkpoint_path'] == ctx.last_checkpoint_path}")
    inbox.provide_feedback(
        request.feedback_id,
        FeedbackResponse(
            feedback_id=request.feedback_id,
            response_type=request.feedback_type,
            text="Graflow 0.3: pause, answer, resume",
            responded_by="editor@example.com",
        ),
    )
    answered = inbox.get_request(request.feedback_id)
    print(f"answered; request is now {answered.status if answered else None!r}")

    # Resume the checkpoint (in this process or another one): draft does not run again, edit gets the answer.
    resumed, metadata = CheckpointManager.resume_from_checkpoint(ctx.last_checkpoint_path or "")
    print(f"resuming: reason {metadata.user_metadata['reason']!r}, task {metadata.user_metadata['task_id']!r}")
    print(f"resumed run returned {resumed.execute()!r}, status {resumed.status!r}")
    print(f"channel 'headline' = {resumed.get_channel().get('headline')!r}")


def main() -> None:
    here = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="graflow-hitl-") as tmp:
        os.chdir(tmp)
        try:
            run()
        finally:
            os.chdir(here)


if __name__ == "__main__":
    main()

"""Human in the loop over HTTP: a workflow waits while someone answers through the feedback REST API.

The example starts ``python -m graflow.api`` on a free local port, on the same feedback folder as the workflow and
with a bearer token. A reviewer thread plays the person (or the chat bot, or the script) that answers: it lists the
pending requests with ``GET /api/feedback`` and answers with ``POST /api/feedback/{id}/respond``. The waiting task
wakes with the answer and writes it to its channel. Needs the ``api`` extra; talks to 127.0.0.1 only. Run it with
``python examples/hitl_rest_api.py``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from graflow import task, workflow
from graflow.core.task_context import TaskExecutionContext
from graflow.hitl.manager import FeedbackManager

TOKEN = "example-token"
#: Seconds the server may take to start, and the reviewer to find the request.
DEADLINE = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def call(base: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """One JSON request to the API, with the bearer token."""
    request = urllib.request.Request(
        base + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        return json.load(reply)


def wait_until_up(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("the API server exited")
        try:
            if call(base, "GET", "/health")["status"] == "healthy":
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise RuntimeError("the API server did not start")


def reviewer(base: str, session_id: str) -> None:
    """Find the run's pending request over HTTP and approve it."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        listed = call(base, "GET", f"/api/feedback?session_id={session_id}")
        if listed["count"]:
            request = listed["requests"][0]
            print(
                f"GET  /api/feedback -> {listed['count']} pending: {request['prompt']!r} ({request['feedback_type']})"
            )
            answer = call(
                base,
                "POST",
                f"/api/feedback/{request['feedback_id']}/respond",
                {"approved": True, "reason": "the numbers add up", "responded_by": "bob"},
            )
            print(f"POST /api/feedback/<id>/respond -> approved={answer['approved']} by {answer['responded_by']}")
            return
        time.sleep(0.1)


def run(folder: Path) -> None:
    feedback_dir = folder / "feedback_data"
    with workflow("hitl_rest_api") as wf:

        @task
        def report() -> dict[str, int]:
            return {"revenue": 1200, "costs": 800}

        @task(inject_context=True)
        def sign_off(ctx: TaskExecutionContext, report: dict[str, int]) -> bool:
            return ctx.request_approval(
                "Send the quarterly report?", metadata=report, timeout=60, channel_key="sign_off", write_to_channel=True
            )

        @task(inject_context=True)
        def send(ctx: TaskExecutionContext, sign_off: bool) -> str:
            # The waiting task wrote the answer to the channel, although it arrived through the API server.
            answer = ctx.get_channel().get("sign_off.__feedback_response__")
            return f"{'sent' if sign_off else 'held'} ({answer['responded_by']}: {answer['reason']})"

        report >> sign_off >> send

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "graflow.api", "--port", str(port), "--data-dir", str(feedback_dir)]
    command += ["--auth-token", TOKEN, "--log-level", "warning"]
    # Make this checkout's graflow importable in the server when graflow is not installed.
    checkout = str(Path(__file__).resolve().parents[1])
    python_path = os.pathsep.join(filter(None, [checkout, os.environ.get("PYTHONPATH")]))
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": python_path})
    try:
        wait_until_up(base, server)
        print(f"feedback API at {base} (web UI: {base}/ui/feedback/)")
        ctx = wf.create_context()
        ctx.feedback_manager = FeedbackManager("filesystem", {"data_dir": str(feedback_dir)})
        person = threading.Thread(target=reviewer, args=(base, ctx.session_id))
        person.start()
        result = ctx.execute()
        person.join()
        print(f"run {ctx.status}: {result}")
        print(f"channel 'sign_off' = {ctx.get_channel().get('sign_off')!r}")
    finally:
        server.terminate()
        server.wait(10)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="graflow-hitl-") as tmp:
        run(Path(tmp))


if __name__ == "__main__":
    main()

"""What only the filesystem backend promises: its file layout, no folder before the first request (D26), atomic
files, and transitions that stay atomic across processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from graflow.hitl.backend.filesystem import TEMP_MARKER, FilesystemFeedbackBackend
from graflow.hitl.types import COMPLETED, OPEN_STATUSES, PENDING, new_feedback_id
from graflow.testing.contracts.feedback import make_request, make_response


def test_nothing_is_created_until_the_first_request(feedback_dir: Path) -> None:
    # given a backend on a folder that does not exist
    backend = FilesystemFeedbackBackend(feedback_dir)
    # when it is only read from
    assert backend.get_request(new_feedback_id()) is None
    assert backend.get_response(new_feedback_id()) is None
    assert backend.list_requests() == [] and backend.list_pending_requests() == []
    assert backend.transition(new_feedback_id(), OPEN_STATUSES, COMPLETED) is None
    backend.publish(new_feedback_id())
    # then nothing was written (D26)
    assert not feedback_dir.exists()
    # and the first request creates the folder
    backend.store_request(make_request())
    assert (feedback_dir / "requests").is_dir() and (feedback_dir / "responses").is_dir()


def test_default_folder_is_feedback_data_in_the_working_directory() -> None:
    assert FilesystemFeedbackBackend().data_dir == Path("feedback_data")


def test_files_are_json_named_after_the_id(feedback_dir: Path) -> None:
    backend = FilesystemFeedbackBackend(feedback_dir)
    request = make_request(metadata={"k": "ü"})
    backend.store_request(request)
    backend.store_response(make_response(request.feedback_id))
    data = json.loads((feedback_dir / "requests" / f"{request.feedback_id}.json").read_text(encoding="utf-8"))
    assert data["feedback_type"] == "approval" and data["status"] == PENDING and data["metadata"] == {"k": "ü"}
    answer = json.loads((feedback_dir / "responses" / f"{request.feedback_id}.json").read_text(encoding="utf-8"))
    assert answer["response_type"] == "approval" and answer["approved"] is True


def test_writes_leave_no_temporary_files(feedback_dir: Path) -> None:
    backend = FilesystemFeedbackBackend(feedback_dir)
    for _ in range(5):
        request = make_request()
        backend.store_request(request)
        backend.transition(request.feedback_id, OPEN_STATUSES, COMPLETED, response=make_response(request.feedback_id))
    leftovers = [name for _dir, _sub, names in os.walk(feedback_dir) for name in names if TEMP_MARKER in name]
    assert leftovers == []


def test_unreadable_and_foreign_files_are_skipped(feedback_dir: Path) -> None:
    backend = FilesystemFeedbackBackend(feedback_dir)
    good = make_request()
    backend.store_request(good)
    (feedback_dir / "requests" / "broken.json").write_text("{not json")
    (feedback_dir / "requests" / "wrong.json").write_text(json.dumps({"feedback_id": "wrong"}))
    (feedback_dir / "requests" / "notes.txt").write_text("ignored")
    (feedback_dir / "requests" / f".{good.feedback_id}.json{TEMP_MARKER}abc").write_text("{half")
    assert [r.feedback_id for r in backend.list_requests()] == [good.feedback_id]
    assert backend.get_request("broken") is None


def test_a_crash_between_files_keeps_the_answer_visible(feedback_dir: Path) -> None:
    # The response is written before the request file: if a writer dies in between, a waiter still finds the answer.
    backend = FilesystemFeedbackBackend(feedback_dir)
    request = make_request()
    backend.store_request(request)
    backend.store_response(make_response(request.feedback_id))  # as if the request update never happened
    assert backend.get_response(request.feedback_id) is not None


# Each child answers once the parent writes a line to its stdin, so all of them race for the same request.
CHILD = """
import sys
from graflow.hitl.backend.filesystem import FilesystemFeedbackBackend
from graflow.hitl.types import COMPLETED, OPEN_STATUSES, FeedbackResponse, FeedbackType
folder, feedback_id, text = sys.argv[1:4]
backend = FilesystemFeedbackBackend(folder)
response = FeedbackResponse(feedback_id=feedback_id, response_type=FeedbackType.TEXT, text=text)
print("ready", flush=True)
sys.stdin.readline()
won = backend.transition(feedback_id, OPEN_STATUSES, COMPLETED, response=response) is not None
sys.exit(0 if won else 3)
"""


def test_transitions_are_atomic_across_processes(feedback_dir: Path) -> None:
    # given a pending request and four processes that answer it at the same moment
    backend = FilesystemFeedbackBackend(feedback_dir)
    request = make_request()
    backend.store_request(request)
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(feedback_dir), request.feedback_id, f"p{i}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    for child in children:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    for child in children:
        child.communicate(timeout=60)  # closes the pipes
    codes = [child.returncode for child in children]
    # then exactly one succeeded, and its answer is the stored one
    assert sorted(codes) == [0, 3, 3, 3]
    stored = backend.get_response(request.feedback_id)
    assert stored is not None and stored.text == f"p{codes.index(0)}"

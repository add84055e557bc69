"""``graflow dlq`` and ``graflow workers`` through the real entry point, on a real Redis with a real worker process.

A task is dead-lettered the way it happens in production: a worker takes it and finds its graph gone from Redis
(``graph_missing``). Once the graph is stored again, ``dlq requeue`` hands it back and the same worker runs it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from graflow import task, workflow
from graflow.distributed.queue import DistributedTaskQueue
from graflow.distributed.records import SerializedTaskRecord
from graflow.worker.inprocess import spawn_worker

pytestmark = pytest.mark.integration

#: Bound on every blocking wait for the worker (it imports, connects, then fetches).
WAIT_SECONDS = 30


def graflow(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m graflow.cli.main ARGS`` in a child process, without a signing secret (a loopback Redis)."""
    env = {k: v for k, v in os.environ.items() if k not in ("GRAFLOW_SECRET_KEY", "GRAFLOW_INSECURE")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    return subprocess.run([sys.executable, "-m", "graflow.cli.main", *args], capture_output=True, text=True,
                          timeout=60, env=env, input=stdin)


def announcing(redis_url: str, marker: str, *, hold: str | None = None) -> Any:
    """A one-task workflow whose task pushes ``ran`` on the list ``marker`` (then waits for ``hold``, if given)."""
    with workflow("dlq_cli") as wf:

        @task(id="announce")
        def announce() -> str:
            import redis as redis_module

            client = redis_module.Redis.from_url(redis_url)
            client.rpush(marker, "ran")
            if hold is not None:
                client.blpop([hold], timeout=WAIT_SECONDS)
            return "ran"

    return wf


def enqueue(redis_client: Any, key_prefix: str, wf: Any, *, lose_graph: bool = False, group: str | None = None) -> str:
    """Put the workflow's task on the stream as a producer does; with ``lose_graph`` its graph is then deleted."""
    queue = DistributedTaskQueue(redis_client, key_prefix=key_prefix)
    graph_hash = queue.graph_store.save(wf.graph)
    if lose_graph:
        redis_client.delete(f"{key_prefix}:graph:{graph_hash}")
    record = SerializedTaskRecord(task_id="announce", session_id=f"s-{uuid.uuid4().hex[:6]}", graph_hash=graph_hash,
                                  trace_id="t", created_at=time.time(), group_id=group)
    queue.stream.enqueue(record)
    return graph_hash


@pytest.fixture
def worker_id() -> str:
    return f"cli-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def worker(redis_url: str, key_prefix: str, worker_id: str) -> Iterator[subprocess.Popen[bytes]]:
    """A worker process on the test prefix, stopped with SIGTERM afterwards."""
    proc = spawn_worker(redis_url, key_prefix, extra_args=["--worker-id", worker_id, "--log-level", "WARNING"])
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def redis_args(redis_url: str, key_prefix: str) -> list[str]:
    return ["--redis-url", redis_url, "--redis-key-prefix", key_prefix]


def test_a_dead_lettered_task_is_listed_shown_and_requeued_until_it_runs(
    redis_client: Any, redis_url: str, key_prefix: str, worker: subprocess.Popen[bytes]
) -> None:
    marker = f"{key_prefix}:marker"
    wf = announcing(redis_url, marker)
    # given a task whose graph is gone when the worker takes it
    enqueue(redis_client, key_prefix, wf, lose_graph=True)
    arrived = redis_client.xread({f"{key_prefix}:dead": "0-0"}, block=WAIT_SECONDS * 1000)
    assert arrived, "the worker did not dead-letter the task"
    opts = redis_args(redis_url, key_prefix)
    # when the dead letters are listed
    listed = graflow("dlq", "list", *opts)
    # then the task shows with its reason
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()
    assert header.split()[:4] == ["ID", "TASK", "GROUP", "REASON"]
    dead_id, task_id, group, reason = row.split()[:4]
    assert (task_id, group, reason) == ("announce", "-", "graph_missing")
    as_json = json.loads(graflow("dlq", "list", "--json", *opts).stdout)
    assert [(d["dead_letter_id"], d["reason"], d["payload_bytes"] > 0) for d in as_json] == [
        (dead_id, "graph_missing", True)
    ]
    # and show gives every field and the decoded task record, by dead-letter id or by task id
    shown = graflow("dlq", "show", dead_id, *opts)
    assert shown.returncode == 0, shown.stderr
    assert "reason:         graph_missing" in shown.stdout
    assert "task_id:        announce" in shown.stdout
    by_task = json.loads(graflow("dlq", "show", "announce", "--json", *opts).stdout)
    assert by_task["dead_letter_id"] == dead_id
    assert by_task["record"]["task_id"] == "announce"
    # when the graph is stored again and the dead letter is requeued
    enqueue_graph = DistributedTaskQueue(redis_client, key_prefix=key_prefix).graph_store.save(wf.graph)
    assert enqueue_graph == by_task["record"]["graph_hash"]
    requeued = graflow("dlq", "requeue", dead_id, *opts)
    assert requeued.returncode == 0, requeued.stderr
    assert f"requeued task 'announce' (dead letter {dead_id})" in requeued.stdout
    # then the worker runs it, and the dead-letter stream is empty
    assert redis_client.blpop([marker], timeout=WAIT_SECONDS) == (marker.encode(), b"ran")
    assert graflow("dlq", "list", *opts).stdout.strip() == f"No dead letters in {key_prefix}:dead."
    # and requeueing it again names the problem
    again = graflow("dlq", "requeue", dead_id, *opts)
    assert again.returncode == 1
    assert again.stderr.strip() == f"graflow dlq requeue: no dead letter with id '{dead_id}' in {key_prefix}:dead"


def test_requeueing_a_member_of_a_group_that_already_failed_says_the_group_will_not_wait(
    redis_client: Any, redis_url: str, key_prefix: str, worker: subprocess.Popen[bytes]
) -> None:
    marker, group = f"{key_prefix}:marker", f"cli-group-{uuid.uuid4().hex[:6]}"
    wf = announcing(redis_url, marker)
    # given a group member dead-lettered (its group was told it failed)
    enqueue(redis_client, key_prefix, wf, lose_graph=True, group=group)
    assert redis_client.xread({f"{key_prefix}:dead": "0-0"}, block=WAIT_SECONDS * 1000)
    DistributedTaskQueue(redis_client, key_prefix=key_prefix).graph_store.save(wf.graph)
    # when it is requeued by task id
    requeued = graflow("dlq", "requeue", "announce", *redis_args(redis_url, key_prefix))
    # then it runs again, and the note says its group already counted it as failed
    assert requeued.returncode == 0, requeued.stderr
    assert f"note: group {group} already recorded task 'announce' as failed" in requeued.stderr
    assert redis_client.blpop([marker], timeout=WAIT_SECONDS) == (marker.encode(), b"ran")


def test_purge_asks_first_and_deletes_only_when_confirmed(
    redis_client: Any, redis_url: str, key_prefix: str, worker: subprocess.Popen[bytes]
) -> None:
    wf = announcing(redis_url, f"{key_prefix}:marker")
    enqueue(redis_client, key_prefix, wf, lose_graph=True)
    assert redis_client.xread({f"{key_prefix}:dead": "0-0"}, block=WAIT_SECONDS * 1000)
    opts = redis_args(redis_url, key_prefix)
    # when the question is answered no (or not at all), nothing is deleted
    refused = graflow("dlq", "purge", *opts, stdin="n\n")
    assert refused.returncode == 1
    assert "Delete all 1 dead letters" in refused.stdout
    unanswered = graflow("dlq", "purge", *opts, stdin="")
    assert unanswered.returncode == 1
    assert redis_client.xlen(f"{key_prefix}:dead") == 1
    # when it is answered yes, or --yes is given, they are
    accepted = graflow("dlq", "purge", "--reason", "graph_missing", *opts, stdin="y\n")
    assert accepted.returncode == 0, accepted.stderr
    assert f"deleted 1 dead letter(s) from {key_prefix}:dead" in accepted.stdout
    assert redis_client.xlen(f"{key_prefix}:dead") == 0
    assert graflow("dlq", "purge", "--yes", *opts).returncode == 0


def test_workers_lists_a_live_worker_with_its_in_flight_task(
    redis_client: Any, redis_url: str, key_prefix: str, worker: subprocess.Popen[bytes], worker_id: str
) -> None:
    marker, hold = f"{key_prefix}:marker", f"{key_prefix}:hold"
    # given a worker busy with a task that waits to be released
    enqueue(redis_client, key_prefix, announcing(redis_url, marker, hold=hold))
    assert redis_client.blpop([marker], timeout=WAIT_SECONDS) is not None
    try:
        # when the workers are listed
        listed = graflow("workers", *redis_args(redis_url, key_prefix))
        as_json = json.loads(graflow("workers", "--json", *redis_args(redis_url, key_prefix)).stdout)
    finally:
        redis_client.rpush(hold, "go")
    # then the worker shows as live, recently seen, holding that task
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()
    assert header.split() == ["WORKER", "CONSUMER", "STATUS", "LAST", "SEEN", "IN-FLIGHT", "TASKS"]
    assert row.split()[0] == worker_id
    assert row.split()[2] == "live"
    (shown,) = as_json
    assert shown["worker_id"] == worker_id
    assert shown["consumer"].startswith(f"{worker_id}-")
    assert shown["live"] is True
    assert shown["in_flight"] == 1
    assert shown["tasks"] == ["announce"]
    assert shown["idle_seconds"] < WAIT_SECONDS


def test_workers_on_a_prefix_nobody_uses_lists_none(redis_url: str, key_prefix: str) -> None:
    listed = graflow("workers", *redis_args(redis_url, key_prefix))
    assert listed.returncode == 0
    assert listed.stdout.strip() == "No live workers."


def test_dlq_list_on_an_empty_prefix_says_so(redis_url: str, key_prefix: str) -> None:
    listed = graflow("dlq", "list", *redis_args(redis_url, key_prefix))
    assert (listed.returncode, listed.stdout.strip()) == (0, f"No dead letters in {key_prefix}:dead.")


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["dlq", "list", "--redis-url", "http://localhost:6379"], 2, "invalid Redis URL"),
        (["dlq", "requeue", "--redis-url", "{url}"], 2, "name the dead letters to requeue"),
        (["dlq", "requeue", "1-0", "--all", "--redis-url", "{url}"], 2, "not both"),
        (["dlq", "show", "nothing-here", "--redis-url", "{url}"], 1, "no dead letter for task 'nothing-here'"),
        (["workers", "--redis-url", "redis://127.0.0.1:{port}/0"], 1, "cannot reach Redis"),
    ],
)
def test_bad_input_is_one_line_with_the_right_exit_code(
    args: list[str], code: int, message: str, redis_url: str, key_prefix: str, free_port: int
) -> None:
    argv = [a.format(url=redis_url, port=free_port) for a in args] + ["--redis-key-prefix", key_prefix]
    result = graflow(*argv)
    assert result.returncode == code
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr

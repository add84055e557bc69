"""Operations on a real Redis: the workers, the queue's depth, dead letters (list, requeue, delete), and distributed
runs started through the API and run by in-process workers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from graflow.distributed.streams import RedisStreamQueue
from tests.api import flows
from tests.api.conftest import DEADLINE, AppFactory, finish, serving


@pytest.fixture
def app_on_redis(make_app: AppFactory, redis_url: str, key_prefix: str) -> Callable[..., Any]:
    def make(workflows: list[Any] = ()) -> Any:  # type: ignore[assignment]
        return make_app(list(workflows), redis_url=redis_url, redis_key_prefix=key_prefix)

    return make


def dead_letter(redis_client: Any, key_prefix: str, task_id: str = "orphan") -> str:
    """Put one task with an unverifiable payload on the stream and let a consumer reject it; returns its dead id."""
    stream = RedisStreamQueue(redis_client, key_prefix)
    stream.redis.xadd(stream.stream_key, {b"t": task_id.encode(), b"g": b"", b"p": b"not a signed record"})
    assert stream.consume("tester", count=10, block=None) == []
    return str(stream.dead_letters(1)[0]["dead_letter_id"])


def test_without_redis_the_queue_endpoints_say_so(make_app: AppFactory) -> None:
    with serving(make_app()) as client:
        assert client.get("/api/workers").json() == {"configured": False, "key_prefix": "graflow", "workers": [],
                                                     "queue": None}
        assert client.get("/api/dead-letters").json()["configured"] is False
        assert client.post("/api/dead-letters/1-0/requeue").status_code == 409
        assert client.delete("/api/dead-letters/1-0").status_code == 409


def test_workers_and_the_queue_depth_are_listed(app_on_redis: Any, redis_client: Any, key_prefix: str) -> None:
    from graflow.worker.inprocess import run_workers

    with serving(app_on_redis([flows.etl()])) as client:
        before = client.get("/api/workers").json()
        assert before["configured"] is True and before["workers"] == []
        assert before["queue"] == {"waiting": 0, "running": 0, "dead": 0, "delayed": 0}
        with run_workers(redis_client, key_prefix) as [worker]:
            # a worker shows in the consumer group once it has read from the stream
            run_id = client.post("/api/workflows/etl/runs", json={"parameters": {"n": 1}, "execution": "distributed"})
            finish(client, run_id.json()["run_id"])
            [listed] = client.get("/api/workers").json()["workers"]
            assert listed["name"] == worker.consumer and listed["pending"] == 0 and listed["running"] == []
            assert listed["idle_seconds"] >= 0
        dead_letter(redis_client, key_prefix)
        assert client.get("/api/workers").json()["queue"] == {"waiting": 0, "running": 0, "dead": 1, "delayed": 0}


def test_dead_letters_are_listed_requeued_and_deleted(app_on_redis: Any, redis_client: Any, key_prefix: str) -> None:
    first, second = dead_letter(redis_client, key_prefix, "t1"), dead_letter(redis_client, key_prefix, "t2")
    stream = RedisStreamQueue(redis_client, key_prefix)
    with serving(app_on_redis()) as client:
        page = client.get("/api/dead-letters", params={"limit": 1}).json()
        assert page["count"] == 1 and page["dead_letters"][0]["dead_letter_id"] == second
        letter = page["dead_letters"][0]
        assert letter["task_id"] == "t2" and letter["reason"] == "bad_signature" and letter["payload_bytes"] > 0
        rest = client.get("/api/dead-letters", params={"before": page["next_cursor"]}).json()
        assert [d["dead_letter_id"] for d in rest["dead_letters"]] == [first] and rest["next_cursor"] is None
        # requeue moves it back to the task stream, with its payload, in one step
        moved = client.post(f"/api/dead-letters/{second}/requeue")
        assert moved.status_code == 200 and moved.json()["task_id"] == "t2"
        assert stream.waiting()[-1] == {"entry_id": moved.json()["entry_id"], "task_id": "t2",
                                        "enqueued_at": stream.waiting()[-1]["enqueued_at"]}
        assert [d["dead_letter_id"] for d in client.get("/api/dead-letters").json()["dead_letters"]] == [first]
        assert client.post(f"/api/dead-letters/{second}/requeue").status_code == 404
        # delete removes it for good
        assert client.delete(f"/api/dead-letters/{first}").status_code == 200
        assert client.get("/api/dead-letters").json()["dead_letters"] == []
        assert client.delete(f"/api/dead-letters/{first}").status_code == 404
        assert client.delete("/api/dead-letters/not-an-id").status_code == 422
        assert client.post("/api/dead-letters/99999999999999999999-0/requeue").status_code == 422
        audited = {(e["action"], e["target"], e["status_code"]) for e in client.get("/api/audit").json()["entries"]}
        assert {("dead_letter.requeue", second, 200), ("dead_letter.delete", first, 200)} <= audited


def test_a_requeued_run_runs_on_a_worker(app_on_redis: Any, redis_client: Any, key_prefix: str) -> None:
    from graflow.distributed.submit import submit_workflow
    from graflow.worker.inprocess import run_workers

    # given a run whose start task was dead-lettered before any worker ran it
    handle = submit_workflow(flows.etl(), redis_client=redis_client, key_prefix=key_prefix, wait=False)
    handle.channel().set("n", 3)
    stream = RedisStreamQueue(redis_client, key_prefix)
    [delivery] = stream.consume("doomed", count=1, block=None)
    stream.dead_letter(delivery.entry_id, "max_deliveries", consumer="doomed", deliveries=5)
    with serving(app_on_redis()) as client:
        [letter] = client.get("/api/dead-letters").json()["dead_letters"]
        assert letter["session_id"] == handle.session_id and letter["workflow_name"] == "etl"
        # when it is requeued and a worker runs
        assert client.post(f"/api/dead-letters/{letter['dead_letter_id']}/requeue").status_code == 200
        with run_workers(redis_client, key_prefix):
            # then the run completes
            assert handle.result(DEADLINE) == 3


def test_a_distributed_run_started_through_the_api(app_on_redis: Any, redis_client: Any, key_prefix: str) -> None:
    from graflow.worker.inprocess import run_workers

    with serving(app_on_redis([flows.etl(), flows.broken()])) as client, run_workers(redis_client, key_prefix):
        response = client.post("/api/workflows/etl/runs", json={"parameters": {"n": 5}, "execution": "distributed"})
        assert response.status_code == 202 and response.json()["execution"] == "distributed"
        run_id = response.json()["run_id"]
        assert finish(client, run_id).data["status"] == "completed"
        run = client.get(f"/api/runs/{run_id}").json()
        assert run["status"] == "completed" and run["result_preview"] == "5" and run["started_at"] is not None
        failed = client.post("/api/workflows/broken/runs", json={"execution": "distributed"}).json()["run_id"]
        assert finish(client, failed).data["status"] == "failed"
        assert "bad input" in client.get(f"/api/runs/{failed}").json()["error_message"]
        retried = client.post(f"/api/runs/{failed}/retry").json()
        assert retried["execution"] == "distributed" and retried["retry_of"] == failed

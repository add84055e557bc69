"""The Redis Streams task queue on a real Redis: delivery, acknowledgement, leases, reclaiming, dead letters,
delayed retries, payload verification and the inspection API (D19, D20)."""

from __future__ import annotations

import os
import pickle
import secrets
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from graflow.core.hooks import EngineHook
from graflow.distributed.records import SerializedTaskRecord
from graflow.distributed.streams import RedisStreamQueue
from graflow.exceptions import ConfigError
from graflow.security.signing import NullSigner, PayloadSigner

pytestmark = pytest.mark.integration


def record(task_id: str, group_id: str | None = None) -> SerializedTaskRecord:
    return SerializedTaskRecord(
        task_id=task_id,
        session_id="s1",
        graph_hash="0" * 64,
        trace_id="s1",
        created_at=time.time(),
        group_id=group_id,
    )


class Events(EngineHook):
    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []

    def on_task_dequeued(self, **kw: Any) -> None:
        self.seen.append(("dequeued", kw))

    def on_task_redelivered(self, **kw: Any) -> None:
        self.seen.append(("redelivered", kw))

    def on_task_dead_lettered(self, **kw: Any) -> None:
        self.seen.append(("dead_lettered", kw))

    def on_payload_rejected(self, **kw: Any) -> None:
        self.seen.append(("rejected", kw))

    def on_queue_depth(self, **kw: Any) -> None:
        self.seen.append(("depth", kw))

    def names(self) -> list[str]:
        return [name for name, _ in self.seen]


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture
def queue(redis_client: Any, key_prefix: str, events: Events) -> RedisStreamQueue:
    return RedisStreamQueue(redis_client, key_prefix, lease_timeout=0.3, max_deliveries=3, hooks=[events])


def expire_lease(queue: RedisStreamQueue, entry_ids: list[str]) -> None:
    """Make entries look idle past their lease, as a dead worker's would (no sleeping)."""
    idle = int(queue.lease_timeout * 1000) + 1
    for entry_id in entry_ids:
        owner = queue.redis.xpending_range(queue.stream_key, queue.group, entry_id, entry_id, 1)[0]["consumer"]
        queue.redis.xclaim(queue.stream_key, queue.group, owner, 0, [entry_id], idle=idle, justid=True)


def test_a_delivered_task_stays_pending_until_acknowledged(queue: RedisStreamQueue) -> None:
    # given a task taken by a worker
    queue.enqueue(record("a"))
    (delivery,) = queue.consume("w1", count=10, block=0.5)
    # then it is running, not waiting, and nobody else gets it
    assert queue.counts() == {"waiting": 0, "running": 1, "dead": 0, "delayed": 0}
    assert queue.consume("w2", count=10, block=None) == []
    # when it is acknowledged twice
    assert queue.ack([delivery.entry_id]) == 1
    assert queue.ack([delivery.entry_id]) == 0
    # then it is gone
    assert queue.counts() == {"waiting": 0, "running": 0, "dead": 0, "delayed": 0}


def test_delivery_carries_the_verified_record_and_its_wait(queue: RedisStreamQueue, events: Events) -> None:
    queue.enqueue(record("a", group_id="g1"))
    (delivery,) = queue.consume("w1", block=0.5)
    assert delivery.record.task_id == "a"
    assert delivery.record.group_id == "g1"
    assert delivery.deliveries == 1
    assert 0 <= delivery.wait_seconds < 60
    assert (
        "dequeued",
        {"task_id": "a", "queue": queue.stream_key, "wait_seconds": delivery.wait_seconds, "deliveries": 1},
    ) in events.seen


def test_consume_blocks_until_a_task_arrives(queue: RedisStreamQueue, redis_client: Any, key_prefix: str) -> None:
    import threading

    producer = RedisStreamQueue(redis_client, key_prefix)
    timer = threading.Timer(0.1, lambda: producer.enqueue(record("late")))
    timer.start()
    started = time.monotonic()
    got = queue.consume("w1", block=5.0)
    timer.join()
    assert [d.task_id for d in got] == ["late"]
    assert time.monotonic() - started < 4.0  # woke on arrival, not at the end of the block


def test_an_expired_lease_is_reclaimed_by_another_worker(queue: RedisStreamQueue, events: Events) -> None:
    queue.enqueue(record("a"))
    (first,) = queue.consume("dead-worker", block=0.5)
    expire_lease(queue, [first.entry_id])
    (again,) = queue.reclaim("w2")
    assert again.entry_id == first.entry_id
    assert again.deliveries == 2
    assert "redelivered" in events.names()
    assert queue.running()[0]["consumer"] == "w2"


def test_a_renewed_lease_is_not_reclaimed(queue: RedisStreamQueue) -> None:
    queue.enqueue(record("a"))
    (first,) = queue.consume("w1", block=0.5)
    expire_lease(queue, [first.entry_id])
    # the owner renews before anyone reclaims
    assert queue.renew("w1", [first.entry_id]) == []
    assert queue.reclaim("w2") == []
    assert queue.running()[0]["consumer"] == "w1"


def test_renewing_a_lease_lost_to_another_worker_reports_it_and_leaves_it(queue: RedisStreamQueue) -> None:
    queue.enqueue(record("a"))
    (first,) = queue.consume("w1", block=0.5)
    expire_lease(queue, [first.entry_id])
    queue.reclaim("w2")
    assert queue.renew("w1", [first.entry_id]) == [first.entry_id]
    assert queue.running()[0]["consumer"] == "w2"


def test_a_task_past_max_deliveries_is_dead_lettered_with_its_reason(queue: RedisStreamQueue, events: Events) -> None:
    seen: list[tuple[str, str | None, str]] = []
    queue.dead_letter_listener = lambda task, group, reason, detail: seen.append((task, group, reason))
    queue.enqueue(record("poison", group_id="g1"))
    (delivery,) = queue.consume("w1", block=0.5)
    for worker in ("w2", "w3"):
        expire_lease(queue, [delivery.entry_id])
        assert [d.task_id for d in queue.reclaim(worker)] == ["poison"]
    expire_lease(queue, [delivery.entry_id])
    assert queue.reclaim("w4") == []
    (dead,) = queue.dead_letters()
    assert dead["reason"] == "max_deliveries"
    assert dead["task_id"] == "poison"
    assert dead["group_id"] == "g1"
    assert dead["deliveries"] == 3
    assert SerializedTaskRecord.from_json(queue.signer.verify(dead["payload"])).task_id == "poison"
    assert seen == [("poison", "g1", "max_deliveries")]
    assert (
        "dead_lettered",
        {"task_id": "poison", "queue": queue.stream_key, "reason": "max_deliveries"},
    ) in events.seen
    assert queue.counts()["running"] == 0


class Boom:
    """Unpickling this would create a file: proof that nothing was deserialized."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> Any:
        return (open, (self.path, "w"))


@pytest.mark.parametrize(
    ("name", "payload", "detail"),
    [
        ("garbage", b"\x00\xffnot a frame", "bad_magic"),
        ("truncated", b"GFS", "truncated"),
        ("forged", b"GFS1" + b"\x00" * 32 + b'{"task_id":"x"}', "bad_signature"),
        ("raw pickle", None, "bad_magic"),
    ],
)
def test_forged_payloads_are_dead_lettered_before_deserialization(
    redis_client: Any, key_prefix: str, events: Events, tmp_path: Any, name: str, payload: bytes | None, detail: str
) -> None:
    marker = tmp_path / "unpickled"
    if payload is None:
        payload = pickle.dumps(Boom(str(marker)))
    queue = RedisStreamQueue(redis_client, key_prefix, signer=PayloadSigner(secrets.token_bytes(32)), hooks=[events])
    queue.ensure_group()
    redis_client.xadd(queue.stream_key, {"t": "evil", "g": "g9", "p": payload})
    queue.enqueue(record("good"))
    got = queue.consume("w1", count=10, block=0.5)
    assert [d.task_id for d in got] == ["good"]
    (dead,) = queue.dead_letters()
    assert dead["reason"] == "bad_signature"
    assert dead["detail"] == detail
    assert dead["payload"] == payload
    assert ("rejected", {"queue": queue.stream_key, "reason": "bad_signature"}) in events.seen
    assert not marker.exists()


def test_a_record_signed_with_another_secret_is_rejected(redis_client: Any, key_prefix: str) -> None:
    producer = RedisStreamQueue(redis_client, key_prefix, signer=PayloadSigner(secrets.token_bytes(32)))
    worker = RedisStreamQueue(redis_client, key_prefix, signer=PayloadSigner(secrets.token_bytes(32)))
    producer.enqueue(record("a"))
    assert worker.consume("w1", block=0.5) == []
    assert worker.dead_letters()[0]["reason"] == "bad_signature"


def test_an_unsigned_record_is_rejected_when_a_secret_is_set(redis_client: Any, key_prefix: str) -> None:
    RedisStreamQueue(redis_client, key_prefix, signer=NullSigner()).enqueue(record("a"))
    worker = RedisStreamQueue(redis_client, key_prefix, signer=PayloadSigner(secrets.token_bytes(32)))
    assert worker.consume("w1", block=0.5) == []
    dead = worker.dead_letters()[0]
    assert (dead["reason"], dead["detail"]) == ("bad_signature", "unsigned")


def test_a_verified_payload_that_is_not_a_record_is_dead_lettered_as_undecodable(queue: RedisStreamQueue) -> None:
    queue.ensure_group()
    queue.redis.xadd(queue.stream_key, {"t": "x", "p": queue.signer.sign(b"[1, 2, 3]")})
    assert queue.consume("w1", block=0.5) == []
    assert queue.dead_letters()[0]["reason"] == "undecodable"


def test_delayed_tasks_enter_the_stream_when_due(queue: RedisStreamQueue) -> None:
    queue.enqueue(record("later"), delay=30)
    (parked,) = queue.delayed()
    assert parked["task_id"] == "later"
    assert queue.counts()["delayed"] == 1
    # not due yet
    assert queue.promote_due() == pytest.approx(parked["due_at"])
    assert queue.consume("w1", block=None) == []
    # due (pretend the clock moved on)
    assert queue.promote_due(now=parked["due_at"] + 1) is None
    (delivery,) = queue.consume("w1", block=0.5)
    assert delivery.task_id == "later"
    assert queue.counts()["delayed"] == 0


def test_retry_later_keeps_the_delivery_count(queue: RedisStreamQueue) -> None:
    queue.enqueue(record("flaky"))
    (first,) = queue.consume("w1", block=0.5)
    queue.retry_later(first, delay=60)
    assert queue.counts() == {"waiting": 0, "running": 0, "dead": 0, "delayed": 1}
    queue.promote_due(now=time.time() + 120)
    (second,) = queue.consume("w1", block=0.5)
    assert second.deliveries == 2


def test_released_tasks_are_redelivered_at_once_without_spending_a_delivery(queue: RedisStreamQueue) -> None:
    queue.enqueue(record("a"))
    (first,) = queue.consume("stopping-worker", block=0.5)
    assert queue.release("stopping-worker", [first.entry_id]) == 1
    (again,) = queue.reclaim("w2")
    assert again.deliveries == 1  # the interrupted delivery was given back; this one is the first to count


def test_inspection_lists_waiting_running_dead_and_delayed(queue: RedisStreamQueue, events: Events) -> None:
    queue.enqueue_many([record("w-1"), record("w-2"), record("r-1")])
    queue.enqueue(record("d-1"), delay=60)
    queue.consume("w1", count=1, block=0.5)  # takes w-1
    (running,) = queue.running()
    assert running["task_id"] == "w-1" and running["consumer"] == "w1" and running["deliveries"] == 1
    assert [w["task_id"] for w in queue.waiting()] == ["w-2", "r-1"]
    assert [d["task_id"] for d in queue.delayed()] == ["d-1"]
    queue.dead_letter(running["entry_id"], "manual", detail="operator")
    assert queue.dead_letters()[0]["reason"] == "manual"
    assert queue.counts() == {"waiting": 2, "running": 0, "dead": 1, "delayed": 1}
    assert ("depth", {"queue": queue.stream_key, "depth": 2}) in events.seen


def test_the_consumer_group_is_recreated_when_redis_lost_it(queue: RedisStreamQueue) -> None:
    queue.enqueue(record("a"))
    queue.redis.delete(queue.stream_key)  # as after a restart without persistence
    queue.enqueue(record("b"))
    assert [d.task_id for d in queue.consume("w1", block=0.5)] == ["b"]


def test_unsigned_payloads_to_a_remote_redis_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import redis

    monkeypatch.delenv("GRAFLOW_SECRET_KEY", raising=False)
    monkeypatch.delenv("GRAFLOW_INSECURE", raising=False)
    remote = redis.Redis(host="10.255.255.1", port=6379)  # never contacted: the check happens first
    with pytest.raises(ConfigError, match="GRAFLOW_SECRET_KEY"):
        RedisStreamQueue(remote, "p")


def test_invalid_options_are_rejected(redis_client: Any) -> None:
    with pytest.raises(ConfigError, match="lease_timeout"):
        RedisStreamQueue(redis_client, "p", lease_timeout=0)
    with pytest.raises(ConfigError, match="max_deliveries"):
        RedisStreamQueue(redis_client, "p", max_deliveries=0)


def test_no_secret_in_environment_means_unsigned_frames_on_loopback(
    redis_client: Any, key_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GRAFLOW_SECRET_KEY", raising=False)
    queue = RedisStreamQueue(redis_client, key_prefix)
    assert isinstance(queue.signer, NullSigner)
    monkeypatch.setenv("GRAFLOW_SECRET_KEY", secrets.token_hex(32))
    assert isinstance(RedisStreamQueue(redis_client, key_prefix).signer, PayloadSigner)
    assert os.environ["GRAFLOW_SECRET_KEY"]


# Finishing in batches ------------------------------------------------------------------------------------------------
def barrier_of(redis_client: Any, prefix: str, barrier_id: str, expected: int) -> Any:
    from graflow.distributed.barrier import GroupBarrier

    barrier = GroupBarrier(redis_client, prefix, barrier_id)
    barrier.arm(expected)
    return barrier


def finish(delivery: Any, prefix: str, writes: list[tuple[str, bytes, int | None]] | None = None) -> Any:
    from graflow.distributed.barrier import completion_json, completion_keys
    from graflow.distributed.streams import Finish

    record = delivery.record
    keys = completion_keys(prefix, record.group_id) if record.group_id else None
    return Finish(delivery.entry_id, record.task_id, keys, completion_json(record.task_id, True, None), writes or [])


def test_finish_many_writes_results_completions_and_acks_in_one_step(
    queue: RedisStreamQueue, redis_client: Any, key_prefix: str
) -> None:
    from graflow.distributed.streams import FINISHED

    # given two tasks of one barrier and one of another, taken by one worker
    first, second = barrier_of(redis_client, key_prefix, "g1", 2), barrier_of(redis_client, key_prefix, "g2", 1)
    queue.enqueue_many([record("a", "g1"), record("b", "g1"), record("c", "g2")])
    deliveries = queue.consume("w1", count=10, block=0.5)
    # when they are finished together, each with a result
    items = [finish(d, key_prefix, [(f"{key_prefix}:out:{d.task_id}", d.task_id.encode(), None)]) for d in deliveries]
    assert queue.finish_many("w1", items) == [FINISHED] * 3
    # then every result is stored, every completion counted once, both barriers complete and nothing is pending
    assert [redis_client.get(f"{key_prefix}:out:{t}") for t in "abc"] == [b"a", b"b", b"c"]
    assert first.wait(["a", "b"], timeout=5).keys() == {"a", "b"}
    assert second.wait(["c"], timeout=5).keys() == {"c"}
    assert queue.counts() == {"waiting": 0, "running": 0, "dead": 0, "delayed": 0}


def test_finish_many_writes_nothing_for_a_task_whose_lease_was_lost(
    queue: RedisStreamQueue, redis_client: Any, key_prefix: str
) -> None:
    from graflow.distributed.streams import FINISHED, NOT_OWNED

    barrier = barrier_of(redis_client, key_prefix, "g", 2)
    queue.enqueue_many([record("a", "g"), record("b", "g")])
    stale, kept = queue.consume("w1", count=10, block=0.5)
    # given that another worker reclaimed one of them
    expire_lease(queue, [stale.entry_id])
    (reclaimed,) = queue.reclaim("w2")
    # when the first worker finishes both
    out = queue.finish_many(
        "w1", [finish(d, key_prefix, [(f"{key_prefix}:out:{d.task_id}", b"w1", None)]) for d in (stale, kept)]
    )
    # then only the one it still holds lands; the other stays with its new owner, without result or completion
    assert out == [NOT_OWNED, FINISHED]
    assert redis_client.get(f"{key_prefix}:out:a") is None and redis_client.get(f"{key_prefix}:out:b") == b"w1"
    assert barrier.completed_count() == 1 and not barrier.is_member_completed("a")
    assert [row["consumer"] for row in queue.running()] == ["w2"]
    assert queue.finish_many("w2", [finish(reclaimed, key_prefix)]) == [FINISHED]
    assert barrier.completed_count() == 2


def test_a_redelivered_task_finishing_after_its_twin_keeps_the_first_result(
    queue: RedisStreamQueue, redis_client: Any, key_prefix: str
) -> None:
    from graflow.distributed.streams import DUPLICATE, FINISHED

    barrier = barrier_of(redis_client, key_prefix, "g", 1)
    queue.enqueue(record("a", "g"))
    (first,) = queue.consume("w1", count=1, block=0.5)
    # given the task completed once already (say by a twin delivery before this one was redelivered)
    assert queue.finish_many("w1", [finish(first, key_prefix, [(f"{key_prefix}:out", b"first", None)])]) == [FINISHED]
    queue.enqueue(record("a", "g"))
    (second,) = queue.consume("w2", count=1, block=0.5)
    # when the second delivery finishes
    out = queue.finish_many("w2", [finish(second, key_prefix, [(f"{key_prefix}:out", b"second", None)])])
    # then it is only acknowledged: the completion counts once and the first result stays
    assert out == [DUPLICATE]
    assert redis_client.get(f"{key_prefix}:out") == b"first"
    assert barrier.completed_count() == 1
    assert queue.counts()["running"] == 0


def test_finish_many_applies_the_ttl_of_each_write(queue: RedisStreamQueue, redis_client: Any, key_prefix: str) -> None:
    queue.enqueue(record("a"))
    (delivery,) = queue.consume("w1", count=1, block=0.5)
    writes = [(f"{key_prefix}:ttl", b"1", 60_000), (f"{key_prefix}:forever", b"2", None)]
    assert queue.finish_many("w1", [finish(delivery, key_prefix, writes)]) == [1]
    assert 0 < redis_client.pttl(f"{key_prefix}:ttl") <= 60_000
    assert redis_client.pttl(f"{key_prefix}:forever") == -1


def test_enqueue_many_can_skip_reading_the_entry_ids_back(queue: RedisStreamQueue) -> None:
    assert queue.enqueue_many([record("a"), record("b")], return_ids=False) == []
    assert [d.task_id for d in queue.consume("w1", count=10, block=0.5)] == ["a", "b"]


@given(
    task_ids=st.lists(st.text(min_size=1), min_size=1, max_size=5),
    session_id=st.text(min_size=1),
    group_id=st.none() | st.text(),
    trace_context=st.none() | st.dictionaries(st.text(), st.text(), max_size=2),
    created_at=st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**40), 2**40),
)
def test_the_batch_record_encoder_writes_what_to_json_writes(
    task_ids: list[str], session_id: str, group_id: str | None, trace_context: Any, created_at: float
) -> None:
    from graflow.distributed.streams import RecordEncoder

    encode = RecordEncoder(123.5)
    for task_id in task_ids:
        rec = SerializedTaskRecord(
            task_id=task_id,
            session_id=session_id,
            graph_hash="0" * 64,
            trace_id=None,
            created_at=created_at,
            group_id=group_id,
            trace_context=trace_context,
            enqueued_at=123.5,
        )
        assert encode(rec) == rec.to_json()
        assert SerializedTaskRecord.from_json(encode(rec)) == rec

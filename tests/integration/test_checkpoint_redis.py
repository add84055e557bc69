"""Checkpoints kept in Redis, and runs whose channel lives in Redis (real Redis, unique key prefixes)."""

from __future__ import annotations

from typing import Any

import pytest

from graflow import task, workflow
from graflow.core.checkpoint import CheckpointManager
from graflow.core.context import ExecutionContext

pytestmark = pytest.mark.integration


def _two_steps(location: str) -> Any:
    with workflow("redis-store") as wf:

        @task(inject_context=True)
        def first(ctx: Any) -> int:
            ctx.get_channel().set("k", 41)
            ctx.checkpoint({"where": "redis"}, path=location)
            return 41

        @task(inject_context=True)
        def second(ctx: Any) -> int:
            return ctx.get_channel().get("k") + 1

        first >> second

    return wf


def test_checkpoint_written_to_the_redis_store_resumes(redis_url: str, redis_client: Any, key_prefix: str) -> None:
    # given a run that checkpoints to redis://.../<base>?prefix=<unique>
    location = f"{redis_url}/runs/first?prefix={key_prefix}"
    _, ctx = _two_steps(location).execute(ret_context=True)

    # when resumed from the returned location
    resumed, meta = CheckpointManager.resume_from_checkpoint(ctx.last_checkpoint_path)

    # then the set lives in one hash, is indexed, and resumes like a file checkpoint
    assert ctx.last_checkpoint_path == f"{redis_url}/runs/first.pkl?prefix={key_prefix}"
    fields = redis_client.hkeys(f"{key_prefix}:checkpoint:runs/first")
    assert sorted(fields) == [b"meta.json", b"pkl", b"state.json"]
    assert redis_client.zrange(f"{key_prefix}:checkpoints", 0, -1) == [b"runs/first"]
    assert meta.user_metadata["where"] == "redis"
    assert resumed.session_id == ctx.session_id
    assert resumed.execute() == 42


def test_tampered_redis_checkpoint_is_refused(redis_url: str, redis_client: Any, key_prefix: str) -> None:
    # given a Redis checkpoint whose pickle field was overwritten
    location = f"{redis_url}/runs/t?prefix={key_prefix}"
    _two_steps(location).execute()
    redis_client.hset(f"{key_prefix}:checkpoint:runs/t", "pkl", b"\x80\x05garbage")

    # when resumed, then the checksum check refuses it
    from graflow.checkpoints.base import CheckpointError

    with pytest.raises(CheckpointError, match="checksum"):
        CheckpointManager.resume_from_checkpoint(location)


def test_periodic_checkpoints_can_go_to_a_redis_directory(redis_url: str, key_prefix: str) -> None:
    # given checkpoint_dir naming a Redis location
    with workflow("redis-periodic") as wf:
        tasks = [task(f"s{i}")(lambda i=i: i) for i in range(5)]
        tasks[0] >> tasks[1] >> tasks[2] >> tasks[3] >> tasks[4]

    # when run with checkpoint_every=2
    _, ctx = wf.execute(ret_context=True, checkpoint_every=2, checkpoint_dir=f"{redis_url}/ck?prefix={key_prefix}")

    # then the listing of that Redis directory shows steps 2 and 4, under the run's session
    rows = CheckpointManager.list_checkpoints(f"{redis_url}/ck?prefix={key_prefix}")
    assert [(r.steps, r.next_task) for r in rows] == [(2, "s2"), (4, "s4")]
    assert all(f"/ck/{ctx.session_id}/session_{ctx.session_id}_step_" in r.location for r in rows)


def _redis_channel_context(redis_url: str, key_prefix: str, location: str, snapshot: bool) -> ExecutionContext:
    with workflow("redis-channel") as wf:

        @task(inject_context=True)
        def produce(ctx: Any) -> None:
            ctx.get_channel().set("stage", "checkpointed")
            ctx.checkpoint(path=location)

        @task(inject_context=True)
        def later(ctx: Any) -> str:
            ctx.get_channel().set("stage", "moved on")
            return "later"

        produce >> later

    ctx = ExecutionContext.create(
        wf.graph, "produce", channel_backend="redis", config={"url": redis_url, "key_prefix": key_prefix}
    )
    ctx.checkpoint_snapshot_channel = snapshot  # type: ignore[attr-defined]
    return ctx


def test_redis_channel_data_stays_in_redis_by_default(redis_url: str, key_prefix: str, tmp_path: Any) -> None:
    # given a Redis-channel run checkpointed after "produce", whose channel then moved on
    location = str(tmp_path / "rc")
    ctx = _redis_channel_context(redis_url, key_prefix, location, snapshot=False)
    ctx.execute()

    # when resumed without a snapshot
    resumed, meta = CheckpointManager.resume_from_checkpoint(location)

    # then the channel is reattached to the same Redis keys and shows their current value; no snapshot exists
    assert meta.backend == {"channel": "redis"}
    assert meta.channel_sha256 is None
    assert resumed.channel.get("stage") == "moved on"
    from graflow.checkpoints.base import CheckpointError

    with pytest.raises(CheckpointError, match="channel_snapshot"):
        CheckpointManager.resume_from_checkpoint(location, restore_channel=True)


def test_redis_channel_snapshot_is_restored_when_asked(redis_url: str, key_prefix: str, tmp_path: Any) -> None:
    # given the same run with snapshot_channel on
    location = str(tmp_path / "rc")
    ctx = _redis_channel_context(redis_url, key_prefix, location, snapshot=True)
    ctx.execute()

    # when resumed with restore_channel=True
    resumed, meta = CheckpointManager.resume_from_checkpoint(location, restore_channel=True)

    # then the Redis keys hold the values they had at the checkpoint again
    assert meta.channel_sha256 is not None
    assert resumed.channel.get("stage") == "checkpointed"
    assert resumed.execute() == "later"
    assert resumed.channel.get("stage") == "moved on"


def test_a_run_given_only_a_redis_client_reattaches_to_the_same_redis(
    redis_client: Any, key_prefix: str, tmp_path: Any
) -> None:
    # given a Redis-channel run configured with a client object (not a URL) on the test database
    location = str(tmp_path / "client-only")
    with workflow("client-only") as wf:

        @task(inject_context=True)
        def produce(ctx: Any) -> None:
            ctx.get_channel().set("marker", "written before the checkpoint")
            ctx.checkpoint(path=location)

        @task
        def after() -> None:
            pass

        produce >> after

    ctx = ExecutionContext.create(
        wf.graph, "produce", channel_backend="redis", config={"redis_client": redis_client, "key_prefix": key_prefix}
    )
    ctx.execute()

    # when resumed in a context that has no client object any more
    resumed, _ = CheckpointManager.resume_from_checkpoint(location)

    # then its channel reads the same server and database
    assert resumed.channel.get("marker") == "written before the checkpoint"

"""The workers' queue as the operations endpoints see it: workers, queue depth, dead letters (list, requeue, delete).

Reads never create anything in Redis (a server without workers does not get an empty stream from a ``GET``).
Requeueing moves a dead letter back to the task stream in one ``MULTI``/``EXEC`` transaction guarded by ``WATCH``
on the dead-letter stream: the entry is added to ``{prefix}:tasks`` with its original signed payload (a worker
verifies it like any other) and deleted from ``{prefix}:dead``, or neither happens. The task gets a fresh delivery
count. Its group may have given up on it when it was dead-lettered (a submitted run then counts as failed), so
requeueing re-runs the task; it does not revive the waiter.
"""

from __future__ import annotations

import re
from typing import Any

from graflow.api.errors import ApiError, conflict, not_found
from graflow.api.redis_link import RedisLink, errors

#: A stream entry id.
ENTRY_ID = re.compile(r"^\d{1,20}-\d{1,20}$")
#: Attempts of a requeue transaction before giving up (each retry follows a concurrent change of the dead letters).
REQUEUE_ATTEMPTS = 20


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class QueueOps:
    """Operations on the workers' queue.

    Args:
        redis: The server's Redis.
    """

    def __init__(self, redis: RedisLink) -> None:
        self.redis = redis

    # -- workers -------------------------------------------------------------------------------------------------------
    def workers(self) -> dict[str, Any]:
        """The workers of the consumer group and the queue's depth.

        Returns:
            ``{"configured", "key_prefix", "workers": [{"name", "pending", "idle_seconds", "inactive_seconds",
            "running": [...]}], "queue": {"waiting", "running", "dead", "delayed"}}``; without Redis
            ``configured`` is False and the rest empty.
        """
        if not self.redis.configured:
            return {"configured": False, "key_prefix": self.redis.key_prefix, "workers": [], "queue": None}
        import redis

        stream = self.redis.stream()
        with errors("read the workers"):
            try:
                consumers = stream.redis.xinfo_consumers(stream.stream_key, stream.group)
            except redis.ResponseError:  # no stream or no group yet: no worker ever joined
                consumers = []
            running = stream.running(1000) if consumers else []
            queue = self._depth(stream, grouped=bool(consumers))
        workers = []
        for consumer in consumers:
            name = _text(consumer.get("name") or consumer.get(b"name") or "")
            inactive = consumer.get("inactive", consumer.get(b"inactive"))
            workers.append({
                "name": name,
                "pending": int(consumer.get("pending", consumer.get(b"pending", 0)) or 0),
                "idle_seconds": int(consumer.get("idle", consumer.get(b"idle", 0)) or 0) / 1000.0,
                "inactive_seconds": None if inactive is None or int(inactive) < 0 else int(inactive) / 1000.0,
                "running": [dict(task) for task in running if task["consumer"] == name],
            })  # fmt: skip
        return {"configured": True, "key_prefix": self.redis.key_prefix, "workers": workers, "queue": queue}

    @staticmethod
    def _depth(stream: Any, *, grouped: bool) -> dict[str, int]:
        pipe = stream.redis.pipeline(transaction=False)
        pipe.xlen(stream.stream_key)
        pipe.xlen(stream.dead_key)
        pipe.zcard(stream.delayed_key)
        length, dead, delayed = pipe.execute()
        running = int(stream.redis.xpending(stream.stream_key, stream.group)["pending"]) if grouped else 0
        return {"waiting": max(0, int(length) - running), "running": running, "dead": int(dead),
                "delayed": int(delayed)}

    # -- dead letters -----------------------------------------------------------------------------------------------
    def dead_letters(self, limit: int, before: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        """Dead letters newest first, at most ``limit``, older than ``before`` (a dead-letter id) when given.

        Returns:
            The entries (without their payload; with the run's ``session_id`` and ``workflow_name`` when the
            payload verifies), and the cursor of the next page (None on the last).
        """
        if not self.redis.configured:
            return [], None
        if before is not None:
            check_id(before)
        stream = self.redis.stream()
        with errors("read the dead letters"):
            entries = stream.redis.xrevrange(stream.dead_key, max=f"({before}" if before else "+", count=limit + 1)
        rows = [self._row(stream, entry_id, fields) for entry_id, fields in entries[:limit]]
        return rows, (rows[-1]["dead_letter_id"] if len(entries) > limit else None)

    @staticmethod
    def _row(stream: Any, entry_id: Any, fields: dict[bytes, bytes]) -> dict[str, Any]:
        payload = fields.get(b"payload", b"")
        row: dict[str, Any] = {_text(k): _text(v) for k, v in fields.items() if k != b"payload"}
        row["dead_letter_id"] = _text(entry_id)
        row["deliveries"] = int(row.get("deliveries") or 0)
        row["dead_at"] = float(row["dead_at"]) if row.get("dead_at") else None
        row["payload_bytes"] = len(payload)
        row["session_id"] = row["workflow_name"] = None
        try:  # show which run the task belongs to, when the payload is ours; nothing is unpickled
            from graflow.distributed.records import SerializedTaskRecord

            record = SerializedTaskRecord.from_json(stream.signer.verify(payload).decode())
            row["session_id"], row["workflow_name"] = record.session_id, record.workflow_name
        except Exception:  # unsigned by us, truncated, undecodable: listed as it is
            pass
        return row

    def requeue(self, dead_letter_id: str) -> dict[str, Any]:
        """Move a dead letter back to the task stream.

        Returns:
            ``{"dead_letter_id", "entry_id", "task_id"}``: ``entry_id`` is its new stream entry.

        Raises:
            ApiError: 404 unknown; 409 without Redis or when the dead letters changed too often meanwhile;
                503 Redis does not answer.
        """
        import redis

        self._require()
        check_id(dead_letter_id)
        stream = self.redis.stream()
        with errors("requeue the dead letter"), stream.redis.pipeline(transaction=True) as pipe:
            for _ in range(REQUEUE_ATTEMPTS):
                try:
                    pipe.watch(stream.dead_key)
                    found = pipe.xrange(stream.dead_key, min=dead_letter_id, max=dead_letter_id)
                    if not found:
                        pipe.unwatch()
                        raise not_found(f"Dead letter {dead_letter_id!r}")
                    fields = found[0][1]
                    if not fields.get(b"payload"):
                        pipe.unwatch()
                        raise conflict(f"Dead letter {dead_letter_id!r} has no payload to requeue")
                    task_id = fields.get(b"task_id", b"")
                    pipe.multi()
                    pipe.xadd(stream.stream_key, {b"t": task_id, b"g": fields.get(b"group_id", b""),
                                                  b"p": fields[b"payload"]})
                    pipe.xdel(stream.dead_key, dead_letter_id)
                    entry_id, _ = pipe.execute()
                    return {"dead_letter_id": dead_letter_id, "entry_id": _text(entry_id), "task_id": _text(task_id)}
                except redis.WatchError:
                    continue  # another dead letter arrived meanwhile: read again
        raise conflict("The dead letters kept changing; try again")

    def delete(self, dead_letter_id: str) -> None:
        """Delete a dead letter for good.

        Raises:
            ApiError: 404 unknown; 409 without Redis; 503 Redis does not answer.
        """
        self._require()
        check_id(dead_letter_id)
        stream = self.redis.stream()
        with errors("delete the dead letter"):
            deleted = stream.redis.xdel(stream.dead_key, dead_letter_id)
        if not deleted:
            raise not_found(f"Dead letter {dead_letter_id!r}")

    def _require(self) -> None:
        if not self.redis.configured:
            raise conflict("This server has no Redis (--redis-url): there are no dead letters")


def check_id(entry_id: str) -> str:
    """``entry_id`` when it is a stream entry id (``<ms>-<seq>``).

    Raises:
        ApiError: 422 otherwise.
    """
    if not ENTRY_ID.match(entry_id) or any(int(part) >= 2**64 for part in entry_id.split("-")):
        raise ApiError(422, f"{entry_id!r} is not a dead-letter id (<milliseconds>-<sequence>)")
    return entry_id


__all__ = ["ENTRY_ID", "QueueOps", "check_id"]

"""A task queue on a Redis Stream with a consumer group: at-least-once delivery that never loses a task (D19).

A task record is signed (D20) and added to the stream ``{prefix}:tasks``. Workers read it with a blocking
``XREADGROUP`` (no timer polling); it then stays in the group's pending list, owned by that worker, until the worker
acknowledges it (``XACK`` + ``XDEL``). While a task runs its worker renews the lease (``XCLAIM ... JUSTID`` by the
owner, which resets the idle time). When a worker dies its tasks' idle time grows past ``lease_timeout`` and another
worker reclaims them. A task delivered ``max_deliveries`` times, or whose payload cannot be verified or decoded, is
moved to the dead-letter stream ``{prefix}:dead`` with its reason and original payload. Delayed retries wait in the
sorted set ``{prefix}:delayed`` and are moved into the stream atomically when due. Keys: ``docs/redis-keys.md``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis

from graflow import defaults
from graflow.core.hooks import EngineHook, HookSet
from graflow.distributed import scripts
from graflow.distributed.records import RecordDecodeError, SerializedTaskRecord
from graflow.exceptions import ConfigError
from graflow.security.signing import BadSignatureError, NullSigner, PayloadSigner
from graflow.security.transport import ensure_transport_allowed
from graflow.utils.redis_utils import binary_redis_client

logger = logging.getLogger(__name__)

#: Name of the consumer group every worker of a prefix joins.
GROUP_NAME = "graflow-workers"
#: Approximate length kept in the dead-letter stream (oldest entries are trimmed; live work never is).
DEAD_LETTER_MAXLEN = 100_000
#: Entries moved from the delayed set per promotion call.
PROMOTE_BATCH = 500
#: Entries added per script call by :meth:`RedisStreamQueue.enqueue_many` (bounds how long one call holds Redis).
ENQUEUE_BATCH = 1000

_RECORD_FIELDS = tuple(f.name for f in dataclasses.fields(SerializedTaskRecord))


@dataclass(frozen=True, slots=True)
class Delivery:
    """A task handed to a consumer.

    Attributes:
        entry_id: Stream entry id; pass it to :meth:`RedisStreamQueue.ack`.
        record: The verified and decoded task record.
        deliveries: How many times this task has been handed out, this time included (>= 1).
        wait_seconds: Time from enqueue to this delivery.
    """

    entry_id: str
    record: SerializedTaskRecord
    deliveries: int
    wait_seconds: float

    @property
    def task_id(self) -> str:
        """Id of the task to run."""
        return self.record.task_id


@dataclass(slots=True)
class Finish:
    """What :meth:`RedisStreamQueue.finish_many` writes for one finished delivery.

    Attributes:
        entry_id: The delivery's stream entry.
        task_id: The task (field of its completion in the barrier hash).
        barrier_keys: ``completion_keys(prefix, barrier_id)`` of its barrier, or None when it belongs to none.
        completion: The completion JSON to record in the barrier (ignored without ``barrier_keys``).
        writes: Channel writes made by the task, ``(redis key, encoded value, ttl ms or None)``; they land with the
            completion, in the same atomic step.
    """

    entry_id: str
    task_id: str
    barrier_keys: list[str] | None = None
    completion: str = ""
    writes: list[tuple[str, bytes, int | None]] = field(default_factory=list)


#: :meth:`RedisStreamQueue.finish_many` results.
FINISHED, DUPLICATE, NOT_OWNED = 1, 0, -1


def record_json(record: SerializedTaskRecord, enqueued_at: float | None = None) -> str:
    """The JSON of ``record`` (as ``SerializedTaskRecord.to_json``), optionally with another ``enqueued_at``.

    Built from the fields directly: ``dataclasses.asdict`` deep-copies and dominated the producer's cost per task.
    """
    data = {name: getattr(record, name) for name in _RECORD_FIELDS}
    if enqueued_at is not None:
        data["enqueued_at"] = enqueued_at
    return json.dumps(data, separators=(",", ":"), sort_keys=True)


class RecordEncoder:
    """JSON of many records at one enqueue time, as :func:`record_json` makes it, from a template.

    A group's members differ only in ``task_id`` and ``record_id``; their JSON is a fixed template around those two
    strings, so each record costs two string escapes instead of a full ``json.dumps``.
    """

    _RECORD_ID, _TASK_ID = "\x00record_id\x00", "\x00task_id\x00"

    def __init__(self, enqueued_at: float) -> None:
        self.enqueued_at = enqueued_at
        self._key: tuple[Any, ...] | None = None
        self._parts: tuple[str, str, str] = ("", "", "")

    def __call__(self, record: SerializedTaskRecord) -> str:
        """The JSON of ``record`` stamped with this encoder's enqueue time."""
        trace_context = record.trace_context
        key = (
            record.session_id,
            record.graph_hash,
            record.trace_id,
            record.created_at,
            record.group_id,
            record.parent_span_id,
            record.attempt,
            record.workflow_name,
            None if trace_context is None else tuple(sorted(trace_context.items())),
        )
        if key != self._key:
            template = dataclasses.replace(record, record_id=self._RECORD_ID, task_id=self._TASK_ID)
            text = record_json(template, self.enqueued_at)
            head, rest = text.split(_escape(self._RECORD_ID), 1)
            middle, tail = rest.split(_escape(self._TASK_ID), 1)
            self._key, self._parts = key, (head, middle, tail)
        head, middle, tail = self._parts
        return head + _escape(record.record_id) + middle + _escape(record.task_id) + tail


_escape: Callable[[str], str] = json.encoder.encode_basestring_ascii


def pack_delayed(task_id: str, group_id: str, payload: bytes, prior_deliveries: int) -> bytes:
    """Encode a delayed-set member (layout in :data:`graflow.distributed.scripts.PROMOTE`)."""
    tid, gid = task_id.encode(), group_id.encode()
    return b"%s%010d%06d%s%06d%s%s" % (
        uuid.uuid4().hex.encode(),
        prior_deliveries,
        len(tid),
        tid,
        len(gid),
        gid,
        payload,
    )


def unpack_delayed(member: bytes) -> tuple[str, str, bytes, int]:
    """Decode a delayed-set member into ``(task_id, group_id, payload, prior_deliveries)``."""
    prior, tl = int(member[32:42]), int(member[42:48])
    gl = int(member[48 + tl : 54 + tl])
    gid = member[54 + tl : 54 + tl + gl]
    return member[48 : 48 + tl].decode(), gid.decode(), member[54 + tl + gl :], prior


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def default_signer() -> Any:
    """``PayloadSigner`` for ``GRAFLOW_SECRET_KEY``, or the explicit unsigned mode when no secret is set."""
    return PayloadSigner.from_env() or NullSigner()


class RedisStreamQueue:
    """The Redis Streams task queue shared by producers and workers of one key prefix.

    Args:
        redis_client: A redis-py client (text or bytes mode); payload traffic uses a bytes-mode sibling.
        key_prefix: Prefix of every key (``{prefix}:tasks``, ``{prefix}:dead``, ``{prefix}:delayed``).
        signer: Signs and verifies payloads; defaults to :func:`default_signer`.
        lease_timeout: Seconds a delivered task may go without lease renewal before another worker reclaims it.
        max_deliveries: Deliveries after which an unacknowledged task is dead-lettered instead of handed out again.
        hooks: Hooks that receive the queue events (dequeued, redelivered, dead-lettered, payload rejected, depth).
        dead_maxlen: Approximate number of dead letters kept.

    Raises:
        ConfigError: Unsigned payloads on a non-loopback Redis without ``GRAFLOW_INSECURE`` (D20), or a bad option.
    """

    def __init__(
        self,
        redis_client: redis.Redis,
        key_prefix: str = defaults.REDIS_KEY_PREFIX,
        *,
        signer: Any = None,
        lease_timeout: float = defaults.LEASE_TIMEOUT_SECONDS,
        max_deliveries: int = defaults.MAX_DELIVERIES,
        hooks: HookSet | Iterable[EngineHook] | None = None,
        dead_maxlen: int = DEAD_LETTER_MAXLEN,
    ) -> None:
        if lease_timeout <= 0:
            raise ConfigError(f"lease_timeout must be positive, got {lease_timeout}")
        if max_deliveries < 1:
            raise ConfigError(f"max_deliveries must be at least 1, got {max_deliveries}")
        self.redis: Any = binary_redis_client(redis_client)
        self.key_prefix = key_prefix
        self.signer = signer if signer is not None else default_signer()
        # D20: unsigned payloads only on a loopback Redis, unless the user opted into insecure mode.
        ensure_transport_allowed(redis_client, self.signer)
        self.lease_timeout = float(lease_timeout)
        self.max_deliveries = int(max_deliveries)
        self.dead_maxlen = dead_maxlen
        self.hooks = hooks if isinstance(hooks, HookSet) else HookSet(hooks or ())
        self.stream_key = f"{key_prefix}:tasks"
        self.dead_key = f"{key_prefix}:dead"
        self.delayed_key = f"{key_prefix}:delayed"
        self.group = GROUP_NAME
        r = self.redis
        self._ack = r.register_script(scripts.ACK)
        self._renew = r.register_script(scripts.RENEW)
        self._release = r.register_script(scripts.RELEASE)
        self._dead_letter = r.register_script(scripts.DEAD_LETTER)
        self._reclaim = r.register_script(scripts.RECLAIM)
        self._retry_later = r.register_script(scripts.RETRY_LATER)
        self._promote = r.register_script(scripts.PROMOTE)
        self._enqueue_many = r.register_script(scripts.ENQUEUE_MANY)
        self._finish_many = r.register_script(scripts.FINISH_MANY)
        self._group_ready = False
        #: Called as ``listener(task_id, group_id, reason, detail)`` after a task was dead-lettered; workers use it
        #: to fail the task's group at once instead of leaving its producer waiting. Ids are the entry's hints.
        self.dead_letter_listener: Callable[[str, str | None, str, str], None] | None = None

    # Setup ----------------------------------------------------------------------------------------------------------
    def ensure_group(self) -> None:
        """Create the stream and its consumer group if missing (idempotent; also after a Redis restart)."""
        try:
            # "0" rather than "$": entries added before the group existed must be delivered too.
            self.redis.xgroup_create(self.stream_key, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    def _with_group(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if not self._group_ready:
            self.ensure_group()
        try:
            return fn(*args, **kwargs)
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            self.ensure_group()  # the group vanished (Redis restarted without persistence, or a purge)
            return fn(*args, **kwargs)

    # Producer side ----------------------------------------------------------------------------------------------------
    def encode(self, record: SerializedTaskRecord) -> tuple[SerializedTaskRecord, bytes]:
        """Stamp ``record`` with its enqueue time and return it with its signed payload."""
        record = dataclasses.replace(record, enqueued_at=time.time())
        return record, self.signer.sign(record_json(record).encode())

    def enqueue(self, record: SerializedTaskRecord, *, delay: float | None = None) -> str:
        """Add one task; with ``delay`` seconds it waits in the delayed set first. Returns its entry or member id."""
        return self.enqueue_many([record], delay=delay)[0]

    def enqueue_many(
        self, records: Sequence[SerializedTaskRecord], *, delay: float | None = None, return_ids: bool = True
    ) -> list[str]:
        """Add tasks, :data:`ENQUEUE_BATCH` per round trip. Returns their stream entry ids (or
        ``delayed:<task_id>`` when delayed); with ``return_ids=False`` an empty list (saves reading them back)."""
        if not records:
            return []
        # No consumer group needed here: workers create it from id 0, so entries added before it are delivered
        # too. Producers save that round trip.
        sign = self.signer.sign
        if delay is not None and delay > 0:
            now = time.time()
            encode = RecordEncoder(now)
            pipe = self.redis.pipeline(transaction=False)
            for record in records:
                payload = sign(encode(record).encode())
                member = pack_delayed(record.task_id, record.group_id or "", payload, 0)
                pipe.zadd(self.delayed_key, {member: now + delay})
            pipe.execute()
            return [f"delayed:{r.task_id}" for r in records]
        ids: list[str] = []
        for start in range(0, len(records), ENQUEUE_BATCH):
            encode = RecordEncoder(time.time())
            args: list[Any] = ["1" if return_ids else "0"]
            for record in records[start : start + ENQUEUE_BATCH]:
                args += (record.task_id, record.group_id or "", sign(encode(record).encode()))
            added = self._enqueue_many(keys=[self.stream_key], args=args)
            if return_ids:
                ids += [_text(i) for i in added]
        return ids

    # Consumer side ----------------------------------------------------------------------------------------------------
    def consume(self, consumer: str, count: int = 1, block: float | None = 1.0) -> list[Delivery]:
        """Take up to ``count`` new tasks for ``consumer``, blocking up to ``block`` seconds (None: don't block).

        Payloads that fail verification or decoding are dead-lettered here and never returned.
        """
        block_ms = None if block is None else max(1, int(block * 1000))
        reply = self._with_group(
            self.redis.xreadgroup, self.group, consumer, {self.stream_key: ">"}, count=count, block=block_ms
        )
        out: list[Delivery] = []
        for _stream, entries in reply or ():
            for entry_id, fields in entries:
                prior = int(fields.get(b"n", 0))
                delivery = self._decode(_text(entry_id), fields, prior + 1, consumer)
                if delivery is not None:
                    out.append(delivery)
        return out

    def _decode(self, entry_id: str, fields: dict[bytes, bytes], deliveries: int, consumer: str) -> Delivery | None:
        payload = fields.get(b"p")
        try:
            if payload is None:
                raise RecordDecodeError("stream entry has no payload field 'p'")
            raw = self.signer.verify(payload)
            record = SerializedTaskRecord.from_json(raw.decode())
        except BadSignatureError as exc:
            # D20: anything not signed with our secret is rejected before it is deserialized.
            self._reject(entry_id, "bad_signature", exc.reason, consumer, deliveries)
            return None
        except (RecordDecodeError, UnicodeDecodeError, ValueError) as exc:
            self._reject(entry_id, "undecodable", str(exc), consumer, deliveries)
            return None
        wait = max(0.0, time.time() - record.enqueued_at) if record.enqueued_at else 0.0
        hooks = self.hooks
        if hooks.on_task_dequeued:
            hooks.fire(
                hooks.on_task_dequeued,
                task_id=record.task_id,
                queue=self.stream_key,
                wait_seconds=wait,
                deliveries=deliveries,
            )
        if deliveries > 1 and hooks.on_task_redelivered:
            hooks.fire(hooks.on_task_redelivered, task_id=record.task_id, queue=self.stream_key, deliveries=deliveries)
        return Delivery(entry_id, record, deliveries, wait)

    def _reject(self, entry_id: str, reason: str, detail: str, consumer: str, deliveries: int) -> None:
        logger.warning("Rejected task entry %s on %s: %s (%s)", entry_id, self.stream_key, reason, detail)
        self.hooks.emit("on_payload_rejected", queue=self.stream_key, reason=reason)
        self.dead_letter(entry_id, reason, detail=detail, consumer=consumer, deliveries=deliveries)

    def ack(self, entry_ids: Sequence[str]) -> int:
        """Acknowledge and delete finished entries (idempotent). Returns how many were still pending."""
        if not entry_ids:
            return 0
        return int(self._with_group(self._ack, keys=[self.stream_key], args=[self.group, *entry_ids]))

    def finish_many(self, consumer: str, items: Sequence[Finish], ttl: int = defaults.RESULT_TTL_SECONDS) -> list[int]:
        """Finish deliveries of ``consumer`` in one round trip (:data:`~graflow.distributed.scripts.FINISH_MANY`).

        Each item is applied atomically and only while ``consumer`` still owns its entry: its channel writes, its
        barrier completion (recorded once; the barrier keys live ``ttl`` seconds), then the acknowledgement.

        Returns:
            Per item: :data:`FINISHED`, :data:`DUPLICATE` (its barrier already held the completion; only
            acknowledged) or :data:`NOT_OWNED` (its lease was lost; nothing was written).
        """
        if not items:
            return []
        barriers: dict[str, int] = {}  # completions key -> barrier number; each barrier's keys are sent once
        barrier_keys: list[Any] = []
        write_keys: list[Any] = []
        args: list[Any] = []
        for item in items:
            writes = item.writes
            number = 0
            if item.barrier_keys is not None:
                number = barriers.get(item.barrier_keys[0], 0)
                if not number:
                    number = barriers[item.barrier_keys[0]] = len(barriers) + 1
                    barrier_keys += item.barrier_keys
            args += (item.entry_id, item.task_id, number, (item.completion or "{}") if number else "", len(writes))
            for key, value, ms in writes:
                write_keys.append(key)
                args += (value, "" if ms is None else ms)
        keys = [self.stream_key, *barrier_keys, *write_keys]
        args[:0] = (self.group, consumer, ttl, len(barriers))
        return [int(r) for r in self._with_group(self._finish_many, keys=keys, args=args)]

    def renew(self, consumer: str, entry_ids: Sequence[str]) -> list[str]:
        """Renew the lease of ``consumer``'s running entries. Returns ids it no longer owns (reclaimed elsewhere)."""
        if not entry_ids:
            return []
        lost = self._with_group(self._renew, keys=[self.stream_key], args=[self.group, consumer, *entry_ids])
        return [_text(i) for i in lost]

    def release(self, consumer: str, entry_ids: Sequence[str]) -> int:
        """Give unfinished entries back for prompt redelivery without spending a delivery (used on shutdown)."""
        if not entry_ids:
            return 0
        idle_ms = int(self.lease_timeout * 1000) + 1
        return int(self._release(keys=[self.stream_key], args=[self.group, consumer, idle_ms, *entry_ids]))

    def reclaim(self, consumer: str, count: int = 100) -> list[Delivery]:
        """Claim tasks whose lease expired; dead-letter those past ``max_deliveries``. Returns the claimed ones."""
        claimed, dead = self._with_group(
            self._reclaim,
            keys=[self.stream_key, self.dead_key],
            args=[
                self.group,
                consumer,
                int(self.lease_timeout * 1000),
                self.max_deliveries,
                count,
                time.time(),
                self.dead_maxlen,
            ],
        )
        for _entry_id, task_id, group_id, deliveries in dead:
            logger.error("Task %s dead-lettered after %s deliveries", _text(task_id), deliveries)
            self._notify_dead(
                _text(task_id),
                _text(group_id),
                "max_deliveries",
                f"delivered {deliveries} times without being acknowledged (its worker died or lost its lease)",
            )
        out: list[Delivery] = []
        for entry_id, flat, deliveries in claimed:
            fields = dict(zip(flat[::2], flat[1::2], strict=True))
            delivery = self._decode(_text(entry_id), fields, int(deliveries), consumer)
            if delivery is not None:
                out.append(delivery)
        return out

    def dead_letter(
        self, entry_id: str, reason: str, *, detail: str = "", consumer: str = "", deliveries: int = 0
    ) -> None:
        """Move an entry to the dead-letter stream with ``reason`` and its original payload, atomically."""
        task_id, group_id = self._dead_letter(
            keys=[self.stream_key, self.dead_key],
            args=[self.group, entry_id, reason, detail, consumer, deliveries, time.time(), self.dead_maxlen],
        )
        self._notify_dead(_text(task_id), _text(group_id), reason, detail)

    def _notify_dead(self, task_id: str, group_id: str, reason: str, detail: str) -> None:
        self.hooks.emit("on_task_dead_lettered", task_id=task_id or None, queue=self.stream_key, reason=reason)
        listener = self.dead_letter_listener
        if listener is not None and task_id:
            try:
                listener(task_id, group_id or None, reason, detail)
            except Exception:  # the dead letter is stored; a failing listener must not stop the consumer
                logger.exception("Dead-letter listener failed for task %s", task_id)

    def retry_later(self, delivery: Delivery, delay: float, payload: bytes | None = None) -> None:
        """Park a delivered task in the delayed set for ``delay`` seconds, keeping its delivery count."""
        if payload is None:
            _, payload = self.encode(delivery.record)
        member = pack_delayed(delivery.task_id, delivery.record.group_id or "", payload, delivery.deliveries)
        self._retry_later(
            keys=[self.stream_key, self.delayed_key],
            args=[self.group, delivery.entry_id, time.time() + delay, member],
        )

    def promote_due(self, now: float | None = None) -> float | None:
        """Move due delayed tasks into the stream. Returns the time the next one is due, or None."""
        moved, nxt = self._promote(
            keys=[self.delayed_key, self.stream_key], args=[time.time() if now is None else now, PROMOTE_BATCH]
        )
        if moved and int(moved) >= PROMOTE_BATCH:
            return time.time()  # more are due right now
        return float(nxt) if nxt else None

    # Inspection ---------------------------------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """Number of tasks waiting, running (delivered, not acknowledged), dead-lettered and delayed."""
        if not self._group_ready:
            self.ensure_group()
        pipe = self.redis.pipeline(transaction=False)
        pipe.xlen(self.stream_key)
        pipe.xpending(self.stream_key, self.group)
        pipe.xlen(self.dead_key)
        pipe.zcard(self.delayed_key)
        length, pending, dead, delayed = pipe.execute()
        running = int(pending["pending"]) if pending else 0
        waiting = max(0, int(length) - running)
        self.hooks.emit("on_queue_depth", queue=self.stream_key, depth=waiting)
        return {"waiting": waiting, "running": running, "dead": int(dead), "delayed": int(delayed)}

    def waiting(self, limit: int = 100) -> list[dict[str, Any]]:
        """Tasks not yet handed to any worker, oldest first: ``entry_id``, ``task_id``, ``enqueued_at``."""
        groups = self._with_group(self.redis.xinfo_groups, self.stream_key)
        last = next((_text(g["last-delivered-id"]) for g in groups if _text(g["name"]) == self.group), "0-0")
        entries = self.redis.xrange(self.stream_key, min=f"({last}", count=limit)
        return [
            {"entry_id": _text(i), "task_id": _text(f.get(b"t", b"")), "enqueued_at": int(_text(i).split("-")[0]) / 1e3}
            for i, f in entries
        ]

    def running(self, limit: int = 100) -> list[dict[str, Any]]:
        """Delivered, unacknowledged tasks with ``entry_id``, ``task_id``, ``consumer``, ``idle_seconds`` and
        ``deliveries``."""
        rows = self._with_group(self.redis.xpending_range, self.stream_key, self.group, "-", "+", limit)
        pipe = self.redis.pipeline(transaction=False)
        for row in rows:
            pipe.xrange(self.stream_key, row["message_id"], row["message_id"])
        found = pipe.execute() if rows else []
        out = []
        for row, entry in zip(rows, found, strict=True):
            fields = entry[0][1] if entry else {}
            out.append(
                {
                    "entry_id": _text(row["message_id"]),
                    "task_id": _text(fields.get(b"t", b"")),
                    "consumer": _text(row["consumer"]),
                    "idle_seconds": row["time_since_delivered"] / 1000.0,
                    "deliveries": int(row["times_delivered"]) + int(fields.get(b"n", 0)),
                }
            )
        return out

    def dead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        """Dead-lettered tasks, newest first, with ``reason``, ``detail``, ``task_id``, ``deliveries``, ``payload``."""
        out = []
        for entry_id, fields in self.redis.xrevrange(self.dead_key, count=limit):
            row: dict[str, Any] = {k.decode(): (v if k == b"payload" else _text(v)) for k, v in fields.items()}
            row["dead_letter_id"] = _text(entry_id)
            row["deliveries"] = int(row.get("deliveries") or 0)
            out.append(row)
        return out

    def delayed(self, limit: int = 100) -> list[dict[str, Any]]:
        """Tasks waiting for a delayed retry, soonest first: ``task_id``, ``due_at``, ``deliveries``."""
        out = []
        for member, score in self.redis.zrange(self.delayed_key, 0, limit - 1, withscores=True):
            task_id, group_id, _payload, prior = unpack_delayed(member)
            out.append({"task_id": task_id, "group_id": group_id, "due_at": float(score), "deliveries": prior})
        return out

    def purge(self) -> None:
        """Delete the stream, its group, the dead letters and the delayed set of this prefix."""
        self.redis.delete(self.stream_key, self.dead_key, self.delayed_key)
        self._group_ready = False


__all__ = [
    "DEAD_LETTER_MAXLEN",
    "DUPLICATE",
    "ENQUEUE_BATCH",
    "FINISHED",
    "NOT_OWNED",
    "Finish",
    "RecordEncoder",
    "record_json",
    "default_signer",
    "GROUP_NAME",
    "Delivery",
    "RedisStreamQueue",
    "pack_delayed",
    "unpack_delayed",
]

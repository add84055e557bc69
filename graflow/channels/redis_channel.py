"""The Redis channel: the workflow's key-value store shared by the producer and its workers.

Keys are ``{key_prefix}:channel:{name}:{key}`` (``key_prefix`` defaults to ``graflow``, upstream's fixed prefix).

Values (D13, D20):

* Plain JSON (``None``, ``bool``, ``int``, ``float``, ``str`` and ``list``/``dict`` of them with string keys, exact
  types only) is stored as its JSON text, readable by any client, and comes back equal and of the same types.
* Plain JSON that contains tuples is stored as ``b"GFJ1"`` + JSON with tuples tagged, and comes back with its
  tuples.
* Anything else (objects, exceptions, sets, subclasses such as namedtuples or enums) is pickled and framed by the
  channel's signer (:mod:`graflow.security.signing`): signed with ``GRAFLOW_SECRET_KEY`` (or the ``signer=``
  argument). Without a secret, a loopback Redis gets unsigned frames; any other Redis refuses non-JSON values
  unless ``GRAFLOW_INSECURE=1``. A frame that fails verification raises ``BadSignatureError`` on ``get`` and is
  never unpickled. Bytes that are neither JSON nor a frame read as ``default``, as upstream did.

Lists: ``append``/``prepend`` keep a Redis list (one encoded value per element, RPUSH/LPUSH) and ``get`` reads a
list key back as a Python list, so ``append`` and ``get`` work on one key. Appending to a key that ``set`` stored a
list under first turns it into a Redis list, atomically.

TTL: ``set(..., ttl)`` and ``append(..., ttl)`` set the key's TTL. ``default_ttl`` (D26) gives every key written
without a TTL an expiry: ``set`` applies it, while ``append``/``prepend``/``atomic_add`` apply it only to a key that
has no TTL yet (so they never extend an explicit shorter TTL). ``default_ttl=None`` means no expiry.

Compound operations (``append``, ``prepend``, ``atomic_add``) are single Lua scripts or WATCH/MULTI transactions;
``set_many`` writes several keys in one MULTI.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final

import redis
from redis.exceptions import LockError, ResponseError, WatchError

from graflow.channels.base import Channel
from graflow.core import serialization
from graflow.defaults import REDIS_KEY_PREFIX
from graflow.security.signing import (
    SIGNED_MAGIC,
    UNSIGNED_MAGIC,
    NullSigner,
    PayloadSigner,
    Signer,
    dumps_signed,
    loads_verified,
)
from graflow.security.transport import ensure_transport_allowed, is_loopback
from graflow.utils.redis_utils import binary_redis_client, create_redis_client, extract_redis_config

logger = logging.getLogger(__name__)

TAGGED_JSON_MAGIC: Final = b"GFJ1"
FRAME_PREFIXES: Final = (SIGNED_MAGIC[:3], UNSIGNED_MAGIC[:3])  # any version of a signed or unsigned frame
LOCK_LEASE_SECONDS: Final = 60.0  # a crashed holder's lock frees itself after this long
LOCK_POLL_INTERVAL: Final = 0.01  # redis-py's Lock polls while it waits
SCAN_BATCH: Final = 500
MGET_BATCH: Final = 1000  # keys per MGET in get_many
_INT_RE: Final = re.compile(r"-?[0-9]+")
_TUPLE_TAG: Final = "__tuple__"
_DICT_TAG: Final = "__dict__"
_CONNECTION_KWARGS: Final = frozenset(
    {"url", "password", "username", "socket_timeout", "socket_connect_timeout", "ssl", "unix_socket_path",
     "decode_responses", "max_connections", "health_check_interval", "client_name", "retry_on_timeout"}
)  # fmt: skip

# KEYS[1]; ARGV: RPUSH|LPUSH, encoded value, explicit ttl ms or "", default ttl ms or "".
# Returns the new length, -1 when the key holds a string (the caller converts it), -2 for any other type.
_PUSH_LUA: Final = """
local t = redis.call('TYPE', KEYS[1])['ok']
if t == 'string' then return -1 end
if t ~= 'none' and t ~= 'list' then return -2 end
local n = redis.call(ARGV[1], KEYS[1], ARGV[2])
if ARGV[3] ~= '' then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
elseif ARGV[4] ~= '' and redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
return n
"""

# KEYS[1]; ARGV: amount, "i" (integer amount) or "f", default ttl ms or "".
# Integer amounts use INCRBY so counters stay exact; the reply is the stored text, because Lua numbers are doubles.
# A float on either side uses INCRBYFLOAT, and a whole float result is written back as "N.0" so that get() returns
# a float, as Python's int + float would.
_ADD_LUA: Final = """
local key = KEYS[1]
local r = nil
if ARGV[2] == 'i' then
  r = redis.pcall('INCRBY', key, ARGV[1])
  if type(r) == 'table' and r.err then
    if string.find(r.err, 'not an integer', 1, true) == nil then return r end
    r = nil
  else
    r = redis.call('GET', key)  -- Lua numbers are doubles: read the exact digits back instead
  end
end
if r == nil then
  r = redis.pcall('INCRBYFLOAT', key, ARGV[1])
  if type(r) == 'table' and r.err then return r end
  if not string.find(r, '[%.eEnN]') then
    local pt = redis.call('PTTL', key)
    r = r .. '.0'
    redis.call('SET', key, r)
    if pt > 0 then redis.call('PEXPIRE', key, pt) end
  end
end
if ARGV[3] ~= '' and redis.call('PTTL', key) == -1 then redis.call('PEXPIRE', key, ARGV[3]) end
return r
"""

_held_locks = threading.local()  # lock key -> depth, per thread: the channel lock is re-entrant like MemoryChannel's


# Value codec ----------------------------------------------------------------------------------------------------------
_NOT_JSON, _PLAIN, _TAGGED = 0, 1, 2
_SCALARS: Final = (str, int, float, bool, type(None))


def _json_kind(value: Any, path: set[int]) -> int:
    """Whether ``value`` is plain JSON (exact types), plain JSON with tuples, or neither."""
    kind = type(value)
    if kind in _SCALARS:
        return _PLAIN
    if kind is list or kind is tuple or kind is dict:
        if id(value) in path:  # a cycle: only pickle can keep it
            return _NOT_JSON
        path.add(id(value))
        try:
            result = _TAGGED if kind is tuple else _PLAIN
            if kind is dict:
                for k in value:
                    if type(k) is not str:
                        return _NOT_JSON
                items = value.values()
            else:
                items = value
            for item in items:
                sub = _json_kind(item, path)
                if sub == _NOT_JSON:
                    return _NOT_JSON
                result = max(result, sub)
            if kind is dict and len(value) == 1 and (_TUPLE_TAG in value or _DICT_TAG in value):
                result = _TAGGED  # only the tagged form can tell this dict from a tag
            return result
        finally:
            path.discard(id(value))
    return _NOT_JSON


def _tag(value: Any) -> Any:
    kind = type(value)
    if kind is tuple:
        return {_TUPLE_TAG: [_tag(v) for v in value]}
    if kind is list:
        return [_tag(v) for v in value]
    if kind is dict:
        if len(value) == 1 and (_TUPLE_TAG in value or _DICT_TAG in value):
            return {_DICT_TAG: [[k, _tag(v)] for k, v in value.items()]}
        return {k: _tag(v) for k, v in value.items()}
    return value


def _untag(obj: dict[str, Any]) -> Any:
    # json calls this innermost-first, so nested values are already decoded; an escaped dict is a list of pairs
    # precisely so that its contents are not mistaken for tags on the way up.
    if len(obj) == 1:
        if _TUPLE_TAG in obj and type(obj[_TUPLE_TAG]) is list:
            return tuple(obj[_TUPLE_TAG])
        if _DICT_TAG in obj and type(obj[_DICT_TAG]) is list:
            return {k: v for k, v in obj[_DICT_TAG]}
    return obj


def _dumps_json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _is_wrongtype(error: Exception) -> bool:
    return str(error).startswith("WRONGTYPE")


class RedisChannel(Channel):
    """A channel stored in Redis and shared across processes.

    Args:
        name: The channel name (a workflow run uses its session id).
        redis_client: A redis-py client; ``decode_responses`` may be True or False. Made from ``host``/``port``/
            ``db`` and the connection kwargs (``url``, ``password``, ``username``, ``ssl`` ...) when None.
        host: Redis host when no client is given.
        port: Redis port when no client is given.
        db: Redis database when no client is given.
        **kwargs: ``key_prefix`` (default ``"graflow"``), ``signer`` (a :class:`~graflow.security.signing.Signer`;
            default ``PayloadSigner.from_env()``), ``default_ttl`` (seconds or None, D26), ``lock_lease`` (seconds
            a lock lives if its holder dies, default 60), and connection kwargs. Other keys are ignored, so a whole
            context config can be passed.

    Raises:
        ValueError: ``default_ttl`` or ``lock_lease`` is not a positive number.
        ConfigError: ``GRAFLOW_SECRET_KEY`` is set but too short.
    """

    def __init__(
        self,
        name: str,
        redis_client: Any = None,
        host: str = "localhost",
        port: int = 6379,
        db: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(name)
        self.key_prefix: str = kwargs.get("key_prefix") or REDIS_KEY_PREFIX
        self.default_ttl: float | None = _positive_or_none(kwargs.get("default_ttl"), "default_ttl")
        self.lock_lease: float = _positive_or_none(kwargs.get("lock_lease"), "lock_lease") or LOCK_LEASE_SECONDS
        self._owns_client = redis_client is None
        if redis_client is None:
            conn = {k: v for k, v in kwargs.items() if k in _CONNECTION_KWARGS or k.startswith("ssl_")}
            redis_client = create_redis_client({"host": host, "port": port, "db": db, **conn})
        self.redis_client: Any = redis_client
        self._redis: Any = binary_redis_client(redis_client)
        self._explicit_signer: Signer | None = kwargs.get("signer")
        self._signer: Signer | None = self._explicit_signer or PayloadSigner.from_env()
        if self._signer is None and is_loopback(self._redis):
            self._signer = NullSigner()
        self._push_script = self._redis.register_script(_PUSH_LUA)
        self._add_script = self._redis.register_script(_ADD_LUA)
        self._base = f"{self.key_prefix}:channel:{name}:"

    # Keys and codec ---------------------------------------------------------------------------------------------
    def redis_key(self, key: str) -> str:
        """The Redis key that holds channel key ``key``."""
        return self._base + key

    def _pickle_signer(self) -> Signer:
        if self._signer is None:
            ensure_transport_allowed(self._redis, None)  # raises unless GRAFLOW_INSECURE is set
            self._signer = NullSigner()
        return self._signer

    def _encode(self, value: Any) -> bytes:
        try:
            kind = _json_kind(value, set())
        except RecursionError:
            kind = _NOT_JSON
        if kind == _PLAIN:
            return _dumps_json(value)
        if kind == _TAGGED:
            return TAGGED_JSON_MAGIC + _dumps_json(_tag(value))
        return dumps_signed(value, self._pickle_signer(), serialization.dumps)

    def _decode(self, data: bytes, key: str, default: Any) -> Any:
        if data.startswith(TAGGED_JSON_MAGIC):
            return json.loads(data[len(TAGGED_JSON_MAGIC) :], object_hook=_untag)
        if data.startswith(FRAME_PREFIXES):
            return loads_verified(data, self._pickle_signer())
        try:
            return json.loads(data)
        except ValueError:
            logger.warning("Channel %r key %r holds bytes that are neither JSON nor a Graflow frame", self.name, key)
            return default

    def _ttl_ms(self, ttl: int | float | None) -> int | None:
        if ttl is None:
            return None
        if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not ttl > 0:
            raise ValueError(f"ttl must be a positive number of seconds, got {ttl!r}")
        return max(1, math.ceil(ttl * 1000))

    # Plain key-value operations ---------------------------------------------------------------------------------
    def set(self, key: str, value: Any, ttl: int | float | None = None) -> None:
        """Store ``value`` under ``key``; with ``ttl`` (or else ``default_ttl``) seconds the key expires afterwards.

        Raises:
            ValueError: ``ttl`` is not a positive number.
            ConfigError: ``value`` is not plain JSON, no secret is configured, and Redis is not on loopback.
        """
        ms = self._ttl_ms(ttl if ttl is not None else self.default_ttl)
        self._redis.set(self.redis_key(key), self._encode(value), px=ms)

    def set_many(self, mapping: Mapping[str, Any], ttl: int | float | None = None) -> None:
        """Store several keys in one MULTI transaction: readers see all of them or none."""
        ms = self._ttl_ms(ttl if ttl is not None else self.default_ttl)
        encoded = [(self.redis_key(k), self._encode(v)) for k, v in mapping.items()]
        with self._redis.pipeline(transaction=True) as pipe:
            for rkey, data in encoded:
                pipe.set(rkey, data, px=ms)
            pipe.execute()

    def get(self, key: str, default: Any = None) -> Any:
        """Return the value under ``key`` (a list for a key written by ``append``), or ``default`` when missing.

        Raises:
            BadSignatureError: The stored frame failed verification; nothing was unpickled.
        """
        rkey = self.redis_key(key)
        for _ in range(3):  # a key may change type between the two reads; each retry follows a real change
            try:
                data = self._redis.get(rkey)
            except ResponseError as error:
                if not _is_wrongtype(error):
                    raise
            else:
                return default if data is None else self._decode(data, key, default)
            try:
                items = self._redis.lrange(rkey, 0, -1)
            except ResponseError as error:
                if not _is_wrongtype(error):
                    raise
                continue
            if not items:
                return default
            return [self._decode(item, key, None) for item in items]
        raise TypeError(f"Key '{key}' of channel '{self.name}' holds a Redis type that is neither string nor list")

    def get_many(self, keys: list[str]) -> dict[str, Any]:
        """Values of several keys, ``MGET_BATCH`` per round trip; a missing key maps to None.

        A key that ``MGET`` cannot read as a string (missing, or a list written by ``append``) is read by
        :meth:`get`, so every key comes back as ``get`` would return it.

        Raises:
            BadSignatureError: A stored frame failed verification; nothing was unpickled.
        """
        out: dict[str, Any] = {}
        for start in range(0, len(keys), MGET_BATCH):
            batch = keys[start : start + MGET_BATCH]
            raw = self._redis.mget([self._base + key for key in batch])
            for key, data in zip(batch, raw, strict=True):
                out[key] = self.get(key) if data is None else self._decode(data, key, None)
        return out

    def delete(self, key: str) -> bool:
        """Remove ``key``; return whether it existed."""
        return bool(self._redis.delete(self.redis_key(key)))

    def exists(self, key: str) -> bool:
        """Whether ``key`` holds a value that has not expired."""
        return bool(self._redis.exists(self.redis_key(key)))

    def _scan(self) -> Iterator[bytes]:
        pattern = _glob_escape(self._base) + "*"
        return iter(self._redis.scan_iter(match=pattern, count=SCAN_BATCH))

    def keys(self) -> list[str]:
        """All live keys of this channel, sorted (Redis keeps no insertion order)."""
        cut = len(self._base.encode("utf-8"))
        return sorted({rkey[cut:].decode("utf-8") for rkey in self._scan()})

    def clear(self) -> None:
        """Remove every key of this channel (locks are separate keys and stay)."""
        batch: list[bytes] = []
        for rkey in self._scan():
            batch.append(rkey)
            if len(batch) >= SCAN_BATCH:
                self._redis.delete(*batch)
                batch = []
        if batch:
            self._redis.delete(*batch)

    # Compound operations ----------------------------------------------------------------------------------------
    def _push(self, op: str, key: str, value: Any, ttl: int | float | None) -> int:
        ms = self._ttl_ms(ttl)
        default_ms = self._ttl_ms(self.default_ttl)
        data = self._encode(value)
        rkey = self.redis_key(key)
        args = [op, data, "" if ms is None else ms, "" if default_ms is None else default_ms]
        while True:
            length = int(self._push_script(keys=[rkey], args=args))
            if length >= 0:
                return length
            if length == -2:
                raise TypeError(f"Cannot {_op_name(op)} to key '{key}' of channel '{self.name}': it is not a list")
            converted = self._convert_and_push(op, key, data, ms, default_ms)
            if converted is not None:
                return converted

    def _convert_and_push(self, op: str, key: str, data: bytes, ms: int | None, default_ms: int | None) -> int | None:
        """Turn a string key that holds a JSON list into a Redis list plus ``data``; None if the key changed type."""
        rkey = self.redis_key(key)
        with self._redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(rkey)
                    if pipe.type(rkey) != b"string":
                        return None
                    current = self._decode(pipe.get(rkey), key, None)
                    if not isinstance(current, list):
                        raise TypeError(
                            f"Cannot {_op_name(op)} to key '{key}' of channel '{self.name}': it holds a "
                            f"{type(current).__name__}, not a list"
                        )
                    remaining = pipe.pttl(rkey)
                    items = [self._encode(item) for item in current]
                    items = [*items, data] if op == "RPUSH" else [data, *items]
                    pipe.multi()
                    pipe.delete(rkey)
                    pipe.rpush(rkey, *items)
                    expiry = ms if ms is not None else (remaining if remaining > 0 else default_ms)
                    if expiry is not None:
                        pipe.pexpire(rkey, expiry)
                    pipe.execute()
                    return len(items)
                except WatchError:
                    continue

    def append(self, key: str, value: Any, ttl: int | float | None = None) -> int:
        """Append ``value`` to the list under ``key`` (created when missing); return the new length.

        With ``ttl`` the key's TTL is set; without it an existing TTL is kept.

        Raises:
            TypeError: The key holds a value that is not a list.
            ValueError: ``ttl`` is not a positive number.
        """
        return self._push("RPUSH", key, value, ttl)

    def prepend(self, key: str, value: Any, ttl: int | float | None = None) -> int:
        """Insert ``value`` at the front of the list under ``key`` (created when missing); return the new length.

        Raises:
            TypeError: The key holds a value that is not a list.
            ValueError: ``ttl`` is not a positive number.
        """
        return self._push("LPUSH", key, value, ttl)

    def atomic_add(self, key: str, amount: int | float = 1) -> int | float:
        """Add ``amount`` to the number under ``key`` atomically (missing counts as 0); return the new value.

        Integers stay exact (INCRBY); with a float on either side the result is a float (INCRBYFLOAT).
        The key's TTL is kept.

        Raises:
            TypeError: ``amount`` or the stored value is not an int or float (bools are not numbers).
        """
        if isinstance(amount, bool) or not isinstance(amount, (int, float)):
            raise TypeError(f"atomic_add amount must be an int or float, got {type(amount).__name__}")
        default_ms = self._ttl_ms(self.default_ttl)
        args = [repr(amount), "i" if isinstance(amount, int) else "f", "" if default_ms is None else default_ms]
        try:
            result = self._add_script(keys=[self.redis_key(key)], args=args)
        except ResponseError as error:
            raise TypeError(
                f"Cannot atomic_add to key '{key}' of channel '{self.name}': it does not hold a number ({error})"
            ) from error
        text = result.decode("ascii") if isinstance(result, bytes) else str(result)
        return int(text) if _INT_RE.fullmatch(text) else float(text)

    @contextmanager
    def lock(self, key: str, timeout: float = 10.0) -> Iterator[None]:
        """Hold the advisory, re-entrant (per thread) lock of ``key`` across processes.

        The lock lives in ``{key_prefix}:channel_lock:{name}:{key}`` and expires after ``lock_lease`` seconds if
        its holder dies without releasing it.

        Raises:
            TimeoutError: The lock could not be taken within ``timeout`` seconds.
        """
        lock_key = f"{self.key_prefix}:channel_lock:{self.name}:{key}"
        held: dict[str, int] = _held_locks.__dict__.setdefault("depth", {})
        if held.get(lock_key):
            held[lock_key] += 1
            try:
                yield
            finally:
                held[lock_key] -= 1
            return
        redis_lock = self._redis.lock(lock_key, timeout=self.lock_lease, sleep=LOCK_POLL_INTERVAL)
        blocking = timeout > 0
        if not redis_lock.acquire(blocking=blocking, blocking_timeout=timeout if blocking else None):
            raise TimeoutError(f"Could not acquire lock on key '{key}' of channel '{self.name}' within {timeout}s")
        held[lock_key] = 1
        try:
            yield
        finally:
            del held[lock_key]
            try:
                redis_lock.release()
            except LockError:
                logger.warning(
                    "Lock on key %r of channel %r expired after %ss before it was released; another holder may "
                    "have run concurrently",
                    key,
                    self.name,
                    self.lock_lease,
                )

    # Connection -------------------------------------------------------------------------------------------------
    def ping(self) -> bool:
        """Whether Redis answers."""
        try:
            return bool(self._redis.ping())
        except redis.RedisError:
            return False

    def close(self) -> None:
        """Release the connection of a client this channel created; a client passed in stays open."""
        if self._owns_client:
            self.redis_client.close()

    # Pickling: clients and secrets never travel --------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        """Connection parameters instead of the client; the signer is rebuilt from the environment on load."""
        return {
            "name": self.name,
            "key_prefix": self.key_prefix,
            "default_ttl": self.default_ttl,
            "lock_lease": self.lock_lease,
            "redis_config": extract_redis_config(self.redis_client),
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Reconnect with the pickled parameters."""
        self.__init__(  # type: ignore[misc]
            state["name"],
            redis_client=create_redis_client(state["redis_config"]),
            key_prefix=state["key_prefix"],
            default_ttl=state["default_ttl"],
            lock_lease=state["lock_lease"],
        )
        self._owns_client = True

    def __repr__(self) -> str:
        return f"RedisChannel(name={self.name!r}, key_prefix={self.key_prefix!r})"


def _op_name(op: str) -> str:
    """``append`` for RPUSH, ``prepend`` for LPUSH (for messages)."""
    return "append" if op == "RPUSH" else "prepend"


def _glob_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)


def _positive_or_none(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{what} must be a positive number of seconds or None, got {value!r}")
    return float(value)


__all__ = ["RedisChannel"]

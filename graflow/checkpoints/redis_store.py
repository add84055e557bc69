"""Checkpoint store in Redis (``pip install graflow[redis]``).

Location syntax: ``redis://[user:password@]host[:port]/<db>/<base>[?prefix=<p>&ttl=<s>]`` (``rediss://`` for TLS).
The first path segment is the database number when it is all digits; the rest is the base name, e.g.
``redis://127.0.0.1:6379/0/checkpoints/run42/nightly``. A trailing checkpoint suffix (``.pkl``) is stripped.

Keys (``<prefix>`` defaults to ``graflow``):

``<prefix>:checkpoint:<base>``
    a hash with one field per file: ``pkl``, ``state.json``, ``meta.json`` and, when the channel was snapshotted,
    ``channel.pkl``. The raw bytes are exactly those of the filesystem files.
``<prefix>:checkpoints``
    a sorted set indexing every base, scored by the unix time of its last write; ``list`` reads it.

A write replaces the hash and updates the index in one ``MULTI``/``EXEC`` transaction, so readers see the old set or
the new one, never a mix. Keys do not expire unless ``ttl`` is given.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode, urlsplit

import redis

from graflow.core.checkpoint_format import CHANNEL, META, REQUIRED, strip_suffix
from graflow.core.checkpoint_store import CheckpointError, CheckpointStore
from graflow.defaults import REDIS_KEY_PREFIX
from graflow.utils.redis_utils import redis_from_url


def _field(suffix: str) -> str:
    return suffix.lstrip(".")


class RedisCheckpointStore(CheckpointStore):
    """Checkpoint sets as Redis hashes.

    Args:
        client: A ``redis.Redis`` client; responses must not be decoded.
        prefix: Key prefix (one per deployment or per test).
        ttl: Seconds after which a written checkpoint expires; None keeps it until deleted.
        url: The connection URL used to name locations (``redis://host:port/db``).
        query: Extra query parameters kept in location strings.
    """

    scheme = "redis"

    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str = REDIS_KEY_PREFIX,
        ttl: int | None = None,
        url: str = "redis://localhost:6379/0",
        query: Mapping[str, str] | None = None,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl = ttl
        self.url = url.rstrip("/")
        self._query = dict(query or {})
        self.index_key = f"{prefix}:checkpoints"

    @classmethod
    def from_location(cls, location: str) -> tuple[RedisCheckpointStore, str]:
        """Parse ``redis://host:port/<db>/<base>?prefix=..&ttl=..`` into a store and a base."""
        parts = urlsplit(location)
        if not parts.hostname:
            raise CheckpointError("location", "a Redis checkpoint location needs a host", location=location)
        head, _, rest = parts.path.lstrip("/").partition("/")
        db, base = (head, rest) if head.isdigit() else ("0", parts.path.lstrip("/"))
        query = dict(parse_qsl(parts.query))
        prefix = query.pop("prefix", REDIS_KEY_PREFIX)
        ttl_text = query.pop("ttl", None)
        try:
            ttl = int(ttl_text) if ttl_text else None
        except ValueError as exc:
            raise CheckpointError(
                "location", f"ttl must be whole seconds, got {ttl_text!r}", location=location
            ) from exc
        url = f"{parts.scheme}://{parts.netloc}/{db}"
        client = redis_from_url(f"{url}?{urlencode(query)}" if query else url)  # one shared pool per URL (D21)
        extra = dict(query)
        if prefix != REDIS_KEY_PREFIX:
            extra["prefix"] = prefix
        if ttl is not None:
            extra["ttl"] = str(ttl)
        return cls(client, prefix=prefix, ttl=ttl, url=url, query=extra), strip_suffix(base)

    def _key(self, base: str) -> str:
        return f"{self.prefix}:checkpoint:{base}"

    def write(self, base: str, files: Mapping[str, bytes]) -> None:
        """Replace the set of ``base`` and index it, in one transaction."""
        if META not in files:
            raise ValueError("a checkpoint set needs a .meta.json entry (its commit marker)")
        mapping = {_field(suffix): bytes(files[suffix]) for suffix in files}  # produce every blob before MULTI
        key = self._key(base)
        try:
            pipe = self.client.pipeline(transaction=True)
            pipe.delete(key)
            pipe.hset(key, mapping=mapping)  # type: ignore[arg-type]
            if self.ttl is not None:
                pipe.expire(key, self.ttl)
            pipe.zadd(self.index_key, {base: time.time()})
            pipe.execute()
        except redis.RedisError as exc:
            raise CheckpointError("write", f"Redis error: {exc}", location=self.location(base), cause=exc) from exc

    def read(self, base: str, suffixes: Iterable[str] | None = None) -> dict[str, bytes]:
        """The blobs of ``base`` that exist."""
        wanted = list(suffixes) if suffixes is not None else [*REQUIRED, CHANNEL]
        values = cast("list[Any]", self.client.hmget(self._key(base), [_field(s) for s in wanted]))
        return {suffix: bytes(value) for suffix, value in zip(wanted, values, strict=True) if value is not None}

    def list(self, prefix: str = "") -> list[str]:
        """Committed bases under the ``/``-separated directory ``prefix``; expired ones are dropped from the index."""
        raw = cast("list[Any]", self.client.zrange(self.index_key, 0, -1))
        names = [m.decode() if isinstance(m, bytes) else str(m) for m in raw]
        under = prefix.rstrip("/") + "/" if prefix else ""
        candidates = [n for n in names if n.startswith(under)]
        if not candidates:
            return []
        pipe = self.client.pipeline(transaction=False)
        for name in candidates:
            pipe.hexists(self._key(name), _field(META))
        present = pipe.execute()
        gone = [n for n, ok in zip(candidates, present, strict=True) if not ok]
        if gone:
            self.client.zrem(self.index_key, *gone)
        return sorted(n for n, ok in zip(candidates, present, strict=True) if ok)

    def delete(self, base: str) -> bool:
        """Remove the set and its index entry atomically."""
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(self._key(base))
        pipe.zrem(self.index_key, base)
        deleted, _ = pipe.execute()
        return bool(deleted)

    def location(self, base: str, suffix: str = "") -> str:
        """``redis://host:port/db/<base><suffix>`` plus the prefix/ttl query when not default."""
        tail = f"?{urlencode(self._query)}" if self._query else ""
        return f"{self.url}/{base}{suffix}{tail}"


__all__ = ["RedisCheckpointStore"]

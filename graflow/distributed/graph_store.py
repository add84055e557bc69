"""Content-addressed store of pickled task graphs in Redis, shared by a producer and its workers.

``save`` pickles the graph (cloudpickle), names it by the sha256 of the pickled bytes, compresses it (zlib level 3),
frames it with the signer (D20) and writes ``{prefix}:graph:{hash}`` with ``SET NX EX ttl``. Saving a graph that is
already stored only refreshes its TTL, and so does every ``load``: a graph is kept while a run uses it (D26).

``load`` verifies the signature, then the content hash, and only then unpickles. Each ``load`` returns a new graph
object, so concurrent tasks of one worker never share mutable graph state; the local LRU cache holds verified
pickled bytes, not objects.

Clients made with ``decode_responses=True`` work: the store talks to Redis through a bytes client on the same
connection parameters (redis-py 5 to 8, D21).
"""

from __future__ import annotations

import hashlib
import re
import threading
import zlib
from collections import OrderedDict
from typing import Any, Final

from graflow.core import serialization
from graflow.defaults import GRAPH_CACHE_SIZE, GRAPH_TTL_SECONDS
from graflow.exceptions import GraflowError
from graflow.security.signing import NullSigner, PayloadSigner, Signer
from graflow.security.transport import ensure_transport_allowed
from graflow.utils.redis_utils import binary_redis_client

# Level 3 compresses a large graph about three times faster than level 6, to a blob only a few percent larger.
COMPRESSION_LEVEL: Final = 3
_HASH_RE: Final = re.compile(r"[0-9a-f]{64}")


class GraphNotFoundError(GraflowError):
    """No graph is stored under a hash (never saved, expired, or not a sha256 hex digest).

    Attributes:
        graph_hash: The hash that was asked for.
        key: The Redis key that was read.
    """

    def __init__(self, graph_hash: str, key: str, detail: str = "it was never saved or its TTL expired") -> None:
        self.graph_hash = graph_hash
        self.key = key
        super().__init__(f"Graph {graph_hash!r} not found at Redis key {key!r}: {detail}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.graph_hash, self.key))


class GraphIntegrityError(GraflowError):
    """A graph blob passed signature verification but does not decompress to bytes with its own hash.

    Attributes:
        graph_hash: The hash that was asked for.
        key: The Redis key that was read.
    """

    def __init__(self, graph_hash: str, key: str, detail: str) -> None:
        self.graph_hash = graph_hash
        self.key = key
        super().__init__(f"Graph blob at Redis key {key!r} is corrupt: {detail}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.graph_hash, self.key, str(self.message)))


class GraphStore:
    """Save and load task graphs by content hash.

    Args:
        redis_client: A redis-py client (``decode_responses`` True or False). Exposed as ``.redis``.
        key_prefix: Prefix of the graph keys (``{key_prefix}:graph:{hash}``).
        ttl: Seconds a stored graph lives after its last save or load.
        cache_size: Entries of the local LRU cache of verified pickled graphs (0 disables it).
        signer: Frames the blobs; default ``PayloadSigner.from_env()``, else unsigned frames on a loopback Redis
            (or with ``GRAFLOW_INSECURE=1``).

    Raises:
        ConfigError: No secret is configured and Redis is not on loopback (and ``GRAFLOW_INSECURE`` is not set),
            or ``GRAFLOW_SECRET_KEY`` is too short.
    """

    def __init__(
        self,
        redis_client: Any,
        key_prefix: str,
        ttl: int = GRAPH_TTL_SECONDS,
        cache_size: int = GRAPH_CACHE_SIZE,
        signer: Signer | None = None,
    ) -> None:
        if ttl <= 0:
            raise ValueError(f"ttl must be a positive number of seconds, got {ttl!r}")
        self.redis = redis_client
        self.key_prefix = key_prefix
        self.ttl = int(ttl)
        self.cache_size = max(0, int(cache_size))
        self._bin: Any = binary_redis_client(redis_client)
        resolved = signer if signer is not None else PayloadSigner.from_env()
        if resolved is None:
            ensure_transport_allowed(self._bin, None)
            resolved = NullSigner()
        self.signer: Signer = resolved
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def key(self, graph_hash: str) -> str:
        """The Redis key of ``graph_hash``."""
        return f"{self.key_prefix}:graph:{graph_hash}"

    # Cache -------------------------------------------------------------------------------------------------------
    def _cache_get(self, graph_hash: str) -> bytes | None:
        with self._lock:
            data = self._cache.get(graph_hash)
            if data is not None:
                self._cache.move_to_end(graph_hash)
            return data

    def _cache_put(self, graph_hash: str, data: bytes) -> None:
        if not self.cache_size:
            return
        with self._lock:
            self._cache[graph_hash] = data
            self._cache.move_to_end(graph_hash)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)

    # Save / load ---------------------------------------------------------------------------------------------------
    def save(self, graph: Any) -> str:
        """Store ``graph`` (if not stored yet) and return its sha256 hex content hash.

        The TTL of the stored blob is refreshed either way.
        """
        data = serialization.dumps(graph)
        graph_hash = hashlib.sha256(data).hexdigest()
        key = self.key(graph_hash)
        # One round trip when the graph is already stored: refreshing the TTL tells whether it exists.
        if not self._bin.expire(key, self.ttl):
            blob = self.signer.sign(zlib.compress(data, COMPRESSION_LEVEL))
            with self._bin.pipeline(transaction=True) as pipe:
                pipe.set(key, blob, nx=True, ex=self.ttl)
                pipe.expire(key, self.ttl)  # another producer may have won the NX race; keep its copy alive too
                pipe.execute()
        self._cache_put(graph_hash, data)
        return graph_hash

    def load(self, graph_hash: str) -> Any:
        """Return a new graph object for ``graph_hash``, verified before it is unpickled.

        Raises:
            GraphNotFoundError: Nothing is stored under the hash (or it is not a sha256 hex digest).
            BadSignatureError: The blob's signature does not verify; nothing was unpickled.
            GraphIntegrityError: The verified blob does not decompress to bytes with this hash.
        """
        key = self.key(graph_hash)
        if not isinstance(graph_hash, str) or not _HASH_RE.fullmatch(graph_hash):
            raise GraphNotFoundError(str(graph_hash), key, "it is not a sha256 hex digest")
        data = self._cache_get(graph_hash)
        if data is None:
            with self._bin.pipeline(transaction=False) as pipe:
                pipe.get(key)
                pipe.expire(key, self.ttl)
                blob, _ = pipe.execute()
            if blob is None:
                raise GraphNotFoundError(graph_hash, key)
            data = self._unpack(graph_hash, key, blob)
            self._cache_put(graph_hash, data)
        else:
            self._bin.expire(key, self.ttl)
        return serialization.loads(data)

    def _unpack(self, graph_hash: str, key: str, blob: bytes) -> bytes:
        compressed = self.signer.verify(blob)
        try:
            data = zlib.decompress(compressed)
        except zlib.error as error:
            raise GraphIntegrityError(graph_hash, key, f"zlib could not decompress it ({error})") from error
        actual = hashlib.sha256(data).hexdigest()
        if actual != graph_hash:
            raise GraphIntegrityError(graph_hash, key, f"its content hashes to {actual}")
        return data

    def touch(self, graph_hash: str) -> bool:
        """Refresh the TTL of a stored graph (call it while a long run still needs the graph); False if missing."""
        return bool(self._bin.expire(self.key(graph_hash), self.ttl))

    def delete(self, graph_hash: str) -> bool:
        """Remove a stored graph and its cache entry; return whether Redis held it."""
        with self._lock:
            self._cache.pop(graph_hash, None)
        return bool(self._bin.delete(self.key(graph_hash)))

    def clear_cache(self) -> None:
        """Forget the local cache (the Redis copies stay)."""
        with self._lock:
            self._cache.clear()


__all__ = ["COMPRESSION_LEVEL", "GraphIntegrityError", "GraphNotFoundError", "GraphStore"]
